"""Lane use of the executor, on a fake clock: no idle lane while a ready move waits for one."""

from __future__ import annotations

import threading
from typing import Any

from proxlb.domain import Plan
from proxlb.execute.executor import execute_plan
from proxlb.execute.model import ExecutionReport, ExecutionSettings, Outcome
from tests.execute.fakes import GIB, FakeClock, FakeCluster, G, N, mig


def run(guests: dict[int, G], durations: dict[int, float], plan: Plan, **settings: Any) -> ExecutionReport:
    clock = FakeClock()
    nodes = {f"pve{i}": N(maxmem=256 * GIB) for i in range(1, 5)}
    fc = FakeCluster(clock=clock, nodes=nodes, guests=guests, durations=durations)
    clock.on_sleep.append(fc.advance)
    s = ExecutionSettings(**{"parallel": True, "parallel_jobs": 5, "max_node_inflow": 2, **settings})
    report = execute_plan(plan, fc, s, clock, threading.Event())
    assert all(o.outcome is Outcome.DONE for o in report.outcomes)
    return report


def started(report: ExecutionReport) -> dict[int, float]:
    return {o.vmid: (o.started_at or 0.0) - report.started_at for o in report.outcomes}


def test_a_later_step_does_not_wait_for_unrelated_moves_of_an_earlier_one() -> None:
    # 101 (step 1) depends on nothing: sequencing lists every move that frees its target in
    # depends_on, so sharing the source pve1 with a long step-0 move is no reason to idle a lane
    plan = Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve3", step=1)))
    report = run({100: G("pve1"), 101: G("pve1")}, {100: 300.0, 101: 10.0}, plan)
    assert started(report)[101] == started(report)[100] == 0.0
    assert report.seconds < 310


def test_a_dependency_still_holds_the_move_back() -> None:
    plan = Plan("fp", (mig(101, "pve2", "pve3"), mig(100, "pve1", "pve2", step=1, depends_on=(101,))))
    report = run({100: G("pve1"), 101: G("pve2")}, {101: 30.0}, plan)
    assert started(report)[100] >= 30.0


def test_a_freed_lane_is_taken_within_poll_busy_seconds() -> None:
    # one lane (max_node_outflow 1): the second move waits; the first ends at 95 s, between two polls
    # of a backed-off schedule (… 90.8, 100.8 s); a waiting move keeps the polls brisk instead
    plan = Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve3")))
    durations = {100: 95.0, 101: 10.0}
    report = run({100: G("pve1"), 101: G("pve1")}, durations, plan, max_node_outflow=1)
    idle = started(report)[101] - durations[100]
    assert 0.0 <= idle <= 1.5


def test_without_a_waiting_move_polls_still_back_off() -> None:
    clock = FakeClock()
    fc = FakeCluster(clock=clock, nodes={"pve1": N(), "pve2": N()}, guests={100: G("pve1")})
    fc.durations[100] = 300.0
    clock.on_sleep.append(fc.advance)
    s = ExecutionSettings(parallel=True)
    execute_plan(Plan("fp", (mig(100, "pve1", "pve2"),)), fc, s, clock, threading.Event())
    assert len(clock.sleeps) < 50  # 1 s growing to 10 s, not one poll per second for 300 s
