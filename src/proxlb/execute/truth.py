"""What the cluster says beyond our own tasks: others' in-flight moves, and how an unreadable task ended.

`ForeignMigrations` finds where guests locked `migrate` by anyone else are going (one task list and
log read per such guest, cached for the run), so the room check counts them at their destination.

`verdict_without_task` (pure) decides a migration whose task status cannot be read.

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
request and the LRM's own task the guest is legitimately unlocked on its source.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from proxlb.collect.inflight import MIGRATE_LOCK, migration_target
from proxlb.domain import Migration
from proxlb.errors import ApiError
from proxlb.execute.fresh import FreshState, memory_need
from proxlb.execute.jobs import MigrationApi
from proxlb.execute.model import Outcome

log = logging.getLogger(__name__)


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
