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
from dataclasses import dataclass

from proxlb.domain.decision import Cause, CauseKind, Decision, Stop, Verdict, held, moving
from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, Plan, UnmetRule
from proxlb.errors import PlanningError
from proxlb.planning.budget import SolverBudget
from proxlb.planning.curve import best_prefix
from proxlb.planning.draft import Draft
from proxlb.planning.guard import enforce_never_worse
from proxlb.planning.headroom import report_of
from proxlb.planning.metrics import LoadState
from proxlb.planning.planners import PLANNERS, Proposal
from proxlb.planning.policy import SolverMode
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.score import objective
from proxlb.planning.sequence import sequence
from proxlb.planning.stopped import stop_causes
from proxlb.planning.trigger import Trigger, should_rebalance, violations, wanted_repairs
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
    moved, stopped = draft.moved, stop.cause()
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
        elif v in moved:
            decisions[v] = held(v, g.node, UNORDERED)
        else:
            decisions[v] = Decision(v, Verdict.STAYS, g.node, stopped)
    return decisions


def _solver_stats(
    problem: PlanningProblem, greedy: Sequence[Migration], solver: Proposal, stats: dict[str, float]
) -> tuple[float, float]:
    """CP-SAT beside greedy: both plans' size, spread and shared objective J (planning/score.py).
    Returns (greedy's J, CP-SAT's J; infinity without a CP-SAT plan)."""
    stats.update(solver.stats)
    greedy_after = state_after(problem, greedy)
    greedy_j = objective(problem, greedy_after, [(m.vmid, m.source, m.target) for m in greedy])
    stats["greedy_migrations"] = float(len(greedy))
    stats["greedy_spread_after"] = round(greedy_after.spread(), 3)
    stats["greedy_gib_to_copy"] = round(sum(m.bytes_to_copy for m in greedy) / 2**30, 3)
    stats["greedy_objective_pp2"] = round(greedy_j, 3)
    cp_j = float("inf")
    if solver.moves is not None:
        cp_after = state_after(problem, solver.moves)
        cp_j = objective(problem, cp_after, [(m.vmid, m.source, m.target) for m in solver.moves])
        stats["cpsat_objective_pp2"] = round(cp_j, 3)
        stats["cpsat_migrations"] = float(len(solver.moves))
        stats["cpsat_spread_after"] = round(cp_after.spread(), 3)
        stats["cpsat_gib_to_copy"] = round(sum(m.bytes_to_copy for m in solver.moves) / 2**30, 3)
        same = {(m.vmid, m.target) for m in greedy} & {(m.vmid, m.target) for m in solver.moves}
        stats["planners_agree_moves"] = float(len(same))
    return greedy_j, cp_j


def _still_unmet(
    problem: PlanningProblem, moves: list[Migration], greedy: list[UnmetRule]
) -> list[UnmetRule]:
    """The rules a solver plan leaves broken: greedy's record when greedy left the same rule
    broken, else the violation itself; drains, rule conflicts (facts of the rules, whatever the
    plan) and notes about the solver are kept."""
    left = wanted_repairs(problem, violations(problem, state_after(problem, moves).placement))
    names = {v.rule for v in left}
    out = [u for u in greedy if u.rule in names or u.kind in ("drain", "conflict", "solver")]
    known = {u.rule for u in out}
    out.extend(UnmetRule(v.rule, v.detail, v.kind, v.vmids) for v in left if v.rule not in known)
    return out


