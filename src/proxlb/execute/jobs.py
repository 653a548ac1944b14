"""The executor's port to the API client and its per-job bookkeeping records.

Invariants: `MigrationApi` is all the executor may call (reads, migrate POSTs, task polling);
`Job` is mutable on purpose — it lives only inside one `execute_plan` call. `outcome_of` builds
the frozen `MigrationOutcome` a job (or a move that never started) is reported as.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from proxlb.api.tasks import Precondition, TaskStatus
from proxlb.domain import GuestKind, Migration
from proxlb.execute.model import MigrationOutcome, Outcome


class MigrationApi(Protocol):
    """What the executor needs from the API client (implemented by `ProxmoxClient`)."""

    def get(self, path: str, **params: str | int) -> Any: ...

    def migrate_qemu(
        self,
        node: str,
        vmid: int,
        target: str,
        *,
        online: bool,
        with_local_disks: bool,
        with_conntrack_state: bool = False,
    ) -> str: ...

    def migrate_lxc(self, node: str, vmid: int, target: str, *, restart: bool = True) -> str: ...

    def task_status(self, node: str, upid: str) -> TaskStatus: ...

    def find_ha_followup_task(self, node: str, vmid: int, kind: str, since: float) -> str | None: ...

    def migrate_precondition(
        self, node: str, kind: str, vmid: int, target: str, with_local_disks: bool = True
    ) -> Precondition: ...

    def node_versions(self) -> Mapping[str, tuple[int, int, int] | None]: ...

    def guest_location(self, vmid: int) -> tuple[str, str | None] | None: ...


@dataclass
class Job:
    index: int
    migration: Migration
    started_at: float
    upid: str
    task_node: str
    mem_bytes: int
    next_poll: float
    interval: float
    waiting_ha: bool = False
    ha_since: float = 0.0
    ha: bool = False
    unreadable_since: float | None = None  # first failed status read of the current failure streak
    seen_unlocked: bool = False  # the guest was seen unlocked while the task status was unreadable

    def await_ha(self, since: float, now: float, interval: float) -> None:
        """HA accepted the request: look for the HA stack's own task (started after `since`)."""
        self.waiting_ha = True
        self.ha = True
        self.ha_since = since
        self.interval = interval
        self.next_poll = now

    def follow(self, upid: str, task_node: str, now: float) -> None:
        """Follow the HA stack's own task `upid` from now on."""
        self.upid = upid
        self.task_node = task_node
        self.waiting_ha = False
        self.next_poll = now


@dataclass
class Counters:
    max_concurrent: int = 0
    out_hwm: dict[str, int] = field(default_factory=dict)
    in_hwm: dict[str, int] = field(default_factory=dict)

    def record(self, running: Iterable[Job]) -> None:
        """Update the high-water marks with the jobs in flight right now."""
        jobs = list(running)
        self.max_concurrent = max(self.max_concurrent, len(jobs))
        out: dict[str, int] = {}
        inc: dict[str, int] = {}
        for job in jobs:
            out[job.migration.source] = out.get(job.migration.source, 0) + 1
            inc[job.migration.target] = inc.get(job.migration.target, 0) + 1
        for node, n in out.items():
            self.out_hwm[node] = max(self.out_hwm.get(node, 0), n)
        for node, n in inc.items():
            self.in_hwm[node] = max(self.in_hwm.get(node, 0), n)


def outcome_of(
    m: Migration,
    outcome: Outcome,
    detail: str,
    *,
    upid: str | None,
    exitstatus: str | None,
    started_at: float | None,
    seconds: float,
    final_node: str | None,
    ha: bool,
) -> MigrationOutcome:
    """The reported record of how planned move `m` ended."""
    return MigrationOutcome(
        vmid=m.vmid,
        name=m.name,
        kind=m.kind,
        source=m.source,
        target=m.target,
        reason=m.reason.value,
        outcome=outcome,
        detail=detail,
        upid=upid,
        exitstatus=exitstatus,
        started_at=started_at,
        seconds=seconds,
        final_node=final_node,
        ha_managed=ha or m.ha_managed,
    )


def describe(m: Migration) -> str:
    what = "VM" if m.kind is GuestKind.QEMU else "CT"
    return f"{what} {m.name} ({m.vmid}) {m.source} → {m.target}"


def fields(m: Migration, outcome: str, upid: str | None) -> dict[str, str]:
    """Structured log fields (journald-style upper-case names) for one migration event."""
    out = {
        "VMID": str(m.vmid),
        "GUEST_KIND": m.kind.value,
        "SOURCE_NODE": m.source,
        "TARGET_NODE": m.target,
        "MIGRATION_REASON": m.reason.value,
        "OUTCOME": outcome,
    }
    if upid:
        out["UPID"] = upid
    return out
