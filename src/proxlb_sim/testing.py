"""Test helper for every module: run the HTTPS simulator in a thread for the duration of a `with`.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxlb.api.client import ProxmoxClient
from proxlb.api.settings import ApiSettings, Endpoint
from proxlb_sim.admin import SimAdmin
from proxlb_sim.auth import DEFAULT_PASSWORD, DEFAULT_TOKEN_ID, DEFAULT_TOKEN_SECRET, DEFAULT_USER
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import Scenario, SimSettings, load_scenario
from proxlb_sim.server import SimServer


@dataclass(frozen=True)
class SimInfo:
    """How to reach a running simulator, plus its admin operations and state."""

    url: str
    host: str
    port: int
    ca_file: str
    user: str
    password: str
    token_id: str
    token_secret: str
    admin: SimAdmin
    cluster: SimCluster

    @property
    def token(self) -> str:
        """`user@realm!tokenid=secret`, the value after `PVEAPIToken=`."""
        return f"{self.user}!{self.token_id}={self.token_secret}"

    def ready_line(self) -> dict[str, Any]:
        """The JSON object `proxlb-sim serve` prints when ready."""
        return {
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "ca_file": self.ca_file,
            "user": self.user,
            "password": self.password,
            "token": self.token,
        }


def start_simulator(
    scenario: Scenario | Path | str,
    time_scale: float = 100.0,
    seed: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: list[dict[str, Any]] | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    sim_overrides: dict[str, Any] | None = None,
    state_dir: Path | None = None,
) -> tuple[SimServer, SimInfo]:
    """Build the cluster, bind the server (not yet serving) and describe it.

    `sim_overrides` replaces keys of the scenario's `sim:` section, e.g. `{"noise": 0, "drift": 0}` for
    metrics that do not move between two runs.
    """
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if sim_overrides:
        settings = SimSettings.model_validate({**loaded.sim.model_dump(), **sim_overrides})
        loaded = loaded.model_copy(update={"sim": settings})
    cluster = SimCluster.from_scenario(loaded, seed=seed, time_scale=time_scale)
    server = SimServer(
        cluster, host=host, port=port, cert_file=cert_file, key_file=key_file, state_dir=state_dir
    )
    for spec in faults or ():
        server.admin.add_fault(spec)
    info = SimInfo(
        url=server.url,
        host=server.host,
        port=server.port,
        ca_file=str(server.tls.ca_file),
        user=DEFAULT_USER,
        password=DEFAULT_PASSWORD,
        token_id=DEFAULT_TOKEN_ID,
        token_secret=DEFAULT_TOKEN_SECRET,
        admin=server.admin,
        cluster=cluster,
    )
    return server, info


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
