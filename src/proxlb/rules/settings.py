"""What the rules stage needs from the configuration, as a small frozen value. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from proxlb.config.model import ProxlbConfig


@dataclass(frozen=True)
class PoolRule:
    """`balancing.pools.<pool>`: type affinity | anti-affinity | None, pin nodes, strictness of the pin."""

    type: str | None = None
    pin: tuple[str, ...] = ()
    strict: bool = True


@dataclass(frozen=True)
class RuleSettings:
    """balance_types: 'vm'/'ct' that may move (empty = none, upstream semantics)."""

    balance_types: frozenset[str] = frozenset({"vm", "ct"})
    ignore_guests: tuple[str, ...] = ()
    pools: Mapping[str, PoolRule] = field(default_factory=dict)
    with_local_disks: bool = True
    static_maintenance: frozenset[str] = frozenset()  # proxmox_cluster.maintenance_nodes as written


def rule_settings(config: ProxlbConfig) -> RuleSettings:
    """The parts of the configuration that become constraints."""
    balancing = config.balancing
    pools = {
        name: PoolRule(
            type=pool.type.value if pool.type is not None else None,
            pin=tuple(pool.pin or ()),
            strict=pool.strict,
        )
        for name, pool in sorted((balancing.pools or {}).items())
    }
    return RuleSettings(
        balance_types=frozenset(str(t) for t in balancing.balance_types),
        ignore_guests=tuple(balancing.ignore_guests),
        pools=pools,
        with_local_disks=balancing.with_local_disks,
        static_maintenance=frozenset(config.proxmox_cluster.maintenance_nodes),
    )
