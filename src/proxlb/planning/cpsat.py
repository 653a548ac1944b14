"""CP-SAT planner: the greedy plan, improved under the shared objective, at any size. Pure.

`solve_cpsat(problem, hint)` starts from `hint` (the greedy plan's moves; no moves without one):
- when the free units × their nodes fit EXACT_VARIABLES, one exact model of every unit
  (cpsat_model.solve_sub) hinted with the greedy placement, within `solver.timeout_seconds` of
  deterministic time; its bound is CP-SAT's own;
- above that, large-neighbourhood search (planning/lns.py) in the same budget; its bound is the
  sum of each unit's cheapest node.
Both minimise J (planning/score.py), the objective the cycle compares plans on, and the hint is
always a solution of the model (caps are never tighter than what the incumbent has, staying is
always allowed, broken rules are penalties), so the answer is never INFEASIBLE and never worse
than the hint under J (up to the model's rounding to hundredths of a pp; the cycle compares on J
itself). Caps, cooldown and the no-return rule: cpsat_prep.

Invariants: deterministic — one worker, fixed seed, budgets in CP-SAT's deterministic time (the
same problem gives the same plan on any machine; only wall time varies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, UnmetRule
from proxlb.planning.cpsat_model import Placement, solve_sub
from proxlb.planning.cpsat_prep import Prepared, prepare
from proxlb.planning.eligibility import move_reason
from proxlb.planning.lns import Search, lower_bound, rules_by_unit, run_lns, unavoidable
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.trigger import Trigger

EXACT_VARIABLES = 6000
EXACT_SHARE = 0.6  # of the budget for J; the rest finds the fewest bytes for the spread reached
DETERMINISTIC_PER_SECOND = 0.35  # CP-SAT deterministic seconds per wall second on one core (measured)
SEED = 0


@dataclass(frozen=True)
class SolverResult:
    moves: tuple[Migration, ...] | None
    status: str
    unmet: tuple[UnmetRule, ...] = ()
    stats: dict[str, float] = field(default_factory=dict)


def _incumbent(pb: Prepared, hint: Sequence[Migration] | None) -> Placement:
    """Per unit, where the hint's moves take it (None: a split group the hint does not join)."""
    target = {m.vmid: m.target for m in hint or ()}
    placement: Placement = []
    for unit in pb.units:
        ends = {target.get(m, s) for m, s in zip(unit.members, unit.start, strict=True)}
        at = ends.pop() if len(ends) == 1 else None
        if at is None or at not in unit.cost:
            at = unit.home if unit.home in unit.cost else None
        placement.append(at)
    return placement


def solve_cpsat(
    problem: PlanningProblem, hint: Sequence[Migration] | None = None, trigger: Trigger | None = None
) -> SolverResult:
    """The best placement found from `hint` in the budget; moves None only when nothing can take guests.

    `trigger`: the cycle's one trigger (plan_cycle computes it once); computed when absent.
    """
    pb = prepare(problem, trigger)
    if not pb.nodes:
        return SolverResult(None, "no node can take guests")
    budget = max(0.1, problem.policy.solver.timeout_seconds) * DETERMINISTIC_PER_SECOND
    placement = _incumbent(pb, hint)
    free = [u for u, at in enumerate(placement) if at is not None and len(pb.units[u].allowed) > 1]
    size = sum(len(pb.units[u].allowed) for u in free)
    stats: dict[str, float] = {"cpsat_units": float(len(free)), "cpsat_variables": float(size)}
    if size <= EXACT_VARIABLES:
        search = Search.start(pb, placement)
        start_value = search.value()
        rules = rules_by_unit(pb)
        res = solve_sub(pb, free, None, placement, search.totals, budget * EXACT_SHARE, SEED)
        status = res.status
        if res.improved:
            search.try_change(res.changed, rules)
        optimal = status == "OPTIMAL"
        bound = max(res.bound if res.bound is not None else 0.0, lower_bound(pb))
        spent = res.deterministic_time
        if pb.wanted:
            # lexicographic second phase: the same spread (or less), fewest bytes copied; kept only
            # while J stays below the greedy plan's, so the answer is still never worse
            trim = solve_sub(
                pb, free, None, search.placement, search.totals, budget - spent, SEED, keep_spread=True
            )
            spent += trim.deterministic_time
            if trim.improved and search.try_change(trim.changed, rules, limit=start_value):
                stats["cpsat_bytes_trimmed"] = 1.0
        stats.update({"cpsat_exact": 1.0, "cpsat_seconds": round(spent, 3)})
    else:
        search, figures = run_lns(pb, placement, budget, SEED)
        stats.update(figures)
        stats["cpsat_exact"] = 0.0
        optimal, bound, status = False, lower_bound(pb), "LNS"
    value = search.value()
    bound = min(bound, value)
    stats["cpsat_status_optimal"] = 1.0 if optimal else 0.0
    stats["cpsat_objective_pp2"] = round(value / pb.scale, 3)
    stats["cpsat_bound_pp2"] = round(bound / pb.scale, 3)
    # the gap is relative to what a plan can still change: penalties no placement avoids are left out
    floor = min(unavoidable(pb), bound)
    stats["cpsat_gap"] = round((value - bound) / (value - floor), 4) if value > floor else 0.0
    return SolverResult(tuple(_moves(pb, search.placement)), status, tuple(pb.unmet), stats)


def _moves(pb: Prepared, placement: Placement) -> list[Migration]:
    problem, state = pb.problem, pb.state
    out: list[Migration] = []
    for u, at in enumerate(placement):
        if at is None:
            continue
        unit = pb.units[u]
        for m, src in zip(unit.members, unit.start, strict=True):
            if src == at:
                continue
            guest = problem.snapshot.guest(m)
            assert guest is not None
            reason = move_reason(problem, VmId(m), src, pb.broken)
            out.append(
                Migration(
                    vmid=VmId(m),
                    name=guest.name,
                    kind=guest.kind,
                    source=src,
                    target=at,
                    reason=reason,
                    detail=f"CP-SAT placement ({reason.value})",
                    bytes_to_copy=state.gload[m].copy_bytes,
                    ha_managed=guest.ha_managed,
                    running=guest.running,
                )
            )
    return sorted(out, key=lambda mg: mg.vmid)
