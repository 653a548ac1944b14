"""One planning run: trigger → planner(s) → sequence → decisions → validate. Pure.

The problem's trigger (balance gate, PSI heat, rule violations) is computed once here and handed
to every registered planner (planning/planners.py); the greedy planner always runs (its draft
carries the per-guest records), CP-SAT when `solver.enable` is set.

Invariants: `plan_cycle` never returns a plan that fails `validate` (it raises PlanningError);
before/after metrics come from the same `LoadState` measures for every planner; every guest of the
snapshot gets exactly one `Decision` record (sentences are made by proxlb.report.sentences).
"""

from __future__ import annotations

from collections.abc import Sequence

from proxlb.domain.decision import Cause, CauseKind, Decision, Stop, Verdict, held, moving
from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, Plan, UnmetRule
from proxlb.errors import PlanningError
from proxlb.planning.curve import best_prefix
from proxlb.planning.draft import Draft
from proxlb.planning.guard import enforce_never_worse
from proxlb.planning.metrics import LoadState
from proxlb.planning.planners import PLANNERS, Proposal
from proxlb.planning.policy import SolverMode
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.sequence import sequence
from proxlb.planning.stopped import stop_causes
from proxlb.planning.trigger import Trigger, should_rebalance
from proxlb.planning.validate import validate

GUEST_RULES = ("drain", "pin", "anti-affinity", "affinity")  # unmet kinds a single guest's repair reports


def state_after(problem: PlanningProblem, moves: Sequence[Migration]) -> LoadState:
    """The what-if state once `moves` (in order) are done."""
    state = LoadState.of(problem)
    for m in moves:
        state.move(m.vmid, m.target)
    return state


def _unmet_by_guest(unmet: Sequence[UnmetRule]) -> dict[VmId, UnmetRule]:
    """The first unmet repair of each guest (a rule that could not move that one guest)."""
    found: dict[VmId, UnmetRule] = {}
    for u in unmet:
        if u.kind in GUEST_RULES and len(u.vmids) == 1:
            found.setdefault(u.vmids[0], u)
    return found


NEVER_WORSE = Cause(
    CauseKind.LIMIT, "never_worse", "its move would have raised the spread or the highest node load"
)
UNORDERED = Cause(CauseKind.PLAN, "sequence", "its planned move could not be ordered safely (see unmet)")


def _fill_decisions(
    problem: PlanningProblem,
    draft: Draft,
    moves: Sequence[Migration],
    stop: Stop,
    dropped: frozenset[VmId] = frozenset(),
) -> dict[VmId, Decision]:
    final = {m.vmid: m for m in moves}
    unmet_for = _unmet_by_guest(draft.unmet)
    decisions: dict[VmId, Decision] = {}
    for g in problem.snapshot.guests:
        v = g.vmid
        earlier = draft.decisions.get(v)
        if v in final:
            m = final[v]
            decisions[v] = moving(v, g.node, m.target, m.reason, m.detail)
        elif v in draft.fixed:
            decisions[v] = held(v, g.node, draft.fixed[v])
        elif v in unmet_for:
            u = unmet_for[v]
            decisions[v] = held(v, g.node, Cause(CauseKind.UNMET, u.rule, u.why))
        elif earlier is not None and not earlier.moves:
            decisions[v] = earlier
        elif v in dropped:
            decisions[v] = held(v, g.node, NEVER_WORSE)
        elif v in draft.moved:
            decisions[v] = held(v, g.node, UNORDERED)
        else:
            decisions[v] = Decision(v, Verdict.STAYS, g.node, stop.cause())
    return decisions


def _solver_stats(
    problem: PlanningProblem, greedy: Sequence[Migration], solver: Proposal, stats: dict[str, float]
) -> None:
    """CP-SAT beside greedy: both plans' size and spread, and how many moves they share."""
    stats.update(solver.stats)
    greedy_after = state_after(problem, greedy)
    stats["greedy_migrations"] = float(len(greedy))
    stats["greedy_spread_after"] = round(greedy_after.spread(), 3)
    if solver.moves is not None:
        cp_after = state_after(problem, solver.moves)
        stats["cpsat_migrations"] = float(len(solver.moves))
        stats["cpsat_spread_after"] = round(cp_after.spread(), 3)
        stats["cpsat_gib_to_copy"] = round(sum(m.bytes_to_copy for m in solver.moves) / 2**30, 3)
        same = {(m.vmid, m.target) for m in greedy} & {(m.vmid, m.target) for m in solver.moves}
        stats["planners_agree_moves"] = float(len(same))


