"""Carry out a validated plan through the PVE API: one loop over an injectable clock.

Invariants:
- Every limit is checked before a move starts: a global limit (1, or `parallel_jobs` when
  `parallel`), per-node outgoing and incoming limits (`lanes.py`, which also says how long a
  timed-out job keeps its slots); a finished job frees its slot at once (streaming queue).
- A move starts only when its `depends_on` moves are DONE, the earlier moves of the same guest have
  ended, and a fresh re-check (GET /cluster/resources right before each start, plus PVE's own qemu
  migrate precondition) passes. Otherwise it waits, or is SKIPPED with the reason. There is no
  barrier between steps: sequencing lists in `depends_on` every move that frees a target or clears
  an anti-affinity partner, so a free lane takes the next ready move in plan order (largest first).
- While a ready move waits for a lane, running jobs are polled at least every
  `poll_busy_seconds`, so a finished job's lane is reused within seconds.
- Dry run sends nothing at all. After a stop request nothing new starts; in-flight moves are
  followed until they end or `stop_grace_seconds` pass.
- PVE is the truth: after a failure or timeout the guest's real node is read back. A task whose
  status cannot be read (source offline, persistent 5xx, timeouts) is decided from where the guest
  is and whether it is still locked (`truth.py`); nothing is ever sent through an offline node.
- Migrations in flight from any actor (guests locked `migrate`) count at their destination in the
  room check; nothing starts while the cluster is not quorate.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

from proxlb.api.tasks import upid_node, upid_starttime, upid_type
from proxlb.collect.inflight import MIGRATE_LOCK
from proxlb.domain import GuestKind, Plan
from proxlb.errors import ApiError
from proxlb.execute.dispatch import Dispatch
from proxlb.execute.fresh import FreshState, memory_need, node_of, parse_resources, precheck, quorate
from proxlb.execute.jobs import Job, MigrationApi, describe, fields, outcome_of
from proxlb.execute.lanes import Lanes, waiting_on
from proxlb.execute.model import (
    Clock,
    ExecutionContext,
    ExecutionReport,
    ExecutionSettings,
    MigrationOutcome,
    Outcome,
)
from proxlb.execute.progress import ExecutionObserver, MigrationEvent, MigrationPhase, notify
from proxlb.execute.truth import ForeignMigrations, follow_without_task, offline_nodes, where_is

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
    context: ExecutionContext | None = None,
) -> ExecutionReport:
    """Run `plan` (already validated) and report one outcome per migration, in plan order.

    `observer` (optional) sees every start, poll of a running task and end (`execute.progress`).
    `context`: the cycle snapshot's facts (versions, in-flight migrations, quorum, drains).
    """
    if context is not None:
        settings = settings.with_context(context)
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
        self.lanes = Lanes(settings)
        self.running = self.lanes.running  # the same dicts, owned by `lanes`
        self.abandoned = self.lanes.abandoned
        self.results: dict[int, MigrationOutcome] = {}
        self.state_failures = 0
        self.dispatch = Dispatch(client, settings)
        self.stopped = False
        self.foreign = ForeignMigrations(client, settings.inflight_targets)
        self.known_foreign = {int(v) for v in settings.inflight_targets}  # in flight when planned
        self.yielded = False  # another actor started migrating: the rest was left for a new plan
        self.placed: dict[int, str] | None = None
        self.offline_nodes: frozenset[str] = frozenset()

    # -- main loop -----------------------------------------------------------------------------
    def run(self) -> ExecutionReport:
        started = self.clock.now()
        self._before_loop()
        stop_deadline: float | None = None
        while self.pending or self.running:
            now = self.clock.now()
            if self.stop.is_set() and stop_deadline is None:
                stop_deadline = self._stop_requested(now)
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
            if stuck and self.abandoned and now < self.lanes.abandoned_until:
                stuck = False  # give a timed-out task a while to end before skipping what it blocks
            if stuck and self.pending:
                self._skip_stuck()
                break
            self._wait(stop_deadline)
        finished = self.clock.now()
        return ExecutionReport(
            outcomes=tuple(self.results[i] for i in range(len(self.moves))),
            started_at=started,
            finished_at=finished,
            dry_run=self.s.dry_run,
            max_concurrent=self.lanes.counters.max_concurrent,
            max_node_outgoing=dict(self.lanes.counters.out_hwm),
            max_node_incoming=dict(self.lanes.counters.in_hwm),
            stopped=self.stopped,
            yielded=self.yielded,
        )

    def _before_loop(self) -> None:
        """Dry run: every move is SKIPPED, nothing is sent. No quorum: every move is SKIPPED."""
        if self.s.dry_run:
            for i, m in enumerate(self.moves):
                log.info("dry run: would migrate %s (%s: %s)", describe(m), m.reason.value, m.detail)
                self._finish(i, Outcome.SKIPPED, "dry run: no request sent", final_node=m.source)
                self.results[i] = replace(self.results[i], dry_run=True)
            self.pending.clear()
        elif not self.s.quorate:
            for i in list(self.pending):
                self._skip(i, _NO_QUORUM)

    def _stop_requested(self, now: float) -> float:
        """Cancel what has not started; returns the deadline for following what is in flight."""
        self.stopped = True
        for i in self.pending:
            self._finish(i, Outcome.CANCELLED, "stop requested before it started")
        self.pending.clear()
        if self.running:
            log.info("stop requested: following %d migration(s) still in flight", len(self.running))
        return now + self.s.stop_grace_seconds

    def _skip_stuck(self) -> None:
        """Nothing runs and nothing could start: skip every pending move, saying what blocks it."""
        why = (
            "blocked by a timed-out migration on the same node that may still run in PVE"
            if self.abandoned
            else "could not be started: its dependencies can never be met"
        )
        for i in list(self.pending):
            self._skip(i, why)

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
        ready, why = waiting_on(self.moves, self.results, i)
        if why is not None:
            self._skip(i, why)
        return ready

    def _schedule(self, now: float) -> bool:
        ready = [i for i in list(self.pending) if self._ready(i)]
        started = self._start_ready(ready, now)
        self.lanes.brisk_polls(any(i in self.pending for i in ready), now)
        return started

    def _start_ready(self, ready: list[int], now: float) -> bool:
        before = len(self.results) + len(self.running)
        candidates = [i for i in ready if i in self.pending and self.lanes.allow(self.moves[i])]
        if not candidates and not (ready and self.abandoned):
            return len(self.results) + len(self.running) != before
        try:
            state = parse_resources(self.client.get("/cluster/resources"))
            self.offline_nodes = offline_nodes(state)
            if self.offline_nodes and not quorate(self.client.get("/cluster/status")):
                for i in list(self.pending):
                    self._skip(i, _NO_QUORUM, final_node=node_of(state, self.moves[i]))
                return True
            self.state_failures = 0
            if self._another_actor(state):
                return True
            if self.lanes.release_ended(state):
                candidates = [i for i in ready if i in self.pending and self.lanes.allow(self.moves[i])]
        except ApiError as exc:
            self.state_failures += 1
            log.warning("could not read fresh cluster state before starting migrations: %s", exc)
            if self.state_failures >= _MAX_STATE_FAILURES and not self.running:
                for i in list(self.pending):
                    self._skip(i, f"cluster state unavailable: {exc}")
            return True
        fresh = True  # `state` was read just now
        for i in candidates:
            m = self.moves[i]
            if not self.lanes.allow(m):
                continue
            if not fresh:  # earlier starts took time: a target may have gone offline meanwhile
                try:
                    state = parse_resources(self.client.get("/cluster/resources"))
                except ApiError as exc:
                    log.warning("could not re-read cluster state before starting %s: %s", describe(m), exc)
                    return True  # the next round tries again
                self.offline_nodes = offline_nodes(state)
            fresh = False
            reason = precheck(m, state, self.s, self.lanes.incoming_bytes(state, self.foreign))
            if reason is None and m.kind is GuestKind.QEMU and self.s.check_precondition:
                reason = self.dispatch.precondition(m)
            if reason is not None:
                self._skip(i, reason, final_node=node_of(state, m))
                continue
            self._start(i, state, now)
        return len(self.results) + len(self.running) != before

    def _another_actor(self, state: FreshState) -> bool:
        """Guests another actor began migrating (or moved) since this plan's first read (a second
        instance, a person, HA):
        this plan no longer describes the cluster, so nothing more of it starts (SKIPPED; the daemon
        plans again soon). Moves already running are followed to their end."""
        known = {int(m.vmid) for m in self.moves} | self.known_foreign
        if self.placed is None:  # where every other guest stood at the first read of this plan
            self.placed = {v: g.node for v, g in state.guests.items()}
        newcomers = sorted(
            v
            for v, g in state.guests.items()
            if v not in known
            and not g.ha_managed  # PVE's own HA stack moves these (recovery, auto-rebalance)
            and (g.lock == MIGRATE_LOCK or self._moved_away(state, v, g.node))
        )
        if not newcomers or not self.pending:
            return False
        guests = ", ".join(map(str, newcomers))
        log.warning(
            "another actor started migrating guest(s) %s; the rest of this plan is left for a new one", guests
        )
        why = f"another actor started migrating guest(s) {guests} after this plan was made; planned again"
        for i in list(self.pending):
            self._skip(i, why, final_node=node_of(state, self.moves[i]))
        self.yielded = True
        return True

    def _moved_away(self, state: FreshState, vmid: int, node: str) -> bool:
        """Moved since the first read, from a node that is still online (not an HA recovery)."""
        before = (self.placed or {}).get(vmid, node)
        was = state.nodes.get(before)
        return before != node and was is not None and was.online

    def _start(self, i: int, state: FreshState, now: float) -> None:
        m = self.moves[i]
        guest = state.guests[m.vmid]
        try:
            upid = self.dispatch.send(m, guest.running)
        except ApiError as exc:
            log.info("migration of %s refused by PVE: %s", describe(m), exc)
            self.pending.remove(i)
            self._finish(
                i, Outcome.FAILED, f"PVE refused the request: {exc}", exitstatus=str(exc), final_node=m.source
            )
            return
        self.pending.remove(i)
        job = Job(
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
        self.lanes.start(job)
        log.info(
            "migrating %s (%s), task %s",  # the why is in the plan printed before; DEBUG has the inputs
            describe(m),
            m.reason.value,
            upid,
            extra=fields(m, "started", upid),
        )
        self._event(i, MigrationPhase.STARTED, upid=upid, task_node=job.task_node)

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
            job.interval = min(self.lanes.poll_cap(), job.interval * 1.5)
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
        """The task status could not be read: decide from the guest's place and lock (`truth.py`)."""
        step = follow_without_task(self.client, job, why, self.clock.now(), self.s.unreadable_limit_seconds)
        if step.offline is not None:
            self.offline_nodes = step.offline
        if step.abandon is not None:
            self._abandon(i, step.abandon)
        elif step.verdict is not None:
            self._end(i, step.verdict.outcome, step.verdict.detail, None, final_node=step.verdict.final_node)

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
            since = float(status.starttime or upid_starttime(job.upid))
            job.await_ha(since, self.clock.now(), self.s.poll_initial_seconds)
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
            job.follow(upid, upid_node(upid) or m.source, self.clock.now())
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

    def _end(
        self, i: int, outcome: Outcome, detail: str, exitstatus: str | None, final_node: str | None = None
    ) -> None:
        job = self.running.pop(i)
        if final_node is None:
            final_node = where_is(self.client, job.migration.vmid)
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
        self.lanes.abandon(i, until=self.clock.now() + self.s.abandon_wait_seconds)
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
        self.results[i] = outcome_of(
            m,
            outcome,
            detail,
            upid=upid,
            exitstatus=exitstatus,
            started_at=started_at,
            seconds=seconds,
            final_node=final_node,
            ha=ha,
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
