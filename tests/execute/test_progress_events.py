"""The executor's progress hook: every start, running poll and end reaches the observer, in order."""

from __future__ import annotations

import threading

from proxlb.domain import Plan
from proxlb.execute.executor import execute_plan
from proxlb.execute.model import ExecutionSettings
from proxlb.execute.progress import MigrationEvent, MigrationPhase
from tests.execute.fakes import FakeClock, FakeCluster, G, N, mig


def _run(fc: FakeCluster, clock: FakeClock, plan: Plan, observer: object) -> None:
    settings = ExecutionSettings(poll_initial_seconds=1.0)
    execute_plan(plan, fc, settings, clock, threading.Event(), observer)  # type: ignore[arg-type]


def test_observer_sees_start_running_and_finish_of_each_move() -> None:
    clock = FakeClock()
    nodes = {"pve1": N(), "pve2": N(), "pve3": N()}
    fc = FakeCluster(
        clock=clock, nodes=nodes, guests={100: G("pve1"), 101: G("pve1")}, failures={101: "migration aborted"}
    )
    clock.on_sleep.append(fc.advance)
    events: list[MigrationEvent] = []
    plan = Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve3")))
    _run(fc, clock, plan, events.append)
    by_vmid = {v: [e for e in events if e.migration.vmid == v] for v in (100, 101)}
    for vmid, seen in by_vmid.items():
        phases = [e.phase for e in seen]
        assert phases[0] is MigrationPhase.STARTED and seen[0].upid, vmid
        assert MigrationPhase.RUNNING in phases  # a 10 s task polled every 1-1.5 s
        assert phases[-1] is MigrationPhase.FINISHED and phases.count(MigrationPhase.FINISHED) == 1
        assert all(e.task_node == "pve1" for e in seen if e.phase is not MigrationPhase.FINISHED)
    assert by_vmid[100][-1].outcome == "done" and by_vmid[100][-1].seconds >= 10
    assert by_vmid[101][-1].outcome == "failed" and "migration aborted" in by_vmid[101][-1].detail
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_a_failing_observer_never_stops_the_migrations() -> None:
    clock = FakeClock()
    fc = FakeCluster(clock=clock, nodes={"pve1": N(), "pve2": N()}, guests={100: G("pve1")})
    clock.on_sleep.append(fc.advance)

    def broken(event: MigrationEvent) -> None:
        raise RuntimeError("display crashed")

    _run(fc, clock, Plan("fp", (mig(100, "pve1", "pve2"),)), broken)
    assert fc.guests[100].node == "pve2"


def test_skips_reach_the_observer_too() -> None:
    clock = FakeClock()
    fc = FakeCluster(clock=clock, nodes={"pve1": N(), "pve2": N()}, guests={100: G("pve1", lock="backup")})
    clock.on_sleep.append(fc.advance)
    events: list[MigrationEvent] = []
    _run(fc, clock, Plan("fp", (mig(100, "pve1", "pve2"),)), events.append)
    assert [(e.phase, e.outcome) for e in events] == [(MigrationPhase.FINISHED, "skipped")]
    assert events[0].detail
