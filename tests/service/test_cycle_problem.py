"""#15 item 2: a cycle has ONE planning problem. `explain`, `best-node`, the gain curve and the
HTML report judge the very problem the planner planned — with the cycle's cooldowns, its remembered
previous plan and its PSI window — instead of a rebuilt variant without them."""

from __future__ import annotations

import threading
from datetime import datetime

from proxlb.planning import plan_cycle
from proxlb.report.explain import explain_guest
from proxlb.report.sentences import decision_sentence
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.report_files import curve_of
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import load_scenario
from tests.service.simhelp import SimClock, client_for, config


def _deps(seed: int, state: StateStore) -> PipelineDeps:
    cluster = SimCluster.from_scenario(load_scenario("demo"), seed=seed, time_scale=0)
    return PipelineDeps(
        config=config(),
        client=client_for(InProcessApi(cluster)),
        state=state,
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
    )


def test_the_report_carries_the_problem_the_plan_was_made_from() -> None:
    state = StateStore.in_memory()
    dry = run_once(_deps(0, state), apply=False)  # a dry run: its plan is remembered
    once = run_once(_deps(1, state), apply=False)  # the next cycle, on other metric noise
    assert dry.plan is not None and once.plan is not None and once.problem is not None
    remembered = {m.vmid: m.target for m in dry.plan.migrations}
    assert remembered and set(remembered) <= set(once.problem.previous_moves)
    assert once.problem.now == once.started_at
    # the report's problem reproduces the report's plan, move for move and reason for reason
    again = plan_cycle(once.problem)
    assert [(m.vmid, m.target, m.reason) for m in again.migrations] == [
        (m.vmid, m.target, m.reason) for m in once.plan.migrations
    ]
    # explain answers from that plan and problem: its decision line is the plan's own record
    for vmid, decision in once.plan.decisions.items():
        text = explain_guest(once.plan, once.problem, vmid)
        assert text.splitlines()[-1 - sum(1 for u in once.plan.unmet if vmid in u.vmids)] == (
            f"  decision: {decision_sentence(decision)}"
        )
    # the gain curve replays exactly the plan's moves on that problem
    curve = curve_of(once)
    assert len(curve) == len(once.plan.migrations) + 1
