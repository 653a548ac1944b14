"""Small snapshot builders for rules tests."""

from __future__ import annotations

from typing import Any

from proxlb.domain import GIB, ClusterSnapshot, Guest, GuestKind, HaRule, Node, Resources, VmId


def node(name: str, online: bool = True, **extra: Any) -> Node:
    return Node(name, online, Resources(16000, 64 * GIB, 100 * GIB), Resources(1000, 8 * GIB, 0), **extra)


def guest(
    vmid: int,
    on: str = "pve1",
    tags: tuple[str, ...] = (),
    kind: GuestKind = GuestKind.QEMU,
    status: str = "running",
    **extra: Any,
) -> Guest:
    return Guest(
        VmId(vmid),
        extra.pop("name", f"g{vmid}"),
        kind,
        on,
        status,
        Resources(2000, 4 * GIB, 32 * GIB),
        Resources(500, 2 * GIB, 0),
        tags=tags,
        **extra,
    )


def snapshot(
    guests: list[Guest],
    nodes: tuple[str, ...] = ("pve1", "pve2", "pve3"),
    pools: dict[str, set[int]] | None = None,
    ha_rules: tuple[HaRule, ...] = (),
    extra_nodes: tuple[Node, ...] = (),
) -> ClusterSnapshot:
    return ClusterSnapshot(
        taken_at=0.0,
        nodes=tuple(node(n) for n in nodes) + extra_nodes,
        guests=tuple(guests),
        pools={k: frozenset(VmId(v) for v in members) for k, members in (pools or {}).items()},
        ha_rules=ha_rules,
    )
