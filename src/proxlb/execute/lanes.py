"""Lanes: which jobs hold a migration slot, and whether a move may take one now.

The executor asks `Lanes` before starting a move and tells it when a job starts, ends or is
abandoned. `waiting_on` (pure) says whether a move's dependencies have ended.

Invariants:
- A global limit (`global_limit`: 1, or `parallel_jobs` when `parallel`) counts running jobs only;
  the per-node outgoing and incoming limits and "one move per guest at a time" count running AND
  abandoned jobs. A finished job frees its slot at once (streaming queue).
- An abandoned job (timed out, or no longer followed after a stop) may still run in PVE: it keeps its
  per-node slots until `/cluster/resources` shows its guest unlocked or gone, so a hung migration
  cannot silently let a node exceed its limits.
- While a ready move waits for a lane, running jobs are polled at least every `poll_busy_seconds`,
  so a finished job's lane is reused within seconds.
- Memory on its way to a node is our running moves plus anyone else's (guests locked `migrate`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from proxlb.domain import Migration
from proxlb.execute.fresh import FreshState
from proxlb.execute.jobs import Counters, Job, describe
from proxlb.execute.model import ExecutionSettings, MigrationOutcome, Outcome
from proxlb.execute.truth import ForeignMigrations

log = logging.getLogger("proxlb.execute.executor")  # split out of the executor: its log lines keep its name


class Lanes:
    """Running and abandoned jobs of one `execute_plan` call, with the limits they are held to."""

    def __init__(self, settings: ExecutionSettings) -> None:
        self.s = settings
        self.running: dict[int, Job] = {}
        self.abandoned: dict[int, Job] = {}
        self.abandoned_until = 0.0  # until then, what an abandoned job blocks is not skipped as stuck
        self.counters = Counters()
        self.lane_wait = False  # a ready move waits for a free lane: poll running jobs briskly

    def allow(self, m: Migration) -> bool:
        """May `m` start now without exceeding the global, per-node or per-guest limits?"""
        if len(self.running) >= self.s.global_limit:
            return False
        jobs = [*self.running.values(), *self.abandoned.values()]
        if any(j.migration.vmid == m.vmid for j in jobs):
            return False
        outgoing = sum(1 for j in jobs if j.migration.source == m.source)
        incoming = sum(1 for j in jobs if j.migration.target == m.target)
        return outgoing < self.s.max_node_outflow and incoming < self.s.max_node_inflow

    def start(self, job: Job) -> None:
        self.running[job.index] = job
        self.counters.record(self.running.values())

    def abandon(self, i: int, until: float) -> None:
        """Job `i` is no longer followed but keeps its per-node slots (see the module invariants)."""
        self.abandoned[i] = self.running[i]
        self.abandoned_until = until

    def brisk_polls(self, waiting: bool, now: float) -> None:
        """Ready moves wait for a lane: poll running jobs at least every `poll_busy_seconds`."""
        self.lane_wait = waiting
        if not self.lane_wait:
            return
        busy = self.s.poll_busy_seconds
        for job in self.running.values():
            job.interval = min(job.interval, busy)
            job.next_poll = min(job.next_poll, now + busy)

    def poll_cap(self) -> float:
        """The longest interval between two polls of a running job right now."""
        return self.s.poll_busy_seconds if self.lane_wait else self.s.poll_max_seconds

    def release_ended(self, state: FreshState) -> bool:
        """Free the slots of abandoned jobs whose guest is unlocked or gone; True if any was freed."""
        released = False
        for i, job in list(self.abandoned.items()):
            guest = state.guests.get(job.migration.vmid)
            if guest is None or not guest.lock:
                log.info("the timed-out migration of %s has ended in PVE", describe(job.migration))
                del self.abandoned[i]
                released = True
        return released

    def incoming_bytes(self, state: FreshState, foreign: ForeignMigrations) -> dict[str, int]:
        """Memory on its way to each node: our running moves plus anyone else's (lock `migrate`)."""
        out: dict[str, int] = {}
        for job in self.running.values():
            out[job.migration.target] = out.get(job.migration.target, 0) + job.mem_bytes
        ours = {j.migration.vmid for j in [*self.running.values(), *self.abandoned.values()]}
        for node, need in foreign.incoming(state, ours).items():
            out[node] = out.get(node, 0) + need
        return out


def waiting_on(
    moves: Sequence[Migration], results: Mapping[int, MigrationOutcome], i: int
) -> tuple[bool, str | None]:
    """(ready, skip reason) of move `i`.

    Ready once every move it depends on and every earlier move of the same guest ended DONE; the
    first such move (in plan order) that ended otherwise gives the reason to skip it.
    """
    m = moves[i]
    for j, other in enumerate(moves):
        if j == i:
            continue
        if not (other.vmid in m.depends_on or (other.vmid == m.vmid and j < i)):
            continue
        done = results.get(j)
        if done is None:
            return False, None
        if done.outcome is not Outcome.DONE:
            return False, f"depends on the move of {other.vmid}, which ended {done.outcome.value}"
    return True, None
