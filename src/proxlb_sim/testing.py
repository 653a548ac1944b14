"""Test and benchmark helpers (not shipped in the Debian package, see docs/dependencies.md): run the
HTTPS simulator in a thread for the duration of a `with`, drive ProxLB on the virtual clock, build a
ProxLB config for a simulator.

    with running_simulator("demo", time_scale=100.0) as sim:
        ProxmoxAPI(sim.host, port=sim.port, user=sim.user, token_name=sim.token_id,
                   token_value=sim.token_secret, verify_ssl=sim.ca_file)
        sim.admin.writes()  # requests that changed something

Binds 127.0.0.1 on a free port; shuts down cleanly (socket closed, TLS files removed) on exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from proxlb.api.client import ProxmoxClient
from proxlb.api.settings import ApiSettings, Endpoint
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.launch import SimInfo, start_simulator
from proxlb_sim.scenario import Scenario

__all__ = [
    "SimInfo",
    "VirtualTimeClock",
    "inprocess_client",
    "proxlb_config_for",
    "running_simulator",
    "start_simulator",
]


@contextmanager
def running_simulator(
    scenario: Scenario | Path | str,
    time_scale: float = 100.0,
    seed: int = 0,
    faults: list[dict[str, Any]] | None = None,
    sim_overrides: dict[str, Any] | None = None,
    host: str = "127.0.0.1",
) -> Iterator[SimInfo]:
    """Serve `scenario` (path, bundled name or Scenario) over HTTPS in a thread; yields `SimInfo`.

    `faults` are fault objects as in the scenario's `faults:`; `sim_overrides` replaces `sim:` keys;
    `host` may be an IPv6 address (`::1`, or `::` for both families).
    """
    server, info = start_simulator(
        scenario, time_scale=time_scale, seed=seed, host=host, faults=faults, sim_overrides=sim_overrides
    )
    server.start()
    try:
        yield info
    finally:
        server.stop()


class VirtualTimeClock:
    """An executor/daemon clock on the simulator's virtual time: sleeping advances the simulation.

    With it, an in-process run measures simulated seconds exactly (no real-time polling latency),
    and a test of an hour-long evacuation takes milliseconds. `hooks` run after each sleep.
    """

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.slept = 0.0
        self.hooks: list[Callable[[VirtualTimeClock], None]] = []

    def now(self) -> float:
        return float(self.cluster.clock.now())

    def sleep(self, seconds: float, stop_event: threading.Event) -> bool:
        if stop_event.is_set():
            return True
        step = max(seconds, 0.01)
        self.slept += step
        self.cluster.clock.advance(step)
        for hook in list(self.hooks):
            hook(self)
        return stop_event.is_set()


def inprocess_client(api: InProcessApi) -> ProxmoxClient:
    """The real `ProxmoxClient` (failover, retries, task following) over the in-process API."""

    class _Transport:
        def request(self, method: str, path: str, params: dict[str, Any]) -> Any:
            return api.get(path, **params) if method == "GET" else api.post(path, **params)

    settings = ApiSettings(endpoints=(Endpoint("sim"),), user="root@pam", token_id="t", token_secret="s")
    return ProxmoxClient(settings, transport_factory=lambda endpoint, s: _Transport())


def proxlb_config_for(sim: SimInfo, state_dir: str | Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A ProxLB config (upstream format) for this simulator: token auth, TLS verified with its CA.

    `sections` are merged into the defaults, e.g. `balancing={"method": "combined"}`.
    """
    doc: dict[str, Any] = {
        "proxmox_api": {
            "hosts": [f"{sim.host}:{sim.port}"],
            "user": sim.user,
            "token_id": sim.token_id,
            "token_secret": sim.token_secret,
            "ssl_verification": True,
            "ca_file": sim.ca_file,
            "timeout": 10,
        },
        "balancing": {"enable": True, "balance_types": ["vm", "ct"], "parallel": True, "parallel_jobs": 4},
        "service": {"daemon": False, "state_dir": str(state_dir)},
    }
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    return doc
