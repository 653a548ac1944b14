"""One planning run: trigger → planner(s) → sequence → explain → validate. Pure.

Invariants: `plan_cycle` never returns a plan that fails `validate` (it raises PlanningError);
before/after metrics come from the same `LoadState` measures for every planner; every guest of the
snapshot gets exactly one decision sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, Plan, UnmetRule
from proxlb.errors import PlanningError
from proxlb.planning.curve import best_prefix
from proxlb.planning.draft import Draft
from proxlb.planning.greedy import plan_greedy
from proxlb.planning.guard import enforce_never_worse
from proxlb.planning.headroom import report_of
from proxlb.planning.metrics import LoadState
from proxlb.planning.policy import SolverMode
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.pve_balancer import coexistence_note
from proxlb.planning.score import objective
from proxlb.planning.sequence import sequence
from proxlb.planning.stopped import stop_causes
from proxlb.planning.trigger import Trigger, should_rebalance, violations, wanted_repairs
from proxlb.planning.validate import validate


def state_after(problem: PlanningProblem, moves: Sequence[Migration]) -> LoadState:
    """The what-if state once `moves` (in order) are done."""
    state = LoadState.of(problem)
    for m in moves:
        state.move(m.vmid, m.target)
    return state


def _unmet_by_guest(draft: Draft) -> dict[VmId, str]:
    """The first unmet rule that names a guest ("guest 182 has no valid target: …"), per guest."""
    found: dict[VmId, str] = {}
    for u in draft.unmet:
        head = u.why.split(" ", 2)
        if len(head) >= 2 and head[0] == "guest" and head[1].rstrip(":").isdigit():
            found.setdefault(VmId(int(head[1].rstrip(":"))), f"{u.rule} is unmet: {u.why}")
    return found


def _fill_decisions(
    problem: PlanningProblem,
    draft: Draft,
    moves: Sequence[Migration],
    stop: str,
    dropped: frozenset[VmId] = frozenset(),
) -> dict[VmId, str]:
    final = {m.vmid: m for m in moves}
    moved = draft.moved
    unmet_for = _unmet_by_guest(draft)
    decisions: dict[VmId, str] = {}
    for g in problem.snapshot.guests:
        if g.vmid in final:
            m = final[g.vmid]
            decisions[g.vmid] = f"moves {g.node} → {m.target} ({m.reason.value}): {m.detail}"
        elif g.vmid in draft.fixed:
            decisions[g.vmid] = f"stays: {draft.fixed[g.vmid]}"
        elif g.vmid in unmet_for:
            decisions[g.vmid] = f"stays, although {unmet_for[g.vmid]}"
        elif g.vmid in draft.decisions and draft.decisions[g.vmid].startswith("stays"):
            decisions[g.vmid] = draft.decisions[g.vmid]
        elif g.vmid in dropped:
            decisions[g.vmid] = "stays: its move would have raised the spread or the highest node load"
        elif g.vmid in moved:
            decisions[g.vmid] = "stays: its planned move could not be ordered safely (see unmet)"
        else:
            decisions[g.vmid] = f"stays: {stop}"
    return decisions


def _greedy(
    problem: PlanningProblem, trigger: Trigger, previous: Mapping[VmId, str] | None
) -> tuple[Draft, str]:
    draft = Draft.start(problem, LoadState.of(problem))
    note = coexistence_note(problem)
    if note is not None:
        draft.warnings.append(note)
    if trigger.psi_fallback:
        draft.warnings.append(
            "mode psi: some nodes report no pressure (PVE < 9), so this plan balances on 'used' "
            "(memory/CPU in use) instead of pressure"
        )
    return draft, plan_greedy(draft, trigger, previous)


def run_planner(problem: PlanningProblem) -> tuple[Draft, str, str]:
    """Run the greedy planner. Returns (draft, stop sentence, planner name).

    Plan stability: when the previous plan of this cluster chose moves that are not done yet, a
    second greedy run replays them first (planning/replay.py); its plan wins when it agrees with
    the previous plan at least as well as the fresh plan does (Jaccard similarity) and ends within
    `plan_margin` pp of the fresh plan's spread — so metric noise between two cycles does not
    swap the guests chosen, and a dry run previews the `--once` that follows. When both choose
    the same moves, the fresh plan (and its order) is kept.
    """
    trigger = should_rebalance(problem, LoadState.of(problem))
    fresh, stop = _greedy(problem, trigger, None)
    snap = problem.snapshot
    previous = {
        v: t for v, t in problem.previous_moves.items() if (g := snap.guest(v)) is not None and g.node != t
    }
    if previous:
        sticky, sticky_stop = _greedy(problem, trigger, previous)
        wanted = set(previous.items())

        def agreement(draft: Draft) -> float:  # Jaccard similarity with the previous plan
            chosen = {(m.vmid, m.target) for m in draft.moves}
            return len(chosen & wanted) / len(chosen | wanted)

        same = {(m.vmid, m.target) for m in sticky.moves} == {(m.vmid, m.target) for m in fresh.moves}
        if (
            not same
            and agreement(sticky) >= agreement(fresh)
            and (sticky.state.spread() <= fresh.state.spread() + problem.policy.plan_margin)
        ):
            return sticky, sticky_stop, "greedy"
    return fresh, stop, "greedy"


def _solver_moves(
    problem: PlanningProblem,
    greedy: list[Migration],
    stats: dict[str, float],
    unmet: list[UnmetRule],
    warnings: list[str],
) -> list[Migration] | None:
    """Run CP-SAT from the greedy plan; fill comparison stats; return its moves when it should
    replace the greedy plan: in active mode, when its shared objective J (planning/score.py) is not
    higher than greedy's. Why the winner won goes to `warnings` (planner notes)."""
    from proxlb.planning.cpsat import solve_cpsat

    result = solve_cpsat(problem, greedy)
    stats.update(result.stats)
    greedy_after = state_after(problem, greedy)
    greedy_j = objective(problem, greedy_after, [(m.vmid, m.source, m.target) for m in greedy])
    stats["greedy_migrations"] = float(len(greedy))
    stats["greedy_spread_after"] = round(greedy_after.spread(), 3)
    stats["greedy_gib_to_copy"] = round(sum(m.bytes_to_copy for m in greedy) / 2**30, 3)
    stats["greedy_objective_pp2"] = round(greedy_j, 3)
    cp_j = float("inf")
    if result.moves is not None:
        cp_after = state_after(problem, result.moves)
        cp_j = objective(problem, cp_after, [(m.vmid, m.source, m.target) for m in result.moves])
        stats["cpsat_objective_pp2"] = round(cp_j, 3)
        stats["cpsat_migrations"] = float(len(result.moves))
        stats["cpsat_spread_after"] = round(cp_after.spread(), 3)
        stats["cpsat_gib_to_copy"] = round(sum(m.bytes_to_copy for m in result.moves) / 2**30, 3)
        same = {(m.vmid, m.target) for m in greedy} & {(m.vmid, m.target) for m in result.moves}
        stats["planners_agree_moves"] = float(len(same))
    if problem.policy.solver.mode is not SolverMode.ACTIVE:
        return None
    if result.moves is not None and cp_j > greedy_j + 1e-6:
        warnings.append(
            f"greedy plan kept: objective {greedy_j:.1f} < CP-SAT's {cp_j:.1f} "
            "(balance + move costs + broken rules, pp²)"
        )
        return None
    if result.moves is not None:
        gap = result.stats.get("cpsat_gap")
        warnings.append(
            f"CP-SAT plan chosen: objective {cp_j:.1f} ≤ greedy's {greedy_j:.1f} "
            f"(balance + move costs + broken rules, pp²)"
            + (f"; optimality gap ≤ {100 * gap:.1f} %" if gap is not None else "")
        )
    if result.moves is None:
        if problem.policy.solver.fallback_to_greedy:
            warnings.append(f"CP-SAT found no plan ({result.status}); using the greedy plan")
            return None
        unmet.append(
            UnmetRule("solver", f"CP-SAT found no plan ({result.status}); fallback_to_greedy is off")
        )
        return []
    unmet.extend(result.unmet)
    return list(result.moves)