def _candidates(
    problem: PlanningProblem, trigger: Trigger, greedy: Proposal, draft: Draft, stats: dict[str, float]
) -> list[tuple[str, list[Migration], list[UnmetRule]]]:
    """The plans to try in order: CP-SAT's (when active), then greedy's (when allowed as fallback)."""
    unmet = list(greedy.unmet)
    greedy_moves = list(greedy.moves or ())
    solver_cfg = problem.policy.solver
    if not (solver_cfg.enable and (trigger.triggered or greedy_moves)):
        return [(greedy.planner, greedy_moves, unmet)]
    solver = PLANNERS["cpsat"].plan(problem, trigger)
    _solver_stats(problem, greedy_moves, solver, stats)
    if solver_cfg.mode is not SolverMode.ACTIVE:
        return [(greedy.planner, greedy_moves, unmet)]
    if solver.moves is None:
        if solver_cfg.fallback_to_greedy:
            draft.warnings.append(f"CP-SAT found no plan ({solver.status}); using the greedy plan")
            return [(greedy.planner, greedy_moves, unmet)]
        why = f"CP-SAT found no plan ({solver.status}); fallback_to_greedy is off"
        moves: list[Migration] = []
        solver_unmet = [UnmetRule("solver", why, "solver")]
    else:
        moves, solver_unmet = list(solver.moves), list(solver.unmet)
    keep = [u for u in unmet if u.kind in ("drain", "solver")]
    out = [("cpsat", moves, keep + solver_unmet)]
    if solver_cfg.fallback_to_greedy:
        out.append((greedy.planner, greedy_moves, unmet))
    return out


def plan_cycle(problem: PlanningProblem) -> Plan:
    """Plan one cycle. Raises PlanningError if the plan fails validation (it is never returned then)."""
    before = LoadState.of(problem)
    trigger = should_rebalance(problem, before)  # once per problem: every planner judges this one
    greedy = PLANNERS["greedy"].plan(problem, trigger)
    draft = greedy.draft
    assert draft is not None  # the greedy planner always hands its draft over
    stats: dict[str, float] = {}
    candidates = _candidates(problem, trigger, greedy, draft, stats)
    errors: tuple[str, ...] = ()
    for name, all_moves, notes in candidates:
        moves, left = best_prefix(problem, all_moves, problem.policy.max_migrations)
        if left:
            draft.warnings.append(
                f"max_migrations {problem.policy.max_migrations}: {name} planned {len(all_moves)} moves; "
                f"kept the {len(moves)} that pay most, {len(left)} left for a later cycle"
            )
        plan = _assemble(problem, draft, before, trigger, name, moves, notes, greedy.stop, stats)
        errors = validate(plan, problem)
        if not errors:
            return plan
        draft.warnings.append(f"{name} plan failed validation: {errors[0]}")
    raise PlanningError("plan failed validation: " + "; ".join(errors[:10]))


def _assemble(
    problem: PlanningProblem,
    draft: Draft,
    before: LoadState,
    trigger: Trigger,
    planner: str,
    moves: list[Migration],
    unmet: list[UnmetRule],
    stop: Stop,
    stats: dict[str, float],
) -> Plan:
    moves, dropped, worse = enforce_never_worse(problem, moves)
    ordered, seq_unmet = sequence(moves, problem)
    placed = {m.vmid for m in ordered}
    if placed != {m.vmid for m in moves}:  # sequencing left some out: judge what remains
        moves, more, worse = enforce_never_worse(problem, [m for m in moves if m.vmid in placed])
        if more:
            dropped += more
            ordered, seq_unmet = sequence(moves, problem)
    after = state_after(problem, ordered)
    notes = [*draft.warnings, *([worse] if worse else [])]
    return Plan(
        snapshot_fingerprint=problem.snapshot.fingerprint(),
        migrations=ordered,
        decisions=_fill_decisions(problem, draft, ordered, stop, frozenset(m.vmid for m in dropped)),
        unmet=tuple(unmet) + seq_unmet,
        imbalance_before=round(before.spread(), 3),
        imbalance_after=round(after.spread(), 3),
        metrics_before=before.percentages(),
        metrics_after=after.percentages(),
        triggered=trigger.triggered,
        trigger_reason=trigger.reason,
        planner=planner,
        stats={
            **stats,
            "objective_before": round(before.objective(), 3),
            "objective_after": round(after.objective(), 3),
            "migrations": float(len(ordered)),
            "steps": float(max((m.step for m in ordered), default=-1) + 1),
            "gib_to_copy": round(sum(m.bytes_to_copy for m in ordered) / 2**30, 3),
        },
        warnings=tuple(dict.fromkeys(notes)),
        stopped_by=stop_causes(problem, draft, after, stop) if trigger.triggered else (),
    )
