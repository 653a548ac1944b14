"""Glue for service tests: the real ProxmoxClient over the in-process simulator, and a sim-driven clock."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from proxlb.api.client import ProxmoxClient
from proxlb.api.settings import ApiSettings, Endpoint
from proxlb.config.model import ProxlbConfig
from proxlb.sim.cluster import SimCluster
from proxlb.sim.inprocess import InProcessApi
from proxlb.sim.scenario import load_scenario

SCENARIOS = Path(__file__).parent / "scenarios"


class SimClock:
    """Executor/daemon clock on the simulator's virtual time: sleeping advances the simulation."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.slept = 0.0
        self.hooks: list[Any] = []

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


def sim(name: str) -> tuple[SimCluster, InProcessApi]:
    cluster = SimCluster.from_scenario(load_scenario(SCENARIOS / name), time_scale=0)
    return cluster, InProcessApi(cluster)


def client_for(api: InProcessApi) -> ProxmoxClient:
    class T:
        def request(self, method: str, path: str, params: dict[str, Any]) -> Any:
            return api.get(path, **params) if method == "GET" else api.post(path, **params)

    settings = ApiSettings(endpoints=(Endpoint("sim"),), user="root@pam", token_id="t", token_secret="s")
    return ProxmoxClient(settings, transport_factory=lambda e, s: T())


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
