"""Performance figures of the simulator for `make bench` (no assertions here; not part of any package).

`measure()` generates a cluster, serves it over HTTPS on a free port and times real requests with a
keep-alive `requests` session: a small GET, `/cluster/resources` (full and `type=vm`), a node's qemu
list and a guest's rrddata, and `/cluster/resources` right after a state change (nothing cached).
Returns milliseconds (median and max over `repeat` calls).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import requests

from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.launch import start_simulator
from proxlb_sim.scenario import parse_scenario


def _time(
    session: requests.Session, url: str, repeat: int, ca_file: str, before: Callable[[], None] | None = None
) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        response = session.get(url, timeout=30, verify=ca_file)  # env CA bundles override session.verify
        response.raise_for_status()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(samples), 2), "max_ms": round(max(samples), 2)}


def measure(nodes: int = 32, guests: int = 4000, repeat: int = 20, seed: int = 0) -> dict[str, Any]:
    """Time typical requests against a generated `nodes` × `guests` cluster over HTTPS."""
    started = time.perf_counter()
    scenario = parse_scenario(generate_scenario(GenerateOptions(nodes=nodes, guests=guests, seed=seed)))
    load_s = time.perf_counter() - started
    server, info = start_simulator(scenario, time_scale=1.0, seed=seed)
    server.start()
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"PVEAPIToken={info.token}"
        base = f"{info.url}/api2/json"
        vmid = next(iter(info.cluster.guests))
        node = info.cluster.guests[vmid].node
        results: dict[str, Any] = {"nodes": nodes, "guests": guests, "scenario_load_s": round(load_s, 3)}
        paths = {
            "version": "/version",
            "cluster_resources": "/cluster/resources",
            "cluster_resources_vm": "/cluster/resources?type=vm",
            "node_qemu_list": f"/nodes/{node}/qemu",
            "guest_rrddata_hour": f"/nodes/{node}/qemu/{vmid}/rrddata?timeframe=hour&cf=AVERAGE",
            "node_rrddata_hour": f"/nodes/{node}/rrddata?timeframe=hour",
        }
        for name, path in paths.items():
            results[name] = _time(session, base + path, repeat, info.ca_file)
        # cold: the state changed just before (as after a migration step), so nothing is cached
        results["cluster_resources_cold"] = _time(
            session, base + "/cluster/resources", repeat, info.ca_file, before=info.cluster.bump
        )
        return results
    finally:
        server.stop()
