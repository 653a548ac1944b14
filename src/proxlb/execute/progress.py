"""The executor's progress port: one small event per migration state change, for whoever watches.

Role: the executor reports what it does (a move started, its task was polled and still runs, it
ended) to an optional `ExecutionObserver`; the CLI turns those events into a live display or log
lines. Invariants: events are frozen values; the executor never depends on what the observer does
(`notify` swallows and logs observer errors at DEBUG), and an observer that is None costs nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from proxlb.domain import Migration

log = logging.getLogger(__name__)


class MigrationPhase(StrEnum):
    """What an event says about one planned migration."""

    STARTED = "started"  # PVE accepted the request; `upid` names its task
    RUNNING = "running"  # a poll found its task still running
    FINISHED = "finished"  # it ended; `outcome` says how (done, failed, skipped, timeout, cancelled)


@dataclass(frozen=True, slots=True)
class MigrationEvent:
    """One state change of the migration at `index` of the plan (plan order, 0-based).

    task_node: the node whose task API holds `upid` (the source node, or where HA runs it).
    outcome: an `Outcome` value when `phase` is FINISHED, else "".
    """

    index: int
    migration: Migration
    phase: MigrationPhase
    at: float
    upid: str | None = None
    task_node: str | None = None
    outcome: str = ""
    detail: str = ""
    seconds: float = 0.0


class ExecutionObserver(Protocol):
    """Receives every `MigrationEvent` of one `execute_plan` call, on the executor's thread."""

    def __call__(self, event: MigrationEvent) -> None: ...


def notify(observer: ExecutionObserver | None, event: MigrationEvent) -> None:
    """Hand `event` to `observer`; a failing observer never disturbs the migrations."""
    if observer is None:
        return
    try:
        observer(event)
    except Exception as exc:  # the display must never stop a migration
        log.debug("progress observer failed on %s of %d: %s", event.phase.value, event.migration.vmid, exc)
