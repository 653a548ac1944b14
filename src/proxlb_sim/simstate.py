"""The narrow read view of the simulated cluster that the job and history modules work on.

`jobs.py` (backup and replication jobs) and `history.py` (the seeded task history) take a
`ClusterView`: the scenario, the seed, the clock, nodes, guests, pools, the task store and the backup
archives — not the whole `SimCluster` with its lock, engine and faults. `SimCluster` satisfies it
structurally, so these modules never import `cluster.py` and the package has no import cycle
(checked by tests/sim/test_import_graph.py).
"""

from __future__ import annotations

from typing import Protocol

from proxlb_sim.clock import VirtualClock
from proxlb_sim.scenario import Scenario
from proxlb_sim.state import BackupArchive, Pool, SimGuest, SimNode
from proxlb_sim.tasks import TaskStore


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
