"""CP-SAT within its time and its integer range (#16).

- Time: `solver.timeout_seconds` is a wall-clock deadline for all the solver's work in a cycle
  (planning/budget.py); the clock is injected, so these tests drive it instead of waiting.
- Range: on 128 nodes with big strict anti-affinity rules every LNS sub-model was MODEL_INVALID
  ("Possible integer overflow in objective": 10¹⁵ penalties × members that could meet on a node),
  so the search improved nothing at 128 × 16 000; the objective is now coarsened to fit instead.
"""

from __future__ import annotations

from typing import Any

import pytest

from proxlb.planning import SolverBudget, SolverMode, SolverPolicy, Solving, lns, plan_cycle, validate
from proxlb.planning.cpsat import solve_cpsat
from proxlb.planning.cycle import state_after
from proxlb.planning.planners import PLANNERS
from proxlb.planning.score import objective
from proxlb.planning.trigger import should_rebalance
from tests.planning.builders import anti, cluster, guest, node, problem, rules

SOLVER = SolverPolicy(enable=True, mode=SolverMode.ACTIVE, timeout_seconds=2)


def _many_nodes_big_rules() -> Any:
    nodes = [node(f"pve{i:03d}", mem="256G", cores=64) for i in range(128)]
    guests = [guest(1000 + i, on=f"pve{(i * 7) % 64:03d}", mem=f"{2 + i % 5}G") for i in range(1200)]
    keep_apart = rules(*(anti(f"plb_anti_affinity_r{r}", *range(1000 + r, 2200, 3)) for r in range(3)))
    return problem(cluster(nodes, guests), keep_apart, solver=SOLVER)


def _heavy_cluster(timeout: float = 2) -> Any:
    nodes = [node(f"pve{i}", mem="64G") for i in range(12)]
    guests = [guest(100 + i, on=f"pve{i % 3}", mem=f"{1 + i % 4}G") for i in range(600)]
    solver = SolverPolicy(enable=True, mode=SolverMode.ACTIVE, timeout_seconds=timeout)
    return problem(cluster(nodes, guests), solver=solver)


class FakeClock:
    """Monotonic seconds that advance by `step` at every read."""

    def __init__(self, step: float) -> None:
        self.now, self.step, self.reads = 0.0, step, 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += self.step
        return self.now


def test_lns_sub_models_on_many_nodes_with_big_rules_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    statuses: list[str] = []
    solve = lns.solve_sub

    def spy(*args: Any, **kw: Any) -> Any:
        res = solve(*args, **kw)
        statuses.append(res.status)
        return res

    monkeypatch.setattr(lns, "solve_sub", spy)
    pb = _many_nodes_big_rules()
    result = solve_cpsat(pb)
    assert statuses and "MODEL_INVALID" not in statuses  # before: 9 of 9 rounds MODEL_INVALID
    assert result.stats["lns_improved"] >= 1 and result.stats["cpsat_invalid_models"] == 0


def _j(pb: Any, moves: Any) -> float:
    return objective(pb, state_after(pb, moves), [(m.vmid, m.source, m.target) for m in moves])


def test_the_wall_clock_deadline_ends_the_search_and_the_plan_says_so() -> None:
    pb = _heavy_cluster(timeout=30)  # 30 s: its deterministic budget would run for ~30 s
    clock = FakeClock(step=4.0)  # each read is 4 s later: the deadline passes after a few rounds
    plan = plan_cycle(pb, Solving(SolverBudget.starting(clock, 30, share=1.0)))
    assert plan.stats["cpsat_wall_limited"] == 1.0
    assert clock.reads < 20  # it stopped instead of running its deterministic budget out
    said = "CP-SAT stopped at the wall-clock limit (solver.timeout_seconds 30)"
    assert any(said in w for w in plan.warnings)
    assert validate(plan, pb) == ()
    assert plan.stats["cpsat_objective_pp2"] <= plan.stats["greedy_objective_pp2"] + 1e-6


def test_a_deadline_already_passed_answers_at_once_with_the_warm_start() -> None:
    pb = _heavy_cluster()
    trigger = should_rebalance(pb, state_after(pb, []))
    greedy = PLANNERS["greedy"].plan(pb, trigger)
    over = SolverBudget(clock=lambda: 100.0, deadline=50.0)
    result = solve_cpsat(pb, [list(greedy.moves or ())], trigger, over)
    assert result.status == "TIME_LIMIT" and result.stats["cpsat_wall_limited"] == 1.0
    assert result.moves is not None
    assert {(m.vmid, m.target) for m in result.moves} == {(m.vmid, m.target) for m in greedy.moves or ()}


