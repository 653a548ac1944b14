"""Values of the execution stage: settings, the clock port, per-migration outcomes and the report.

Invariants: everything here is frozen except the clocks; `ExecutionReport.outcomes` has exactly one
entry per planned migration, in plan order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from proxlb.domain import GuestKind, VmId
from proxlb.exit_codes import ExitCode


class Clock(Protocol):
    """Time source of the executor and daemon; tests pass a fake one."""

    def now(self) -> float:
        """Epoch seconds."""
        ...

    def sleep(self, seconds: float, stop_event: threading.Event) -> bool:
        """Wait up to `seconds`; return True at once when `stop_event` is (or becomes) set."""
        ...


class SystemClock:
    """Wall clock; waits are `Event.wait`, so a signal-driven stop interrupts them."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float, stop_event: threading.Event) -> bool:
        return stop_event.wait(max(0.0, seconds))


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ExecutionSettings:
    """How to carry out a plan.

    job_timeout_seconds: real seconds a migration may run before it is reported TIMEOUT
      (upstream's `max_job_validation` counted polls; we read the same key as seconds).
    stop_grace_seconds: after a stop request, how long in-flight migrations are still followed.
    A timed-out migration keeps its per-node slots until PVE shows the guest unlocked.
    node_reserve_bytes: memory kept free per node when re-checking room on a target.
    """

    parallel: bool = False
    parallel_jobs: int = 5
    max_node_outflow: int = 4
    max_node_inflow: int = 1
    live: bool = True
    with_local_disks: bool = True
    with_conntrack_state: bool = True
    job_timeout_seconds: float = 1800.0
    stop_grace_seconds: float = 120.0
    dry_run: bool = False
    drained_nodes: frozenset[str] = frozenset()
    node_reserve_bytes: Mapping[str, int] = field(default_factory=dict)
    poll_initial_seconds: float = 1.0
    poll_max_seconds: float = 10.0
    # while a ready move waits for a lane, running jobs are polled at least this often
    poll_busy_seconds: float = 1.0
    check_precondition: bool = True
    # how long moves blocked by a timed-out (maybe still running) migration wait before being skipped
    abandon_wait_seconds: float = 300.0
    # PVE version per node when the caller already knows them (the snapshot does); else asked once.
    node_versions: Mapping[str, tuple[int, int, int] | None] | None = None
    # migrations in flight when the snapshot was taken (any actor): vmid -> destination node
    inflight_targets: Mapping[int, str] = field(default_factory=dict)
    # the snapshot's quorum; the executor re-checks /cluster/status whenever a node is offline
    quorate: bool = True
    # after this long without being able to read a task's status nor the guest, report TIMEOUT
    unreadable_limit_seconds: float = 300.0

    @property
    def global_limit(self) -> int:
        return max(1, self.parallel_jobs) if self.parallel else 1

    @classmethod
    def from_config(
        cls, config: Any, *, dry_run: bool = False, drained_nodes: frozenset[str] = frozenset()
    ) -> ExecutionSettings:
        """Read `balancing` and `service` of a ProxlbConfig (attribute access; defaults when absent)."""
        bal = getattr(config, "balancing", None)
        svc = getattr(config, "service", None)

        def pick(section: Any, name: str, default: Any) -> Any:
            value = getattr(section, name, None) if section is not None else None
            return default if value is None else value

        reserve_gib: dict[str, int] = {}
        raw_reserve = pick(bal, "node_resource_reserve", None) or {}
        for node, spec in dict(raw_reserve).items():
            mem = spec.get("memory") if isinstance(spec, Mapping) else getattr(spec, "memory", None)
            if mem:
                reserve_gib[str(node)] = int(float(mem) * 1024**3)
        return cls(
            parallel=bool(pick(bal, "parallel", False)),
            parallel_jobs=int(pick(bal, "parallel_jobs", 5)),
            max_node_outflow=max(1, int(pick(bal, "max_node_outflow", 4))),
            max_node_inflow=max(1, int(pick(bal, "max_node_inflow", 1))),
            live=bool(pick(bal, "live", True)),
            with_local_disks=bool(pick(bal, "with_local_disks", True)),
            with_conntrack_state=bool(pick(bal, "with_conntrack_state", True)),
            job_timeout_seconds=float(pick(bal, "max_job_validation", 1800)),
            stop_grace_seconds=float(pick(svc, "stop_timeout", 120)),
            dry_run=dry_run,
            drained_nodes=drained_nodes,
            node_reserve_bytes=reserve_gib,
        )

    def with_context(self, context: ExecutionContext) -> ExecutionSettings:
        """These settings for one cycle: the snapshot's facts (typed, field by field)."""
        return replace(
            self,
            node_versions=context.node_versions,
            inflight_targets={int(v): t for v, t in context.inflight_targets.items()},
            quorate=context.quorate,
            drained_nodes=self.drained_nodes | context.drained_nodes,
        )

    def with_poll(self, poll: PollIntervals) -> ExecutionSettings:
        return replace(self, poll_initial_seconds=poll.initial_seconds, poll_max_seconds=poll.max_seconds)

    def reserve_for(self, node: str) -> int:
        return self.node_reserve_bytes.get(node, self.node_reserve_bytes.get("defaults", 0))


@dataclass(frozen=True)
class ExecutionContext:
    """Facts of the cycle's snapshot the executor needs: PVE version per node (so it does not ask
    again), migrations already in flight (vmid → destination, any actor), the quorum, and the nodes
    being drained (they receive nothing). A value handed to `execute_plan`, never merged into
    settings by name."""

    node_versions: Mapping[str, tuple[int, int, int] | None] | None = None
    inflight_targets: Mapping[VmId, str] = field(default_factory=dict)
    quorate: bool = True
    drained_nodes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PollIntervals:
    """How often running migration tasks are polled: first after `initial_seconds`, backing off
    to `max_seconds` (a fast simulated clock in tests shortens both)."""

    initial_seconds: float = 1.0
    max_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class MigrationOutcome:
    """What happened to one planned migration. `final_node`: where PVE says the guest is afterwards."""

    vmid: VmId
    name: str
    kind: GuestKind
    source: str
    target: str
    reason: str
    outcome: Outcome
    detail: str = ""
    upid: str | None = None
    exitstatus: str | None = None
    started_at: float | None = None
    seconds: float = 0.0
    final_node: str | None = None
    ha_managed: bool = False
    dry_run: bool = False  # skipped because the run was a dry run (never stored as history)


@dataclass(frozen=True)
class ExecutionReport:
    """The result of carrying out one plan."""

    outcomes: tuple[MigrationOutcome, ...]
    started_at: float
    finished_at: float
    dry_run: bool = False
    max_concurrent: int = 0
    max_node_outgoing: Mapping[str, int] = field(default_factory=dict)
    max_node_incoming: Mapping[str, int] = field(default_factory=dict)
    stopped: bool = False
    yielded: bool = False  # another actor began migrating mid-plan: the rest was skipped for a new plan

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome is outcome)

    @property
    def totals(self) -> dict[str, int]:
        return {o.value: self.count(o) for o in Outcome}

    @property
    def ok(self) -> bool:
        """True when nothing failed or timed out."""
        return self.count(Outcome.FAILED) == 0 and self.count(Outcome.TIMEOUT) == 0

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished_at - self.started_at)


def exit_code(report: ExecutionReport | None) -> ExitCode:
    """OK when every migration succeeded or was deliberately skipped; MIGRATION_FAILED (3) when any
    failed or timed out."""
    if report is None or report.ok:
        return ExitCode.OK
    return ExitCode.MIGRATION_FAILED
