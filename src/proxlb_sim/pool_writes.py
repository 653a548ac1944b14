"""Pool membership writes: `PUT /pools/{poolid}` (deprecated form) and `PUT /pools?poolid=` (PVE 8.2+).

Follows pve-manager `PVE/API2/Pool.pm` (`update_pool`): Pool.Allocate on `/pool/{poolid}`, and for
each guest or storage added or removed the right to modify its permissions (`Permissions.Modify`, or
`VM.Allocate` / `Datastore.Allocate`); a guest in another pool needs `allow-move` (and Pool.Allocate
there); errors inside the user.cfg lock carry `update pools failed: `. A guest's pool is what
`/cluster/resources`, `/pools/{id}` and ProxLB's pool rules see next. Callers hold the cluster lock.
"""

from __future__ import annotations

import re

from proxlb_sim.handlers import Request
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route
from proxlb_sim.state import Pool

SPEC = {
    "comment": "string",
    "vms": "string",
    "storage": "string",
    "allow-move": "boolean",
    "delete": "boolean",
}
_FAILED = "update pools failed"


def _split(text: object) -> list[str]:
    return [x for x in re.split(r"[;, ]+", str(text or "")) if x]


def _may_modify(r: Request, path: str, alternative: str) -> None:
    auth = r.cluster.auth
    if not any(auth.has_priv(r.who, path, p) for p in ("Permissions.Modify", alternative)):
        raise PveError(403, f"Permission check failed ({path}, Permissions.Modify|{alternative})")


def _move_guest(r: Request, pool: Pool, vmid: int, delete: bool) -> None:
    c = r.cluster
    _may_modify(r, f"/vms/{vmid}", "VM.Allocate")
    member = str(vmid)
    guest = c.guests.get(vmid)
    if delete:
        if member not in pool.members:
            raise PveError(500, f"{_FAILED}: VM {vmid} is not a pool member")
        pool.members.remove(member)
        if guest is not None:
            guest.pool = None
        return
    if member in pool.members:
        raise PveError(500, f"{_FAILED}: VM {vmid} is already a pool member")
    current = next((p for p in c.pools.values() if member in p.members), None)
    if current is not None:
        if not r.params.get("allow-move"):
            raise PveError(
                500,
                f"{_FAILED}: VM {vmid} belongs already to pool '{current.poolid}' "
                "and 'allow-move' is not set",
            )
        c.auth.require(r.who, f"/pool/{current.poolid}", "Pool.Allocate")
        current.members.remove(member)
    pool.members.append(member)
    if guest is not None:
        guest.pool = pool.poolid


def _move_storage(r: Request, pool: Pool, storage: str, delete: bool) -> None:
    _may_modify(r, f"/storage/{storage}", "Datastore.Allocate")
    member = f"storage:{storage}"
    if delete:
        if member not in pool.members:
            raise PveError(500, f"{_FAILED}: Storage '{storage}' is not a pool member")
        pool.members.remove(member)
    else:
        if member in pool.members:
            raise PveError(500, f"{_FAILED}: Storage '{storage}' is already a pool member")
        pool.members.append(member)


def update_pool(r: Request) -> None:
    c = r.cluster
    poolid = str(r.params["poolid"])
    c.auth.require(r.who, f"/pool/{poolid}", "Pool.Allocate")
    pool = c.pools.get(poolid)
    if pool is None:
        raise PveError(500, f"{_FAILED}: pool '{poolid}' does not exist")
    delete = bool(r.params.get("delete"))
    vmids = _split(r.params.get("vms"))
    for text in vmids:
        if not text.isdigit() or not 100 <= int(text) <= 999_999_999:
            raise PveError.params({"vms": f"value '{text}' does not look like a valid VM ID"})
    if "comment" in r.params:
        pool.comment = str(r.params["comment"]) or None
    for text in vmids:
        _move_guest(r, pool, int(text), delete)
    for storage in _split(r.params.get("storage")):
        _move_storage(r, pool, storage, delete)
    c.bump()


ROUTES: tuple[Route, ...] = (
    route("PUT", "/pools/{poolid}", update_pool, SPEC),
    route("PUT", "/pools", update_pool, {"poolid!": "string", **SPEC}),
)