def test_the_solver_starts_from_the_better_of_its_warm_starts() -> None:
    pb = _heavy_cluster()
    trigger = should_rebalance(pb, state_after(pb, []))
    greedy = list(PLANNERS["greedy"].plan(pb, trigger).moves or ())
    over = SolverBudget(clock=lambda: 100.0, deadline=50.0)  # no search: only the choice of start
    worse = greedy[: len(greedy) // 3]
    result = solve_cpsat(pb, [worse, greedy], trigger, over)
    assert result.stats["cpsat_warm_start"] == 1.0
    assert result.moves is not None and _j(pb, result.moves) == pytest.approx(_j(pb, greedy))
    assert _j(pb, greedy) < _j(pb, worse)


def test_without_a_budget_only_deterministic_time_counts() -> None:
    pb = _heavy_cluster()
    first, second = plan_cycle(pb), plan_cycle(pb)
    assert first.stats["cpsat_wall_limited"] == 0.0
    assert [(m.vmid, m.target) for m in first.migrations] == [(m.vmid, m.target) for m in second.migrations]


def test_a_warm_start_that_leaves_an_affinity_group_split_loses_to_greedy() -> None:
    # 128 × 16 000 dry run: the re-plan's warm start (the first solver plan without a guest that
    # proved costlier) left a keep-together group split; the model does not count a split it holds
    # fixed, so that start looked better, the search kept the split and the cycle had to fall back
    # to greedy ("greedy plan kept: objective 100008084.6 < CP-SAT's 110007974.8")
    from tests.planning.builders import exclude, together

    # 101 cannot move (ignored) on the hot node, so joining it means bringing 102 onto the hot
    # node: the join costs balance, and a start without it looks better to the model
    nodes = [node("pve1"), node("pve2"), node("pve3")]
    guests = [guest(101, on="pve1", mem="2G"), guest(102, on="pve3", mem="12G")]
    guests += [guest(110 + i, on="pve1", mem="8G") for i in range(8)]
    cons = rules(together("plb_affinity_app", 101, 102), exclude(101))
    pb = problem(cluster(nodes, guests), cons, solver=SOLVER)
    trigger = should_rebalance(pb, state_after(pb, []))
    greedy = list(PLANNERS["greedy"].plan(pb, trigger).moves or ())
    assert {(102, "pve1"), (111, "pve3")} <= {(m.vmid, m.target) for m in greedy}  # greedy joins the group
    # without the join, one balancing move fewer evens the nodes out better (model 122 < 216 pp²)
    split = [m for m in greedy if m.vmid not in (102, 111)]
    over = SolverBudget(clock=lambda: 100.0, deadline=50.0)  # no search: only the choice of start
    result = solve_cpsat(pb, [greedy, split], trigger, over)
    assert result.stats["cpsat_warm_start"] == 0.0
    assert result.moves is not None and _j(pb, result.moves) == pytest.approx(_j(pb, greedy))


def test_lns_runs_the_neighbourhood_shape_that_pays_best_and_still_tries_the_other() -> None:
    from proxlb.planning.lns import EXPLORE_EVERY, _shape

    assert _shape([None, None], 0) == 0 and _shape([5.0, None], 1) == 1  # each shape once first
    assert _shape([5.0, 9.0], 2) == 1  # then the better J gain per deterministic second
    assert _shape([9.0, 5.0], 3) == 0
    assert _shape([9.0, 5.0], EXPLORE_EVERY - 1) == 1  # and the other one now and then


def test_lns_on_many_nodes_lowers_the_spread_well_below_greedy() -> None:
    # 64 nodes: many small neighbourhoods pay. Here, at 4 s: greedy 4.30 pp; the one wide shape of
    # before ended at 3.91 pp, the adaptive search reaches 1.17 pp (64 × 8 000 at 10 s: 4.82 → 2.44)
    nodes = [node(f"pve{i:02d}", mem="256G", cores=64) for i in range(64)]
    guests = [guest(1000 + i, on=f"pve{i % 16:02d}", mem=f"{1 + (i * 7) % 6}G") for i in range(1600)]
    solver = SolverPolicy(enable=True, mode=SolverMode.ACTIVE, timeout_seconds=4)
    pb = problem(cluster(nodes, guests), solver=solver)
    plan = plan_cycle(pb)
    assert plan.planner == "cpsat" and plan.stats["cpsat_exact"] == 0.0
    assert plan.stats["cpsat_spread_after"] < plan.stats["greedy_spread_after"] - 2.0