def _still_unmet(
    problem: PlanningProblem, moves: list[Migration], greedy: list[UnmetRule]
) -> list[UnmetRule]:
    """The rules a solver plan leaves broken: greedy's sentence when greedy left the same rule
    broken, else the violation itself; drains and notes about the solver are kept."""
    left = wanted_repairs(problem, violations(problem, state_after(problem, moves).placement))
    names = {v.rule for v in left}
    out = [u for u in greedy if u.rule in names or u.rule.startswith("drain") or u.rule == "solver"]
    known = {u.rule for u in out}
    out.extend(UnmetRule(v.rule, v.detail) for v in left if v.rule not in known)
    return out


def plan_cycle(problem: PlanningProblem) -> Plan:
    """Plan one cycle. Raises PlanningError if the plan fails validation (it is never returned then)."""
    before = LoadState.of(problem)
    trigger = should_rebalance(problem, before)
    draft, stop, planner = run_planner(problem)
    stats: dict[str, float] = {}
    unmet: list[UnmetRule] = list(draft.unmet)
    candidates: list[tuple[str, list[Migration], list[UnmetRule]]] = []
    if problem.policy.solver.enable and (trigger.triggered or draft.moves):
        solver_unmet: list[UnmetRule] = []
        moves = _solver_moves(problem, list(draft.moves), stats, solver_unmet, draft.warnings)
        if moves is not None:
            candidates.append(("cpsat", moves, _still_unmet(problem, moves, unmet) + solver_unmet))
            if problem.policy.solver.fallback_to_greedy:
                candidates.append((planner, list(draft.moves), unmet))
    if not candidates:
        candidates.append((planner, list(draft.moves), unmet))
    candidates = _headroom_first(problem, candidates, draft.warnings)
    errors: tuple[str, ...] = ()
    for name, all_moves, notes in candidates:
        moves, left = best_prefix(problem, all_moves, problem.policy.max_migrations)
        if left:
            draft.warnings.append(
                f"max_migrations {problem.policy.max_migrations}: {name} planned {len(all_moves)} moves; "
                f"kept the {len(moves)} that pay most, {len(left)} left for a later cycle"
            )
        plan = _assemble(
            problem, draft, before, trigger.triggered, trigger.reason, name, moves, notes, stop, stats
        )
        errors = validate(plan, problem)
        if not errors:
            return plan
        draft.warnings.append(f"{name} plan failed validation: {errors[0]}")
    raise PlanningError("plan failed validation: " + "; ".join(errors[:10]))


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


def _assemble(
    problem: PlanningProblem,
    draft: Draft,
    before: LoadState,
    triggered: bool,
    reason: str,
    planner: str,
    moves: list[Migration],
    unmet: list[UnmetRule],
    stop: str,
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
        triggered=triggered,
        trigger_reason=reason,
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
        stopped_by=stop_causes(problem, draft, after, stop) if triggered else (),
    )
