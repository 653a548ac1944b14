"""Per-node resource accounting before and after a plan, for reports. Pure; no I/O.

`assigned` counts the configured size of every guest on the node, stopped ones included
(their memory is committed); `used` counts measured usage of running guests as the node
reports it, shifted by the usage of the guests the plan moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from proxlb.domain import ClusterSnapshot, Plan, Resources


@dataclass(frozen=True, slots=True)
class NodeAccount:
    name: str
    capacity: Resources  # after reserve
    used: Resources
    assigned: Resources
    guests: int


def node_accounts(
    snapshot: ClusterSnapshot,
    plan: Plan | None = None,
    reserve: Mapping[str, Resources] | None = None,
) -> dict[str, NodeAccount]:
    """Node totals for the snapshot, or for the state after `plan` when one is given."""
    reserve = reserve or {}
    placement = {g.vmid: g.node for g in snapshot.guests}
    if plan is not None:
        for m in plan.migrations:
            placement[m.vmid] = m.target
    used = {n.name: n.usage for n in snapshot.nodes}
    assigned = {n.name: Resources() for n in snapshot.nodes}
    count = dict.fromkeys(used, 0)
    for g in snapshot.guests:
        where = placement[g.vmid]
        if where in assigned:
            assigned[where] = assigned[where] + g.allocated
            count[where] += 1
        if where != g.node and g.running:
            if g.node in used:
                used[g.node] = (used[g.node] - g.usage).clamp_min_zero()
            if where in used:
                used[where] = used[where] + g.usage
    return {
        n.name: NodeAccount(
            name=n.name,
            capacity=(n.capacity - reserve.get(n.name, Resources())).clamp_min_zero(),
            used=used[n.name],
            assigned=assigned[n.name],
            guests=count[n.name],
        )
        for n in snapshot.nodes
    }


def percent(part: int, whole: int) -> float:
    """part/whole in percent, 0.0 when whole is 0 (offline or unknown capacity)."""
    return round(100.0 * part / whole, 2) if whole > 0 else 0.0
