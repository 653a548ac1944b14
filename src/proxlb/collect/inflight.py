"""Migrations already in flight (started by anyone): where each locked guest is going.

A guest holding lock `migrate` is being moved right now — by an earlier ProxLB run that was killed,
by another tool, by HA or by an admin. PVE keeps its config (and so `node` in every listing) on the
source until the very end, but the destination already hosts the incoming guest and will host it for
good. Planning and the executor's pre-start check must therefore count it at its destination.

Requests: one `GET /cluster/tasks` when some guest is locked `migrate` (none otherwise), plus one task
log read per such guest (the log names the destination). A guest whose task is not in the cluster-wide
list is looked up in its node's active task list. Invariant: nothing here raises on API failures —
an unknown destination leaves the guest where PVE lists it, with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from proxlb.api.tasks import migration_destination, running_migration_task
from proxlb.collect.port import ApiReader
from proxlb.domain import Guest, VmId
from proxlb.errors import ApiError

MIGRATE_LOCK = "migrate"


def migration_target(reader: ApiReader, node: str, vmid: int, cluster_tasks: object = None) -> str | None:
    """Destination of the migration of `vmid` (config on `node`) in flight now; None when unknown.

    cluster_tasks: an already-read `GET /cluster/tasks` answer (saves a request per guest).
    Raises `ApiError` when PVE cannot be asked.
    """
    found = running_migration_task(cluster_tasks, vmid) if cluster_tasks is not None else None
    if found is None:
        tasks = reader.get(f"/nodes/{node}/tasks", vmid=vmid, source="active", start=0, limit=10)
        found = running_migration_task(tasks, vmid)
    if found is None:
        return None
    upid, task_node = found
    return migration_destination(reader.get(f"/nodes/{task_node}/tasks/{upid}/log", start=0, limit=50))


def with_inflight(
    reader: ApiReader, guests: Iterable[Guest], node_names: frozenset[str], warnings: list[str]
) -> tuple[Guest, ...]:
    """The guests, each one that is migrating placed at its destination (`migrating_from` = source)."""
    result = list(guests)
    locked = [i for i, g in enumerate(result) if g.lock == MIGRATE_LOCK]
    if not locked:
        return tuple(result)
    try:
        cluster_tasks: object = reader.get("/cluster/tasks")
    except ApiError as exc:
        warnings.append(f"GET /cluster/tasks failed ({exc}); in-flight migrations are looked up per node")
        cluster_tasks = None
    for i in locked:
        guest = result[i]
        try:
            target = migration_target(reader, guest.node, guest.vmid, cluster_tasks)
        except ApiError as exc:
            target = None
            warnings.append(f"guest {guest.vmid} is migrating but its task could not be read ({exc})")
        if target is None or target not in node_names:
            warnings.append(
                f"guest {guest.vmid} is locked (migrate) but its destination is unknown; "
                f"it is counted on {guest.node}"
            )
            continue
        if target != guest.node:
            result[i] = replace(guest, node=target, migrating_from=guest.node)
    return tuple(result)


def inflight_targets(guests: Iterable[Guest]) -> dict[VmId, str]:
    """vmid → destination of every guest the snapshot knows to be migrating."""
    return {g.vmid: g.node for g in guests if g.migrating_from is not None}
