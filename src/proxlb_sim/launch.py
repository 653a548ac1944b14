"""Start a simulated cluster: build it from a scenario, bind the HTTPS server and describe how to
reach it (`SimInfo`). Used by `proxlb-sim serve` and by the test helpers in `testing.py`.

Binding happens here, serving starts when the caller calls `server.start()` (a thread) or
`serve_forever()`; nothing is left running on return.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxlb_sim.admin import SimAdmin
from proxlb_sim.auth import DEFAULT_PASSWORD, DEFAULT_TOKEN_ID, DEFAULT_TOKEN_SECRET, DEFAULT_USER
from proxlb_sim.cluster import SimCluster
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
