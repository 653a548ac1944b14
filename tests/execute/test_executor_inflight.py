"""Executor pre-start checks against other actors' in-flight moves and lost quorum (#12 findings 1, 5)."""

from __future__ import annotations

import threading

from proxlb.domain import Plan
from proxlb.execute.executor import execute_plan
from proxlb.execute.model import ExecutionSettings, Outcome
from tests.execute.fakes import GIB, FakeClock, FakeCluster, G, N, mig


def _cluster(nodes: dict[str, N], guests: dict[int, G]) -> tuple[FakeCluster, FakeClock]:
    clock = FakeClock()
    fc = FakeCluster(clock=clock, nodes=nodes, guests=guests)
    clock.on_sleep.append(fc.advance)
    return fc, clock


def test_memory_of_a_migration_started_by_someone_else_counts_on_its_destination() -> None:
    # 999 (40 GiB) is being moved to pve2 by an admin; 101 (24 GiB) would fit only without it
    nodes = {"pve1": N(), "pve2": N(maxmem=64 * GIB)}
    fc, clock = _cluster(nodes, {101: G("pve1", mem=24 * GIB), 999: G("pve1", mem=40 * GIB, lock="migrate")})
    settings = ExecutionSettings(inflight_targets={999: "pve2"})
    report = execute_plan(Plan("fp", (mig(101, "pve1", "pve2"),)), fc, settings, clock, threading.Event())
    outcome = report.outcomes[0]
    assert outcome.outcome is Outcome.SKIPPED and "not enough memory left on pve2" in outcome.detail
    assert fc.writes == []


def test_nothing_starts_once_the_cluster_lost_quorum() -> None:
    nodes = {"pve1": N(), "pve2": N(), "pve3": N(online=False), "pve4": N(online=False)}
    fc, clock = _cluster(nodes, {101: G("pve1"), 102: G("pve1")})
    plan = Plan("fp", (mig(101, "pve1", "pve2"), mig(102, "pve1", "pve2")))
    report = execute_plan(plan, fc, ExecutionSettings(), clock, threading.Event())
    assert {o.outcome for o in report.outcomes} == {Outcome.SKIPPED}
    assert all("not quorate" in o.detail for o in report.outcomes)
    assert fc.writes == []
