"""Glue for service tests: the real ProxmoxClient over the in-process simulator, and a sim-driven clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxlb.api.client import ProxmoxClient
from proxlb.config.model import ProxlbConfig
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import load_scenario
from proxlb_sim.testing import VirtualTimeClock, inprocess_client

SCENARIOS = Path(__file__).parent / "scenarios"


SimClock = VirtualTimeClock


def sim(name: str) -> tuple[SimCluster, InProcessApi]:
    cluster = SimCluster.from_scenario(load_scenario(SCENARIOS / name), time_scale=0)
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
