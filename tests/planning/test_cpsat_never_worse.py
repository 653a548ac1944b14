"""CP-SAT improves the greedy plan and always answers (#16).

On the generated 8 × 160 cluster (seed 7) a strict pin must bring guest 115 to pve2, whose assigned
memory is already past its usable memory (`overprovisioning: false`), and pve1 runs past the vCPU
cap. The solver used to answer INFEASIBLE there ("CP-SAT found no plan (INFEASIBLE); using the
greedy plan") while greedy planned the cluster fine; and `solver.enable` implied upstream's
`cpu_overcommit` 2.0, which changed the greedy plan itself (8 × 200: 18 moves instead of 17).
"""

from __future__ import annotations

from typing import Any

from benchmarks.planning import config, problem_for, scenario

from proxlb.planning import PlanningProblem, plan_cycle, validate


def _problem(solver: dict[str, Any] | None, nodes: int = 8, guests: int = 160) -> PlanningProblem:
    """The generated cluster the bench plans (seed 7, skew 0.6, a fixed virtual start)."""
    return problem_for(scenario(nodes, guests), config(solver))


def _moves(plan: Any) -> list[tuple[int, str]]:
    return sorted((m.vmid, m.target) for m in plan.migrations)


def test_enabling_the_solver_in_shadow_mode_does_not_change_the_greedy_plan() -> None:
    # on 8 × 200 the implied vCPU cap made greedy plan 18 moves instead of 17
    alone = plan_cycle(_problem(None, 8, 200))
    shadow = plan_cycle(_problem({"enable": True, "mode": "shadow", "timeout_seconds": 1}, 8, 200))
    assert shadow.planner == "greedy"
    assert _moves(shadow) == _moves(alone)


def test_cpsat_answers_where_a_strict_pin_repair_meets_a_node_over_its_cap() -> None:
    greedy = plan_cycle(_problem(None))
    pb = _problem({"enable": True, "mode": "active", "timeout_seconds": 2})
    plan = plan_cycle(pb)
    assert not any("found no plan" in w for w in plan.warnings), plan.warnings
    assert plan.planner == "cpsat" and validate(plan, pb) == ()
    where = {m.vmid: m.target for m in plan.migrations}
    assert where.get(115) == "pve2"  # the strict pin is repaired, onto the over-assigned node
    assert {(u.rule, u.why) for u in plan.unmet} <= {(u.rule, u.why) for u in greedy.unmet}
    # never worse than greedy on the objective both are judged by, and it says why it won
    assert plan.stats["cpsat_objective_pp2"] <= plan.stats["greedy_objective_pp2"]
    assert any(w.startswith("CP-SAT plan chosen: objective") for w in plan.warnings)


def test_a_repair_onto_a_node_does_not_open_it_to_balancing_past_its_assigned_memory() -> None:
    # 16 × 1000 (#16): the model exempted a strict-pin repair's newcomer from the assigned-memory row
    # of its target and then let a balancing move join it there; validation counts both ("pve4:
    # assigned memory exceeds capacity − reserve"), so the CP-SAT plan was refused for greedy's
    from proxlb.planning import SolverMode, SolverPolicy
    from tests.planning.builders import cluster, exclude, guest, node, pin, problem, rules

    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G")]
    hot = [guest(100 + i, on="pve1", mem="8G") for i in range(6)] + [guest(120, on="pve1", mem="12G")]
    parked = [guest(200 + i, on="pve2", mem="10G", status="stopped") for i in range(5)]
    cons = rules(pin(120, "pve2"), *(exclude(200 + i) for i in range(5)))
    solver = SolverPolicy(enable=True, mode=SolverMode.ACTIVE, fallback_to_greedy=False, timeout_seconds=2)
    pb = problem(cluster(nodes, hot + parked), cons, solver=solver)
    plan = plan_cycle(pb)  # raised PlanningError (the plan failed validation) before the fix
    assert plan.planner == "cpsat" and validate(plan, pb) == ()
    assert not any("failed validation" in w for w in plan.warnings), plan.warnings
    assert {(m.vmid, m.target) for m in plan.migrations} == {(120, "pve2")}  # the repair, nothing more
