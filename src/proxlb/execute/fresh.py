"""Fresh cluster state for the executor's pre-start checks. Pure parsing and checking; no I/O.

One `GET /cluster/resources` per scheduling round is parsed into `FreshState`; `precheck` says
whether a planned migration may still start, and if not, why. Invariant: odd entries are ignored,
never fatal; a guest or node that is missing from the answer fails the check with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from proxlb.collect.raw import as_float
from proxlb.domain import GuestKind, Migration
from proxlb.execute.model import ExecutionSettings


@dataclass(frozen=True, slots=True)
class FreshGuest:
    vmid: int
    node: str
    kind: str
    status: str
    lock: str | None
    mem_bytes: int
    maxmem_bytes: int
    ha_managed: bool = False  # PVE's HA stack may move it (recovery, 9.2 auto-rebalance)

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True, slots=True)
class FreshNode:
    name: str
    online: bool
    mem_bytes: int
    maxmem_bytes: int


@dataclass(frozen=True)
class FreshState:
    guests: Mapping[int, FreshGuest]
    nodes: Mapping[str, FreshNode]


def _int(value: Any) -> int:
    """A whole number from PVE's JSON; 0 for anything else (text, `Infinity`, NaN, 1e308)."""
    number = as_float(value)
    return int(number) if number is not None else 0


def parse_resources(data: Any) -> FreshState:
    """Parse GET /cluster/resources (any `type` filter) into guests by vmid and nodes by name."""
    guests: dict[int, FreshGuest] = {}
    nodes: dict[str, FreshNode] = {}
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, Mapping):
            continue
        kind = entry.get("type")
        if kind in ("qemu", "lxc"):
            vmid = _int(entry.get("vmid"))
            if vmid <= 0:
                continue
            lock = entry.get("lock")
            guests[vmid] = FreshGuest(
                vmid=vmid,
                node=str(entry.get("node", "")),
                kind=str(kind),
                status=str(entry.get("status", "unknown")),
                lock=str(lock) if lock else None,
                mem_bytes=_int(entry.get("mem")),
                maxmem_bytes=_int(entry.get("maxmem")),
                ha_managed=bool(entry.get("hastate")),
            )
        elif kind == "node":
            name = str(entry.get("node", ""))
            if name:
                nodes[name] = FreshNode(
                    name=name,
                    online=entry.get("status") == "online",
                    mem_bytes=_int(entry.get("mem")),
                    maxmem_bytes=_int(entry.get("maxmem")),
                )
    return FreshState(guests, nodes)


def memory_need(guest: FreshGuest) -> int:
    """Memory a guest brings to its target: what it uses now when running; nothing when stopped."""
    return guest.mem_bytes if guest.running else 0


def precheck(
    migration: Migration,
    state: FreshState,
    settings: ExecutionSettings,
    incoming_bytes: Mapping[str, int],
) -> str | None:
    """None when the move may start now; otherwise the human reason to skip it.

    incoming_bytes: memory of migrations already in flight towards each node (not yet visible in
    the node's `mem`), so several moves to one node cannot together overfill it.
    """
    guest = state.guests.get(migration.vmid)
    if guest is None:
        return "guest no longer exists"
    if guest.node != migration.source:
        if guest.node == migration.target:
            return f"already on {migration.target}"
        return f"guest is on {guest.node}, not on the planned source {migration.source}"
    if guest.lock:
        return f"guest is locked ({guest.lock})"
    source = state.nodes.get(migration.source)
    if source is not None and not source.online:
        return f"source {migration.source} is offline"
    target = state.nodes.get(migration.target)
    if target is None:
        return f"target {migration.target} is not in the cluster"
    if not target.online:
        return f"target {migration.target} is offline"
    if migration.target in settings.drained_nodes:
        return f"target {migration.target} is being drained (maintenance)"
    if guest.kind == GuestKind.QEMU.value and guest.running and not settings.live:
        return "running VM and live migration is off (balancing.live: false)"
    need = memory_need(guest)
    if need and target.maxmem_bytes:
        free = (
            target.maxmem_bytes
            - target.mem_bytes
            - settings.reserve_for(migration.target)
            - incoming_bytes.get(migration.target, 0)
        )
        if need > free:
            return (
                f"not enough memory left on {migration.target}: needs {need / 1024**3:.1f} GiB, "
                f"{max(0, free) / 1024**3:.1f} GiB free"
            )
    return None


def quorate(status: Any) -> bool:
    """The `quorate` flag of GET /cluster/status (a standalone node without a cluster is quorate)."""
    for entry in status if isinstance(status, list) else []:
        if isinstance(entry, Mapping) and entry.get("type") == "cluster":
            return str(entry.get("quorate", 0)) in ("1", "True", "true")
    return True


def node_of(state: FreshState, m: Migration) -> str | None:
    """The node `state` shows `m`'s guest on (None when the guest is gone)."""
    guest = state.guests.get(m.vmid)
    return None if guest is None else guest.node


def nodes_of(migrations: Iterable[Migration]) -> frozenset[str]:
    return frozenset(n for m in migrations for n in (m.source, m.target))
