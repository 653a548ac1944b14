"""Living beside Proxmox VE 9.2's own balancer (HA CRM auto-rebalance). Pure.

When `/cluster/options` has `crs` with `ha-auto-rebalance=1` (and a static or dynamic scheduler),
PVE migrates HA resources itself. By default (`balancing.pve_auto_rebalance: leave_ha_to_pve`)
ProxLB then leaves the HA resources PVE owns — every HA resource without `auto-rebalance: 0`,
except 'ignored' ones, which PVE's CRM does not manage — to PVE: it still counts their load, still
drains maintenance nodes and repairs rules through PVE HA, but never moves them for balance. With
`balance_all` it balances every guest and warns that PVE's auto-rebalance should be off.

Invariants: derived from the snapshot and policy only; empty when PVE's balancer is off.
"""

from __future__ import annotations

from proxlb.domain.decision import Cause, CauseKind
from proxlb.domain.model import VmId
from proxlb.planning.problem import PlanningProblem


def pve_owned(problem: PlanningProblem) -> frozenset[VmId]:
    """Guests ProxLB leaves to PVE's auto-rebalance for balancing (empty unless it is on)."""
    snap = problem.snapshot
    if not snap.crs.pve_balances or not problem.policy.failover.leave_ha_to_pve:
        return frozenset()
    return frozenset(
        g.vmid
        for g in snap.guests
        if g.ha_state is not None and g.ha_state != "ignored" and g.vmid not in snap.ha_auto_rebalance_off
    )


OWNED = Cause(
    CauseKind.RULE,
    "pve_auto_rebalance",
    "PVE's auto-rebalance balances this HA resource "
    "(balancing.pve_auto_rebalance: leave_ha_to_pve; set auto-rebalance=0 on it to hand it to ProxLB)",
)


def coexistence_note(problem: PlanningProblem) -> str | None:
    """The once-per-cycle sentence about PVE's balancer, or None when it is off."""
    crs = problem.snapshot.crs
    if not crs.pve_balances:
        return None
    if problem.policy.failover.leave_ha_to_pve:
        owned = len(pve_owned(problem))
        return (
            f"PVE auto-rebalance is on ({crs.describe()}): {owned} HA resources are left to PVE for "
            "balancing; ProxLB balances the other guests and still drains and repairs all of them"
        )
    return (
        f"PVE auto-rebalance is on ({crs.describe()}) and balancing.pve_auto_rebalance is balance_all: "
        "ProxLB balances HA resources too; turn PVE's auto-rebalance off (ha-auto-rebalance=0 in "
        "Datacenter → Options → Cluster Resource Scheduling) so the two balancers do not undo each other"
    )


def moved_lately(problem: PlanningProblem) -> dict[VmId, float]:
    """vmid → epoch of a migration by anyone (PVE's CRM included) within `cooldown_minutes`, read
    while PVE's balancer is on: ProxLB never balances a guest PVE just moved (no tug of war)."""
    limit = problem.policy.cooldown_seconds
    if limit <= 0:
        return {}
    return {v: t for v, t in problem.snapshot.recent_migrations.items() if problem.now - t < limit}
