"""Eligibility, cooldown and reason rules shared by every planner (greedy, replay, PSI, CP-SAT). Pure.

One definition each, so two planners cannot disagree on who may move and why a move happens:

- `fixed_reason` (planning/problem.py): why a guest may not move at all;
- `cooldown_until`: guests moved within `cooldown_minutes` get no balancing move, until when;
- `static_allowed`: the placement rules that do not depend on load (strict pins, preferred pins
  the guest already honours, the local storages it needs) — CP-SAT's domain filter; the greedy
  planners see the same rules through the `strict-pin`, `preferred-pin` and `disk` checks;
- `move_reason`: drain when it leaves a drained node, rule when it repairs a broken rule, else
  balance.

Invariants: read-only over the problem; deterministic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from proxlb.domain.model import VmId
from proxlb.domain.plan import MigrationReason
from proxlb.planning.problem import PlanningProblem, fixed_reason
from proxlb.planning.pve_balancer import moved_lately, pve_owned

__all__ = ["cooldown_until", "fixed_reason", "move_reason", "static_allowed"]


def cooldown_until(problem: PlanningProblem) -> dict[VmId, float]:
    """Guests not to move for balance → until when: moved within `cooldown_minutes` (by ProxLB, or by
    anyone lately: PVE's balancer), or left to PVE's auto-rebalance (→ infinity; pve_balancer.py)."""
    limit = problem.policy.cooldown_seconds
    out = {v: t + limit for v, t in problem.recently_moved.items() if limit > 0 and problem.now - t < limit}
    for v, t in moved_lately(problem).items():  # moved by PVE's balancer (or anyone) lately
        out[v] = max(out.get(v, 0.0), t + limit)
    out.update(dict.fromkeys(pve_owned(problem), float("inf")))
    return out


def static_allowed(
    problem: PlanningProblem, placement: Mapping[VmId, str], members: tuple[VmId, ...], node: str
) -> bool:
    """May this unit run on `node` as far as load-independent rules go?"""
    idx = problem.index
    snap_node = problem.snapshot.node(node)
    for m in members:
        strict = idx.strict_pins.get(m)
        if strict is not None and node not in strict:
            return False
        soft = idx.soft_pins.get(m)
        if soft is not None and placement[m] in soft and node not in soft:
            return False
        guest = problem.snapshot.guest(m)
        storages = snap_node.storages if snap_node else frozenset()
        if guest and guest.local_storages and storages and not guest.local_storages <= storages:
            return False
    return True


def move_reason(
    problem: PlanningProblem, vmid: VmId, src: str, repairing: Collection[VmId]
) -> MigrationReason:
    """Why a move of `vmid` from `src` happens: leaving a drained node, repairing a rule, or balance."""
    if src in problem.index.drained:
        return MigrationReason.DRAIN
    if vmid in repairing:
        return MigrationReason.RULE
    return MigrationReason.BALANCE