def _candidates(
    problem: PlanningProblem,
    trigger: Trigger,
    greedy: Proposal,
    draft: Draft,
    stats: dict[str, float],
    solving: Solving,
) -> list[tuple[str, list[Migration], list[UnmetRule]]]:
    """The plans to try in order. CP-SAT (when `solver.enable`) starts from the greedy plan or the
    solver's earlier plan of this cycle, whichever has the lower J; in active mode its plan goes
    first when its objective J is not higher than greedy's (why the winner won goes to the planner
    notes), then greedy's when `fallback_to_greedy` allows."""
    unmet = list(greedy.unmet)
    greedy_moves = list(greedy.moves or ())
    solver_cfg = problem.policy.solver
    only_greedy = [(greedy.planner, greedy_moves, unmet)]
    if not (solver_cfg.enable and (trigger.triggered or greedy_moves)):
        return only_greedy
    hints = [greedy_moves, *([list(solving.warm)] if solving.warm else [])]
    solver = PLANNERS["cpsat"].plan(problem, trigger, hints, solving.budget)
    greedy_j, cp_j = _solver_stats(problem, greedy_moves, solver, stats)
    if solver.stats.get("cpsat_wall_limited"):
        draft.warnings.append(
            f"CP-SAT stopped at the wall-clock limit (solver.timeout_seconds {solver_cfg.timeout_seconds:g}) "
            "before its deterministic budget: its plan is the best found by then and may differ run to run"
        )
    if solver_cfg.mode is not SolverMode.ACTIVE:
        return only_greedy
    objective_note = "(balance + move costs + broken rules, pp²)"
    if solver.moves is not None and cp_j > greedy_j + 1e-6:
        draft.warnings.append(
            f"greedy plan kept: objective {greedy_j:.1f} < CP-SAT's {cp_j:.1f} {objective_note}"
        )
        return only_greedy
    if solver.moves is not None:
        gap = solver.stats.get("cpsat_gap")
        draft.warnings.append(
            f"CP-SAT plan chosen: objective {cp_j:.1f} ≤ greedy's {greedy_j:.1f} {objective_note}"
            + (f"; optimality gap ≤ {100 * gap:.1f} %" if gap is not None else "")
        )
        moves = list(solver.moves)
        notes = _still_unmet(problem, moves, unmet) + list(solver.unmet)
    elif solver_cfg.fallback_to_greedy:
        draft.warnings.append(f"CP-SAT found no plan ({solver.status}); using the greedy plan")
        return only_greedy
    else:
        why = f"CP-SAT found no plan ({solver.status}); fallback_to_greedy is off"
        moves = []
        notes = [*_still_unmet(problem, moves, unmet), UnmetRule("solver", why, "solver")]
    out = [("cpsat", moves, notes)]
    if solver_cfg.fallback_to_greedy:
        out.append((greedy.planner, greedy_moves, unmet))
    return out


def _headroom_first(
    problem: PlanningProblem,
    candidates: list[tuple[str, list[Migration], list[UnmetRule]]],
    warnings: list[str],
) -> list[tuple[str, list[Migration], list[UnmetRule]]]:
    """Failover headroom prefer/require: a candidate plan (CP-SAT) that leaves more HA memory without
    a restart node than another (greedy) does is dropped, so both planners honour the headroom."""
    if len(candidates) < 2 or not problem.policy.failover.plans:
        return candidates
    short = {
        name: report_of(problem, state_after(problem, moves)).overflow_bytes for name, moves, _ in candidates
    }
    least = min(short.values())
    kept = [c for c in candidates if short[c[0]] == least]
    for name, _, _ in candidates:
        if short[name] > least:
            warnings.append(f"{name} plan dropped: it leaves less failover headroom than the other planner's")
    return kept


def _headroom_stats(problem: PlanningProblem, before: LoadState, after: LoadState) -> dict[str, float]:
    """Failover figures for the plan's stats (modes report/prefer/require, HA guests present)."""
    if problem.policy.failover.mode == "off" or not any(g.ha_state for g in problem.snapshot.guests):
        return {}
    now, then = report_of(problem, before), report_of(problem, after)
    return {
        "failover_short_gib_before": round(now.overflow_bytes / 2**30, 3),
        "failover_short_gib_after": round(then.overflow_bytes / 2**30, 3),
        "failover_all_fit_after": float(then.all_fit),
    }


@dataclass(frozen=True)
class Solving:
    """What the cycle's solver run gets besides the problem: the wall-clock budget (None: only
    deterministic time) and a warm start besides the greedy plan (the solver's earlier plan of
    this cycle, when the pipeline re-plans)."""

    budget: SolverBudget | None = None
    warm: tuple[Migration, ...] = ()


def plan_cycle(problem: PlanningProblem, solving: Solving = Solving()) -> Plan:
    """Plan one cycle. Raises PlanningError if the plan fails validation (it is never returned then)."""
    before = LoadState.of(problem)
    trigger = should_rebalance(problem, before)  # once per problem: every planner judges this one
    greedy = PLANNERS["greedy"].plan(problem, trigger)
    draft = greedy.draft
    assert draft is not None  # the greedy planner always hands its draft over
    stats: dict[str, float] = {}
    found = _candidates(problem, trigger, greedy, draft, stats, solving)
    candidates = _headroom_first(problem, found, draft.warnings)
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
            **_headroom_stats(problem, before, after),
            "objective_before": round(before.objective(), 3),
            "objective_after": round(after.objective(), 3),
            "migrations": float(len(ordered)),
            "steps": float(max((m.step for m in ordered), default=-1) + 1),
            "gib_to_copy": round(sum(m.bytes_to_copy for m in ordered) / 2**30, 3),
        },
        warnings=tuple(dict.fromkeys(notes)),
        stopped_by=stop_causes(problem, draft, after, stop) if trigger.triggered else (),
    )
