"""Glue for service tests: the real ProxmoxClient over the in-process simulator, and a sim-driven clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxlb.api.client import ProxmoxClient
from proxlb.config.model import ProxlbConfig
from proxlb_sim.cluster import SimCluster
from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import load_scenario, parse_scenario
from proxlb_sim.testing import VirtualTimeClock, inprocess_client

SCENARIOS = Path(__file__).parent / "scenarios"


SimClock = VirtualTimeClock


def sim(name: str) -> tuple[SimCluster, InProcessApi]:
    cluster = SimCluster.from_scenario(load_scenario(SCENARIOS / name), time_scale=0)
    return cluster, InProcessApi(cluster)


def generated(
    nodes: int = 8, guests: int = 160, shared_only: bool = False
) -> tuple[SimCluster, InProcessApi]:
    """A generated cluster (seed 7, skew 0.6) at a fixed virtual start, so its metric noise does not
    follow the wall clock; `shared_only`: every disk on the shared Ceph pool, no passthrough."""
    doc = generate_scenario(GenerateOptions(nodes=nodes, guests=guests, seed=7, skew=0.6))
    if shared_only:
        for cfg in doc["guest_config"].values():
            for key in list(cfg):
                if isinstance(cfg[key], str) and "local-lvm:" in cfg[key]:
                    cfg[key] = cfg[key].replace("local-lvm:", "ceph-rbd:")
                if key.startswith(("hostpci", "usb")):
                    del cfg[key]
    scn = parse_scenario(doc)
    scn = scn.model_copy(update={"sim": scn.sim.model_copy(update={"start_time": 1.8e9})})
    cluster = SimCluster.from_scenario(scn, seed=0, time_scale=0)
    return cluster, InProcessApi(cluster)


def client_for(api: InProcessApi) -> ProxmoxClient:
    return inprocess_client(api)


def config(**sections: Any) -> ProxlbConfig:
    raw: dict[str, Any] = {
        "proxmox_api": {"hosts": ["sim"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
        "balancing": {"enable": True, "balance_types": ["vm", "ct"]},
        "service": {"daemon": False},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return ProxlbConfig.model_validate(raw)


def writes(api: InProcessApi) -> list[tuple[str, str, dict[str, Any]]]:
    return [c for c in api.calls if c[0] != "GET"]
