"""CP-SAT planner: the best warm start, improved under the shared objective, at any size. Pure.

`solve_cpsat(problem, hints, trigger, budget)` starts from the hint with the lowest objective J
(the greedy plan; on a re-plan also the solver's previous plan, its guests now known to be
immovable left out; no moves without a hint):
- when the free units × their nodes fit EXACT_VARIABLES, one exact model of every unit
  (cpsat_model.solve_sub) hinted with that placement; its bound is CP-SAT's own;
- above that, large-neighbourhood search (planning/lns.py); its bound is the sum of each unit's
  cheapest node.
Both minimise J (planning/score.py), the objective the cycle compares plans on, and the hint is
always a solution of the model (caps are never tighter than what the incumbent has, staying is
always allowed, broken rules are penalties), so the answer is never INFEASIBLE and never worse
than the hint under J (up to the model's rounding to hundredths of a pp; the cycle compares on J
itself). Caps, cooldown and the no-return rule: cpsat_prep.

Time (planning/budget.py): deterministic time in proportion to `solver.timeout_seconds` (or the
wall time left of the cycle's budget), and the budget's wall-clock deadline as the hard end — when
it ends a search, the incumbent so far is the answer and the stats say `cpsat_wall_limited`.

Invariants: deterministic while the deterministic limit ends the search (one worker, fixed seed):
the same problem gives the same plan on any machine fast enough; only wall time varies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, UnmetRule
from proxlb.planning.budget import SolverBudget, deterministic_budget
from proxlb.planning.cpsat_model import Placement, as_moves, solve_sub
from proxlb.planning.cpsat_prep import Prepared, prepare
from proxlb.planning.eligibility import move_reason
from proxlb.planning.lns import Search, lower_bound, rules_by_unit, run_lns, unavoidable
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.score import objective
from proxlb.planning.trigger import Trigger

EXACT_VARIABLES = 6000
EXACT_SHARE = 0.6  # of the budget for J; the rest finds the fewest bytes for the spread reached
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
    problem: PlanningProblem,
    hints: Sequence[Sequence[Migration]] = (),
    trigger: Trigger | None = None,
    budget: SolverBudget | None = None,
) -> SolverResult:
    """The best placement found from the best of `hints` in the time; moves None only when nothing
    can take guests.

    `trigger`: the cycle's one trigger (plan_cycle computes it once); computed when absent.
    `budget`: the cycle's wall-clock deadline (planning/budget.py); None: deterministic time only.
    """
    pb = prepare(problem, trigger)
    if not pb.nodes:
        return SolverResult(None, "no node can take guests")
    det_budget = deterministic_budget(problem.policy.solver.timeout_seconds, budget)
    rules = rules_by_unit(pb)
    starts = [Search.start(pb, _incumbent(pb, hint)) for hint in (hints or [()])]
    search = starts[0]
    if len(starts) > 1:  # judged by the cycle's own J: the model leaves out penalties it cannot
        # change (a split group it holds), which a warm start may have caused
        search = min(starts, key=lambda sr: _cycle_objective(pb, sr.placement))  # greedy's on a tie
    stats: dict[str, float] = {"cpsat_warm_start": float(starts.index(search))}
    placement = list(search.placement)
    free = [u for u, at in enumerate(placement) if at is not None and len(pb.units[u].allowed) > 1]
    size = sum(len(pb.units[u].allowed) for u in free)
    stats.update({"cpsat_units": float(len(free)), "cpsat_variables": float(size)})

    def wall_left() -> float | None:
        return None if budget is None else budget.left()

    if budget is not None and budget.left() <= 0:
        optimal, bound, status = False, lower_bound(pb), "TIME_LIMIT"
        stats.update({"cpsat_exact": 0.0, "cpsat_seconds": 0.0, "cpsat_wall_limited": 1.0})
    elif size <= EXACT_VARIABLES:
        start_value = search.value()
        res = solve_sub(
            pb, free, None, placement, search.totals, det_budget * EXACT_SHARE, SEED, wall_left=wall_left()
        )
        status = res.status
        stats["cpsat_invalid_models"] = float(status == "MODEL_INVALID")
        if res.improved:
            search.try_change(res.changed, rules)
        optimal = status == "OPTIMAL"
        bound = max(res.bound if res.bound is not None else 0.0, lower_bound(pb))
        spent = res.deterministic_time
        cut = res.wall_limited
        left = wall_left()
        if pb.wanted and (left is None or left > 0):
            # lexicographic second phase: the same spread (or less), fewest bytes copied; kept only
            # while J stays below the warm start's, so the answer is still never worse
            trim = solve_sub(
                pb,
                free,
                None,
                search.placement,
                search.totals,
                det_budget - spent,
                SEED,
                keep_spread=True,
                wall_left=left,
            )
            spent += trim.deterministic_time
            cut = cut or trim.wall_limited
            if trim.improved and search.try_change(trim.changed, rules, limit=start_value):
                stats["cpsat_bytes_trimmed"] = 1.0
        else:
            cut = cut or (pb.wanted and left is not None)  # no time left for the second phase
        stats.update({"cpsat_exact": 1.0, "cpsat_seconds": round(spent, 3), "cpsat_wall_limited": float(cut)})
    else:
        search, figures = run_lns(search, rules, det_budget, SEED, budget)
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


def _cycle_objective(pb: Prepared, placement: Placement) -> float:
    """J (planning/score.py) of a placement, as plan_cycle compares plans."""
    moved = as_moves(pb, placement)
    after = pb.state.clone()
    for vmid, _, target in moved:
        after.move(vmid, target)
    return objective(pb.problem, after, moved, start=pb.state)


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
