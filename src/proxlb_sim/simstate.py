"""Narrow views of the simulated cluster for the modules that `cluster.py` itself imports (directly
or through them): `ClusterView` (read-mostly, for jobs and the seeded history) and `SimHost` (what
migrations, HA recovery and the CRM's auto-rebalance act on).

`jobs.py` (backup and replication jobs) and `history.py` (the seeded task history) take a
`ClusterView`: the scenario, the seed, the clock, nodes, guests, pools, the task store and the backup
archives — not the whole `SimCluster` with its lock, engine and faults. `SimCluster` satisfies it
structurally, so these modules never import `cluster.py` and the package has no import cycle
(checked by tests/sim/test_import_graph.py).
"""

from __future__ import annotations

from typing import Any, Protocol

from proxlb_sim.auth import AuthStore
from proxlb_sim.clock import VirtualClock
from proxlb_sim.engine import Engine
from proxlb_sim.faults import FaultState
from proxlb_sim.scenario import Scenario, SimSettings
from proxlb_sim.state import BackupArchive, Pool, Sample, SimGuest, SimNode, SimStorage
from proxlb_sim.tasks import Task, TaskStore


class ClusterView(Protocol):
    @property
    def scenario(self) -> Scenario: ...

    @property
    def seed(self) -> int: ...

    @property
    def clock(self) -> VirtualClock: ...

    @property
    def nodes(self) -> dict[str, SimNode]: ...

    @property
    def guests(self) -> dict[int, SimGuest]: ...

    @property
    def pools(self) -> dict[str, Pool]: ...

    @property
    def tasks(self) -> TaskStore: ...

    @property
    def backups(self) -> list[BackupArchive]: ...

    def is_shared(self, storage: str) -> bool: ...


class SimHost(ClusterView, Protocol):
    """What migrations (`migrate.py`), HA recovery and auto-rebalance act on. `SimCluster` is one;
    typing against this instead of importing `cluster.py` keeps the package free of import cycles."""

    @property
    def settings(self) -> SimSettings: ...

    @property
    def storages(self) -> dict[str, SimStorage]: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def faults(self) -> FaultState: ...

    @property
    def auth(self) -> AuthStore: ...

    @property
    def ha_resources(self) -> dict[str, dict[str, Any]]: ...

    @property
    def ha_pending(self) -> dict[str, tuple[str, str]]: ...

    @property
    def ha_rules(self) -> list[dict[str, Any]]: ...

    def bump(self) -> None: ...

    def sample(self, t: float) -> Sample: ...

    def set_running(self, g: SimGuest, running: bool, t: float) -> None: ...

    def set_node_online(self, name: str, online: bool) -> None: ...

    def guest_on(self, node: str, vmid: int, kind: str) -> SimGuest: ...

    def storage_on(self, storage: str, node: str) -> bool: ...

    def new_task(self, node: str, t: float, type_: str, id_: str, user: str) -> Task: ...
