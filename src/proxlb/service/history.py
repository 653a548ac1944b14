"""Durable migration history: every outcome written the moment it is known, and reconciled at start.

Role: the bridge between the executor's progress events and the state store. A move is written as
'running' when PVE accepts it and settled when it ends, each in its own transaction, so a kill -9,
an OOM kill or a systemd stop timeout loses nothing that had already happened. At the start of a
cycle, rows still 'running' (the process died) or 'timeout' (we stopped following) are reconciled
with where PVE shows the guest: on the target and unlocked → 'done' (so the cooldown applies),
elsewhere and unlocked → 'failed', still migrating → left for a later cycle.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable

from proxlb.domain import ClusterSnapshot, VmId
from proxlb.errors import ProxlbError
from proxlb.execute.jobs import outcome_of
from proxlb.execute.model import MigrationOutcome, Outcome
from proxlb.execute.progress import ExecutionObserver, MigrationEvent, MigrationPhase, notify
from proxlb.service.state import StateStore

log = logging.getLogger(__name__)


class HistoryRecorder:
    """An `ExecutionObserver` writing each migration to the state store as it starts and ends.

    `then` (e.g. the CLI's live display) sees every event after it was recorded.
    """

    def __init__(self, state: StateStore, then: ExecutionObserver | None = None) -> None:
        self.state = state
        self.then = then
        self.rows: dict[int, int] = {}  # plan index → row id of its 'running' row
        self.written: set[int] = set()  # plan indexes whose final outcome is stored

    def __call__(self, event: MigrationEvent) -> None:
        try:
            self._record(event)
        except (ProxlbError, OSError, sqlite3.Error) as exc:  # e.g. a disk that filled up
            vmid = event.migration.vmid
            log.warning("could not write the migration of %d to the state store: %s", vmid, exc)
        notify(self.then, event)

    def _record(self, event: MigrationEvent) -> None:
        m = event.migration
        if event.phase is MigrationPhase.STARTED:
            started = outcome_of(  # the outcome is not stored: the row says 'running'
                m, Outcome.DONE, "", upid=event.upid, exitstatus=None, started_at=event.at,
                seconds=0.0, final_node=None, ha=False,
            )  # fmt: skip
            self.rows[event.index] = self.state.migration_started(started)
        elif event.phase is MigrationPhase.FINISHED:
            row = self.rows.get(event.index)
            failures = self.state.write_failures
            if row:
                self.state.settle_migration(row, event.outcome, event.detail, event.at)
            if not row or self.state.write_failures != failures:
                # its start or its end could not be stored: the whole move goes in (or aside), so
                # the cooldown holds now; a 'running' row left behind is settled by reconcile
                whole = outcome_of(
                    m, Outcome(event.outcome), event.detail, upid=event.upid, exitstatus=None,
                    started_at=event.at - event.seconds, seconds=event.seconds, final_node=None, ha=False,
                )  # fmt: skip
                self.state.record_migrations([whole], event.at)
            self.written.add(event.index)

    def flush(self, outcomes: Iterable[MigrationOutcome], finished: float) -> None:
        """Store the outcomes no event wrote (moves that never started: skipped, cancelled)."""
        rest = [o for i, o in enumerate(outcomes) if i not in self.written]
        self.state.record_migrations(rest, finished)


RETURN_GUARD_CYCLES = 48  # default of balancing.return_window_cycles


def recently_left(
    state: StateStore, now: float, cooldown_minutes: float, window_cycles: int = RETURN_GUARD_CYCLES
) -> dict[VmId, frozenset[str]]:
    """vmid → nodes it left by balancing within the return window: the last `window_cycles` cycles
    (`balancing.return_window_cycles`) or 2 × cooldown, whichever reaches further back (all history
    while fewer cycles ran). `window_cycles` 0: only 2 × cooldown (and with cooldown 0, no window)."""
    by_cycles = state.run_started(window_cycles) if window_cycles > 0 else now
    since = min(now - 2.0 * cooldown_minutes * 60.0, 0.0 if by_cycles is None else by_cycles)
    return state.recent_departures(since)


def reconcile(state: StateStore, snapshot: ClusterSnapshot, now: float) -> int:
    """Settle rows left 'running'/'timeout' from where the snapshot shows each guest; returns how many."""
    settled = 0
    for row, entry in state.unsettled_migrations():
        guest = snapshot.guest(entry.vmid)
        if guest is None:
            outcome, detail = Outcome.FAILED, "reconciled: the guest no longer exists"
        elif guest.lock or guest.migrating_from is not None:
            continue  # still migrating (or otherwise busy): decide on a later cycle
        elif guest.node == entry.target:
            outcome, detail = Outcome.DONE, f"reconciled: PVE shows it on {entry.target}"
        else:
            outcome, detail = Outcome.FAILED, f"reconciled: the guest stayed on {guest.node}"
        log.info(
            "history: the %s move of guest %d %s → %s is %s (%s)",
            entry.outcome,
            entry.vmid,
            entry.source,
            entry.target,
            outcome.value,
            detail,
        )
        state.settle_migration(row, outcome.value, detail, now)
        settled += 1
    return settled
