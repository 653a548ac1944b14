"""One wall-clock budget for all the solver's work in a cycle (#16).

With `solver.enable` the pipeline may run CP-SAT twice in a cycle (its own new movers' configs can
prove them costlier). Both runs used to get the whole `timeout_seconds` of deterministic time each,
so a 10 s timeout gave 20 s dry runs on a quiet machine and minutes on a loaded one. Now the first
solver run starts one deadline (`solver_clock` + timeout) that the second run shares.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

from proxlb.planning import Solving
from proxlb.service import pipeline
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from tests.service.simhelp import SimClock, client_for, config, generated


def _deps(solver_clock: Any, timeout: float) -> PipelineDeps:
    # generated 8 × 160 (seed 7): CP-SAT's first plan moves guests whose configs show local disks,
    # so the cycle re-plans with the solver a second time
    cluster, api = generated()
    return PipelineDeps(
        config=config(solver={"enable": True, "mode": "active", "timeout_seconds": timeout}),
        client=client_for(api),
        state=StateStore.in_memory(),
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
        solver_clock=solver_clock,
    )


NO_BUDGET = Solving()


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Solving, Any]]:
    seen: list[tuple[Solving, Any]] = []
    plan_cycle = pipeline.plan_cycle

    def spy(problem: Any, solving: Solving = NO_BUDGET) -> Any:
        plan = plan_cycle(problem, solving)
        seen.append((solving, plan))
        return plan

    monkeypatch.setattr(pipeline, "plan_cycle", spy)
    return seen


def test_both_solver_runs_of_a_cycle_share_one_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy(monkeypatch)
    report = run_once(_deps(lambda: 1000.0, timeout=2), apply=False)
    solver_runs = [(s, p) for s, p in seen if s.budget is not None]
    assert len(solver_runs) == 2  # the cluster needs the re-plan this test is about
    first, second = solver_runs[0][0], solver_runs[1][0]
    assert first.budget is not None and second.budget is not None
    assert first.budget.deadline == second.budget.deadline == 1002.0  # one timeout for the cycle
    assert first.budget.share < 1.0 and second.budget.share == 1.0  # time kept for the re-plan
    # the re-plan may start from the first solver plan, without the guests that proved costlier
    first_plan = solver_runs[0][1]
    assert second.warm and {m.vmid for m in second.warm} < {m.vmid for m in first_plan.migrations}
    assert report.plan is not None and report.plan.planner == "cpsat"


def test_a_cycle_past_its_solver_deadline_plans_anyway_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(0, 10_000, 5))  # every read of the solver's clock is 5 s later
    report = run_once(_deps(lambda: float(next(ticks)), timeout=2), apply=False)
    assert report.plan is not None
    assert any("CP-SAT stopped at the wall-clock limit" in w for w in report.plan.warnings)
    assert report.plan.stats["cpsat_wall_limited"] == 1.0
    assert report.plan.stats["cpsat_objective_pp2"] <= report.plan.stats["greedy_objective_pp2"] + 1e-6
