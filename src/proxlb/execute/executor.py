"""Carry out a validated plan through the PVE API: one loop over an injectable clock.

Invariants:
- All limits live here: a global limit (1, or `parallel_jobs` when `parallel`), per-node outgoing
  and incoming limits; a finished job frees its slot at once (streaming queue).
- A move starts only when its `depends_on` moves are DONE, the earlier moves of the same guest have
  ended, and a fresh re-check (one GET /cluster/resources per scheduling round, plus PVE's own qemu
  migrate precondition) passes. Otherwise it waits, or is SKIPPED with the reason. There is no
  barrier between steps: sequencing lists in `depends_on` every move that frees a target or clears
  an anti-affinity partner, so a free lane takes the next ready move in plan order (largest first).
- While a ready move waits for a lane, running jobs are polled at least every
  `poll_busy_seconds`, so a finished job's lane is reused within seconds.
- Dry run sends nothing at all. After a stop request nothing new starts; in-flight moves are
  followed until they end or `stop_grace_seconds` pass.
- PVE is the truth: after a failure or timeout the guest's real node is read back. A task whose
  status cannot be read (source offline, persistent 5xx, timeouts) is decided from where the guest
  is and whether it is still locked (`unreadable.py`); nothing is ever sent through an offline node.
- Migrations in flight from any actor (guests locked `migrate`) count at their destination in the
  room check; nothing starts while the cluster is not quorate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from proxlb.api.tasks import upid_node, upid_starttime, upid_type
from proxlb.domain import GuestKind, Migration, Plan
from proxlb.errors import ApiError
from proxlb.execute.fresh import FreshState, memory_need, parse_resources, precheck, quorate
from proxlb.execute.jobs import Counters, Job, MigrationApi, describe, fields
from proxlb.execute.model import Clock, ExecutionReport, ExecutionSettings, MigrationOutcome, Outcome
from proxlb.execute.progress import ExecutionObserver, MigrationEvent, MigrationPhase, notify
from proxlb.execute.truth import ForeignMigrations, verdict_without_task

log = logging.getLogger(__name__)
_MAX_STATE_FAILURES = 5
_NO_QUORUM = "cluster is not quorate: PVE refuses migrations without quorum, nothing was started"


def execute_plan(
    plan: Plan,
    client: MigrationApi,
    settings: ExecutionSettings,
    clock: Clock,
    stop_event: threading.Event,
    observer: ExecutionObserver | None = None,
) -> ExecutionReport:
    """Run `plan` (already validated) and report one outcome per migration, in plan order.

    `observer` (optional) sees every start, poll of a running task and end (`execute.progress`).
    """
    return _Run(plan, client, settings, clock, stop_event, observer).run()


class _Run:
    def __init__(
        self,
        plan: Plan,
        client: MigrationApi,
        settings: ExecutionSettings,
        clock: Clock,
        stop_event: threading.Event,
        observer: ExecutionObserver | None = None,
    ) -> None:
        self.moves = plan.migrations
        self.observer = observer
        self.client = client
        self.s = settings
        self.clock = clock
        self.stop = stop_event
        self.never = threading.Event()
        self.pending: list[int] = list(range(len(self.moves)))
        self.running: dict[int, Job] = {}
        # timed-out jobs whose task may still run in PVE: they keep their per-node slots until the
        # guest's lock is gone, so a hung migration cannot silently let a node exceed its limits
        self.abandoned: dict[int, Job] = {}
        self.abandoned_until = 0.0
        self.results: dict[int, MigrationOutcome] = {}
        self.counters = Counters()
        self.state_failures = 0
        self.versions: Mapping[str, tuple[int, int, int] | None] | None = None
        self.stopped = False
        self.foreign = ForeignMigrations(client, settings.inflight_targets)
        self.offline_nodes: frozenset[str] = frozenset()
        self.lane_wait = False  # a ready move waits for a free lane: poll running jobs briskly

    # -- main loop -----------------------------------------------------------------------------
    def run(self) -> ExecutionReport:
        started = self.clock.now()
        if self.s.dry_run:
            for i, m in enumerate(self.moves):
                log.info("dry run: would migrate %s (%s: %s)", describe(m), m.reason.value, m.detail)
                self._finish(i, Outcome.SKIPPED, "dry run: no request sent", final_node=m.source)
            self.pending.clear()
        elif not self.s.quorate:
            for i in list(self.pending):
                self._skip(i, _NO_QUORUM)
        stop_deadline: float | None = None
        while self.pending or self.running:
            now = self.clock.now()
            if self.stop.is_set() and stop_deadline is None:
                stop_deadline = now + self.s.stop_grace_seconds
                self.stopped = True
                for i in self.pending:
                    self._finish(i, Outcome.CANCELLED, "stop requested before it started")
                self.pending.clear()
                if self.running:
                    log.info("stop requested: following %d migration(s) still in flight", len(self.running))
            if stop_deadline is not None and now >= stop_deadline:
                for i in list(self.running):
                    self._abandon(i, "stop requested: no longer followed (task may still run in PVE)")
                break
            progressed = False
            had_running = bool(self.running)
            if stop_deadline is None:
                progressed = self._schedule(now)
            self._poll()
            if not self.pending and not self.running:
                break
            stuck = not had_running and not self.running and not progressed and self.state_failures == 0
            if stuck and self.abandoned and now < self.abandoned_until:
                stuck = False  # give a timed-out task a while to end before skipping what it blocks
            if stuck and self.pending:
                why = (
                    "blocked by a timed-out migration on the same node that may still run in PVE"
                    if self.abandoned
                    else "could not be started: its dependencies can never be met"
                )
                for i in list(self.pending):
                    self._skip(i, why)
                break
            self._wait(stop_deadline)
        finished = self.clock.now()
        return ExecutionReport(
            outcomes=tuple(self.results[i] for i in range(len(self.moves))),
            started_at=started,
            finished_at=finished,
            dry_run=self.s.dry_run,
            max_concurrent=self.counters.max_concurrent,
            max_node_outgoing=dict(self.counters.out_hwm),
            max_node_incoming=dict(self.counters.in_hwm),
            stopped=self.stopped,
        )

    def _wait(self, stop_deadline: float | None) -> None:
        now = self.clock.now()
        if self.running:
            until = min(job.next_poll for job in self.running.values())
        elif self.abandoned:
            until = now + self.s.poll_max_seconds
        else:
            until = now + self.s.poll_initial_seconds * (2 ** min(self.state_failures, 4))
        if stop_deadline is not None:
            until = min(until, stop_deadline)
        event = self.never if stop_deadline is not None else self.stop
        self.clock.sleep(max(0.0, until - now), event)

    # -- scheduling ----------------------------------------------------------------------------
    def _ready(self, i: int) -> bool:
        """Dependencies/steps done? Skips the move (and returns False) when a dependency failed."""
        m = self.moves[i]
        for j, other in enumerate(self.moves):
            if j == i:
                continue
            related = other.vmid in m.depends_on or (other.vmid == m.vmid and j < i)
            if not related:
                continue
            done = self.results.get(j)
            if done is None:
                return False
            if related and done.outcome is not Outcome.DONE:
                self._skip(i, f"depends on the move of {other.vmid}, which ended {done.outcome.value}")
                return False
        return True

    def _limits_allow(self, m: Migration) -> bool:
        if len(self.running) >= self.s.global_limit:
            return False
        jobs = [*self.running.values(), *self.abandoned.values()]
        if any(j.migration.vmid == m.vmid for j in jobs):
            return False
        outgoing = sum(1 for j in jobs if j.migration.source == m.source)
        incoming = sum(1 for j in jobs if j.migration.target == m.target)
        return outgoing < self.s.max_node_outflow and incoming < self.s.max_node_inflow

    def _schedule(self, now: float) -> bool:
        ready = [i for i in list(self.pending) if self._ready(i)]
        started = self._start_ready(ready, now)
        self._brisk_polls([i for i in ready if i in self.pending], now)
        return started

    def _brisk_polls(self, waiting: list[int], now: float) -> None:
        """Ready moves wait for a lane: poll running jobs at least every `poll_busy_seconds`."""
        self.lane_wait = bool(waiting)
        if not self.lane_wait:
            return
        busy = self.s.poll_busy_seconds
        for job in self.running.values():
            job.interval = min(job.interval, busy)
            job.next_poll = min(job.next_poll, now + busy)

    def _start_ready(self, ready: list[int], now: float) -> bool:
        before = len(self.results) + len(self.running)
        candidates = [i for i in ready if i in self.pending and self._limits_allow(self.moves[i])]
        if not candidates and not (ready and self.abandoned):
            return len(self.results) + len(self.running) != before
        try:
            state = parse_resources(self.client.get("/cluster/resources"))
            self.offline_nodes = frozenset(n for n, node in state.nodes.items() if not node.online)
            if self.offline_nodes and not quorate(self.client.get("/cluster/status")):
                for i in list(self.pending):
                    self._skip(i, _NO_QUORUM, final_node=_node_of(state, self.moves[i]))
                return True
            self.state_failures = 0
            if self._release_abandoned(state):
                candidates = [i for i in ready if i in self.pending and self._limits_allow(self.moves[i])]
        except ApiError as exc:
            self.state_failures += 1
            log.warning("could not read fresh cluster state before starting migrations: %s", exc)
            if self.state_failures >= _MAX_STATE_FAILURES and not self.running:
                for i in list(self.pending):
                    self._skip(i, f"cluster state unavailable: {exc}")
            return True
        for i in candidates:
            m = self.moves[i]
            if not self._limits_allow(m):
                continue
            reason = precheck(m, state, self.s, self._incoming_bytes(state))
            if reason is None and m.kind is GuestKind.QEMU and self.s.check_precondition:
                reason = self._precondition(m)
            if reason is not None:
                self._skip(i, reason, final_node=_node_of(state, m))
                continue
            self._start(i, state, now)
        return len(self.results) + len(self.running) != before

    def _release_abandoned(self, state: FreshState) -> bool:
        released = False
        for i, job in list(self.abandoned.items()):
            guest = state.guests.get(job.migration.vmid)
            if guest is None or not guest.lock:
                log.info("the timed-out migration of %s has ended in PVE", describe(job.migration))
                del self.abandoned[i]
                released = True
        return released

    def _precondition(self, m: Migration) -> str | None:
        try:
            verdict = self.client.migrate_precondition(
                m.source, m.kind.value, m.vmid, m.target, self.s.with_local_disks
            )
        except ApiError as exc:
            return f"PVE migrate precondition failed: {exc}"
        return None if verdict.allowed else verdict.reason

    def _incoming_bytes(self, state: FreshState) -> dict[str, int]:
        """Memory on its way to each node: our running moves plus anyone else's (lock `migrate`)."""
        out: dict[str, int] = {}
        for job in self.running.values():
            out[job.migration.target] = out.get(job.migration.target, 0) + job.mem_bytes
        ours = {j.migration.vmid for j in [*self.running.values(), *self.abandoned.values()]}
        for node, need in self.foreign.incoming(state, ours).items():
            out[node] = out.get(node, 0) + need
        return out

    def _conntrack(self, m: Migration) -> bool:
        if not self.s.with_conntrack_state:
            return False
        if self.versions is None and self.s.node_versions is not None:
            self.versions = self.s.node_versions
        if self.versions is None:
            try:
                self.versions = self.client.node_versions()
            except ApiError as exc:
                log.warning("PVE versions unknown (%s): not sending with-conntrack-state", exc)
                self.versions = {}
        return all((self.versions.get(n) or (0, 0, 0)) >= (9, 0, 0) for n in (m.source, m.target))

    def _start(self, i: int, state: FreshState, now: float) -> None:
        m = self.moves[i]
        guest = state.guests[m.vmid]
        try:
            if m.kind is GuestKind.QEMU:
                online = guest.running
                upid = self.client.migrate_qemu(
                    m.source,
                    m.vmid,
                    m.target,
                    online=online,
                    with_local_disks=self.s.with_local_disks,
                    with_conntrack_state=online and self._conntrack(m),
                )
            else:
                upid = self.client.migrate_lxc(m.source, m.vmid, m.target, restart=True)
        except ApiError as exc:
            log.info("migration of %s refused by PVE: %s", describe(m), exc)
            self.pending.remove(i)
            self._finish(
                i, Outcome.FAILED, f"PVE refused the request: {exc}", exitstatus=str(exc), final_node=m.source
            )
            return
        self.pending.remove(i)
        self.running[i] = Job(
            index=i,
            migration=m,
            started_at=now,
            upid=upid,
            task_node=upid_node(upid) or m.source,
            mem_bytes=memory_need(guest),
            next_poll=now + self.s.poll_initial_seconds,
            interval=self.s.poll_initial_seconds,
            ha=upid_type(upid) == "hamigrate" or m.ha_managed,
        )
        log.info(
            "migrating %s (%s), task %s",  # the why is in the plan printed before; DEBUG has the inputs
            describe(m),
            m.reason.value,
            upid,
            extra=fields(m, "started", upid),
        )
        self.counters.record(self.running.values())
        self._event(i, MigrationPhase.STARTED, upid=upid, task_node=self.running[i].task_node)

    # -- polling -------------------------------------------------------------------------------
    def _poll(self) -> None:
        for i, job in sorted(self.running.items()):
            now = self.clock.now()
            if now < job.next_poll:
                continue
            if now - job.started_at >= self.s.job_timeout_seconds:
                self._abandon(
                    i, f"no result after {self.s.job_timeout_seconds:.0f} s (task may still run in PVE)"
                )
                continue
            cap = self.s.poll_busy_seconds if self.lane_wait else self.s.poll_max_seconds
            job.interval = min(cap, job.interval * 1.5)
            job.next_poll = now + job.interval
            try:
                if job.waiting_ha:
                    self._poll_ha(i, job)
                elif job.task_node in self.offline_nodes:
                    self._unreadable(i, job, f"task node {job.task_node} is offline")
                else:
                    self._poll_task(i, job)
                    job.unreadable_since = None
            except ApiError as exc:
                log.warning("could not poll migration of %s: %s", describe(job.migration), exc)
                self._unreadable(i, job, str(exc))

    def _unreadable(self, i: int, job: Job, why: str) -> None:
        """The task status could not be read: decide from the guest's place and lock instead."""
        now = self.clock.now()
        if job.unreadable_since is None:
            job.unreadable_since = now
        try:
            state = parse_resources(self.client.get("/cluster/resources"))
        except ApiError as exc:
            log.warning("could not read where guest %d is either: %s", job.migration.vmid, exc)
            if now - job.unreadable_since >= self.s.unreadable_limit_seconds:
                limit = self.s.unreadable_limit_seconds
                self._abandon(
                    i,
                    f"neither the task nor the guest could be read for {limit:.0f} s"
                    " (the next run reconciles it with PVE)",
                )
            return
        self.offline_nodes = frozenset(n for n, node in state.nodes.items() if not node.online)
        verdict = verdict_without_task(job.migration, state, why, job.seen_unlocked, job.ha)
        guest = state.guests.get(job.migration.vmid)
        job.seen_unlocked = guest is not None and not guest.lock
        if verdict is not None:
            self._end(i, verdict.outcome, verdict.detail, None, final_node=verdict.final_node)

    def _poll_task(self, i: int, job: Job) -> None:
        status = self.client.task_status(job.task_node, job.upid)
        if status.running:
            self._event(i, MigrationPhase.RUNNING, upid=job.upid, task_node=job.task_node)
            return
        m = job.migration
        if status.task_type == "hamigrate" or upid_type(job.upid) == "hamigrate":
            if not status.ok:
                self._end(
                    i, Outcome.FAILED, f"HA refused the migration: {status.exitstatus}", status.exitstatus
                )
                return
            job.waiting_ha = True
            job.ha = True
            job.ha_since = float(status.starttime or upid_starttime(job.upid))
            job.interval = self.s.poll_initial_seconds
            job.next_poll = self.clock.now()
            log.info("HA accepted the migration of %s; waiting for the HA stack's own task", describe(m))
            return
        if status.ok:
            self._end(i, Outcome.DONE, "", status.exitstatus, final_node=m.target)
        else:
            self._end(i, Outcome.FAILED, f"task failed: {status.exitstatus}", status.exitstatus)

    def _poll_ha(self, i: int, job: Job) -> None:
        m = job.migration
        upid = self.client.find_ha_followup_task(m.source, m.vmid, m.kind.value, job.ha_since)
        if upid is not None:
            job.upid = upid
            job.task_node = upid_node(upid) or m.source
            job.waiting_ha = False
            job.next_poll = self.clock.now()
            log.info("following HA task %s for %s", upid, describe(m))
            return
        located = self.client.guest_location(m.vmid)
        if located is not None and located[0] == m.target and not located[1]:
            self._end(i, Outcome.DONE, "moved by the HA stack", "OK", final_node=m.target)
        else:
            self._event(i, MigrationPhase.RUNNING, detail="waiting for the HA stack")

    # -- bookkeeping ---------------------------------------------------------------------------
    def _event(self, i: int, phase: MigrationPhase, **values: Any) -> None:
        if self.observer is not None:
            event = MigrationEvent(i, self.moves[i], phase, self.clock.now(), **values)
            notify(self.observer, event)

    def _where(self, vmid: int) -> str | None:
        try:
            located = self.client.guest_location(vmid)
        except ApiError as exc:
            log.warning("could not confirm where guest %d is: %s", vmid, exc)
            return None
        return None if located is None else located[0]

    def _end(
        self, i: int, outcome: Outcome, detail: str, exitstatus: str | None, final_node: str | None = None
    ) -> None:
        job = self.running.pop(i)
        if final_node is None:
            final_node = self._where(job.migration.vmid)
        self._finish(
            i,
            outcome,
            detail,
            upid=job.upid,
            exitstatus=exitstatus,
            started_at=job.started_at,
            final_node=final_node,
            ha=job.ha,
        )

    def _abandon(self, i: int, detail: str) -> None:
        self.abandoned[i] = self.running[i]
        self.abandoned_until = self.clock.now() + self.s.abandon_wait_seconds
        self._end(i, Outcome.TIMEOUT, detail, None)

    def _skip(self, i: int, reason: str, final_node: str | None = None) -> None:
        if i in self.pending:
            self.pending.remove(i)
        self._finish(i, Outcome.SKIPPED, reason, final_node=final_node)

    def _finish(
        self,
        i: int,
        outcome: Outcome,
        detail: str,
        *,
        upid: str | None = None,
        exitstatus: str | None = None,
        started_at: float | None = None,
        final_node: str | None = None,
        ha: bool = False,
    ) -> None:
        m = self.moves[i]
        seconds = 0.0 if started_at is None else max(0.0, self.clock.now() - started_at)
        self.results[i] = MigrationOutcome(
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
        self._event(
            i, MigrationPhase.FINISHED, upid=upid, outcome=outcome.value, detail=detail, seconds=seconds
        )
        if outcome is Outcome.DONE:
            log.info("migrated %s in %.1f s", describe(m), seconds, extra=fields(m, outcome.value, upid))
        elif outcome is not Outcome.SKIPPED or not self.s.dry_run:
            log.info(
                "migration of %s %s: %s",
                describe(m),
                outcome.value,
                detail,
                extra=fields(m, outcome.value, upid),
            )


def _node_of(state: FreshState, m: Migration) -> str | None:
    guest = state.guests.get(m.vmid)
    return None if guest is None else guest.node
