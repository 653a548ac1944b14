"""`balancing.node_resource_reserve` against the nodes' real capacities. Pure.

The YAML cannot know a node's size, so this check runs each cycle once the snapshot is read: a
reserve at or above a node's capacity (typically MiB written where GiB are meant) would leave the
node no usable room, so it is an error naming the node instead of being silently ignored.
Invariant: only online nodes with a known capacity are judged; disk only where the node has local
guest storage.
"""

from __future__ import annotations

from collections.abc import Iterable

from proxlb.config.balancing import BalancingConfig
from proxlb.domain.model import Node
from proxlb.domain.resources import GIB


def _gib(n: int) -> str:
    return f"{n / GIB:g} GiB"


def _cores(milli: int) -> str:
    return f"{milli / 1000:g} cores"


def reserve_problems(balancing: BalancingConfig, nodes: Iterable[Node]) -> tuple[str, ...]:
    """One line per node whose reserve of memory, cpu or disk is not smaller than its capacity."""
    found: list[str] = []
    for node in nodes:
        cap, res = node.capacity, balancing.reserve_for(node.name)
        if not node.online:
            continue
        checks = (
            ("memory", res.mem_bytes, cap.mem_bytes, _gib),
            ("cpu", res.cpu_milli, cap.cpu_milli, _cores),
            ("disk", res.disk_bytes, cap.disk_bytes, _gib),
        )
        for what, reserved, capacity, show in checks:
            if capacity > 0 and reserved > 0 and reserved >= capacity:
                found.append(
                    f"balancing.node_resource_reserve: {node.name} reserves {show(reserved)} of {what}, "
                    f"not less than its capacity of {show(capacity)} (memory and disk are GiB, cpu cores)"
                )
    return tuple(found)
