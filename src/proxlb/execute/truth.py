"""What the cluster says beyond our own tasks: others' in-flight moves, and how an unreadable task ended.

`ForeignMigrations` finds where guests locked `migrate` by anyone else are going (one task list and
log read per such guest, cached for the run), so the room check counts them at their destination.

`verdict_without_task` (pure) decides a migration whose task status cannot be read;
`follow_without_task` reads the guest's place for it, and says when to stop following.
`where_is` reads back the node a guest is really on after a move ended (PVE is the truth).

The task status lives on the task's node (the source): when that node is offline, when its status
answers 5xx again and again, or when the answer never comes, the task cannot tell us how the move
ended. The guest can: `/cluster/resources` (answered by any live node) shows its node and lock.

- unlocked on the target → DONE (PVE moved it);
- unlocked elsewhere, seen twice → FAILED (the task ended without moving it; twice, because a task
  that has only just been forked may not hold its lock yet);
- still locked on an offline source → FAILED: a migration cannot finish from a node that is down,
  and PVE keeps the lock until an admin clears it (`qm unlock`);
- still locked otherwise → keep following (the executor's job timeout still applies);
- gone from the cluster → FAILED.
HA migrations are decided only when the guest has reached the target: between the accepted HA
request and the LRM's own task the guest is legitimately unlocked on its source. When the guest's
place cannot be read either, the move is given up (TIMEOUT, the next run reconciles it) once the
task status has been unreadable for `unreadable_limit_seconds`. Nothing is ever sent through an
offline node: the offline set is refreshed from every successful read.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from proxlb.collect.inflight import MIGRATE_LOCK, migration_target
from proxlb.domain import Migration
from proxlb.errors import ApiError
from proxlb.execute.fresh import FreshState, memory_need, parse_resources
from proxlb.execute.jobs import Job, MigrationApi
from proxlb.execute.model import Outcome

log = logging.getLogger(__name__)
_executor_log = logging.getLogger("proxlb.execute.executor")  # `follow_without_task` was split out of it


class ForeignMigrations:
    """Destinations of migrations other actors have in flight; `known` seeds it from the snapshot."""

    def __init__(self, client: MigrationApi, known: Mapping[int, str]) -> None:
        self.client = client
        self.targets: dict[int, str | None] = dict(known)

    def incoming(self, state: FreshState, ours: Collection[int]) -> dict[str, int]:
        """Memory each node is receiving from migrations that are not ours (guests locked `migrate`)."""
        out: dict[str, int] = {}
        for guest in state.guests.values():
            if guest.lock != MIGRATE_LOCK or guest.vmid in ours:
                continue
            if guest.vmid not in self.targets:
                try:
                    self.targets[guest.vmid] = migration_target(self.client, guest.node, guest.vmid)
                except ApiError as exc:
                    log.warning("could not read where the migration of guest %d goes: %s", guest.vmid, exc)
                    self.targets[guest.vmid] = None
            target = self.targets[guest.vmid]
            if target is not None and target != guest.node:
                out[target] = out.get(target, 0) + memory_need(guest)
        return out


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    detail: str
    final_node: str | None


def verdict_without_task(
    m: Migration, state: FreshState, why: str, unlocked_before: bool, ha: bool
) -> Verdict | None:
    """How the move ended according to the guest's place and lock; None = still in flight."""
    guest = state.guests.get(m.vmid)
    if guest is None:
        return Verdict(Outcome.FAILED, f"task status unreadable ({why}) and the guest is gone", None)
    if not guest.lock and guest.node == m.target:
        return Verdict(Outcome.DONE, f"task status unreadable ({why}); PVE shows it on {m.target}", m.target)
    if ha:
        return None
    if not guest.lock:
        if not unlocked_before:
            return None
        return Verdict(
            Outcome.FAILED,
            f"task status unreadable ({why}); the guest is unlocked on {guest.node}: the migration ended "
            "without moving it",
            guest.node,
        )
    source = state.nodes.get(guest.node)
    if source is not None and not source.online:
        return Verdict(
            Outcome.FAILED,
            f"source {guest.node} went offline during the migration; the guest is still on it, locked "
            f"({guest.lock}) — clear the lock with 'qm unlock {m.vmid}' once the node is back",
            guest.node,
        )
    return None


def where_is(client: MigrationApi, vmid: int) -> str | None:
    """The node PVE shows guest `vmid` on (None when gone or unreadable: logged, never raised)."""
    try:
        located = client.guest_location(vmid)
    except ApiError as exc:
        _executor_log.warning("could not confirm where guest %d is: %s", vmid, exc)
        return None
    return None if located is None else located[0]


def offline_nodes(state: FreshState) -> frozenset[str]:
    return frozenset(n for n, node in state.nodes.items() if not node.online)


@dataclass(frozen=True, slots=True)
class WithoutTask:
    """What one look at the guest decided: a verdict, giving up (`abandon` detail), or neither."""

    offline: frozenset[str] | None  # the nodes offline now; None when the state could not be read
    verdict: Verdict | None = None
    abandon: str | None = None


def follow_without_task(client: MigrationApi, job: Job, why: str, now: float, limit: float) -> WithoutTask:
    """The task status could not be read: decide from the guest's place and lock instead.

    Updates the job's unreadable streak (`unreadable_since`, `seen_unlocked`).
    """
    if job.unreadable_since is None:
        job.unreadable_since = now
    try:
        state = parse_resources(client.get("/cluster/resources"))
    except ApiError as exc:
        _executor_log.warning("could not read where guest %d is either: %s", job.migration.vmid, exc)
        if now - job.unreadable_since >= limit:
            return WithoutTask(
                None,
                abandon=f"neither the task nor the guest could be read for {limit:.0f} s"
                " (the next run reconciles it with PVE)",
            )
        return WithoutTask(None)
    verdict = verdict_without_task(job.migration, state, why, job.seen_unlocked, job.ha)
    guest = state.guests.get(job.migration.vmid)
    job.seen_unlocked = guest is not None and not guest.lock
    return WithoutTask(offline_nodes(state), verdict)
