"""Why a plan stopped above balanciness (#11): the plan, its JSON and the text summary name the rule
or cap that held guests back, and how many."""

from __future__ import annotations

from rich.console import Console

from proxlb.planning import plan_cycle
from proxlb.report.text import summary_text
from proxlb.report.upstream_json import plan_section
from tests.planning.builders import cluster, guest, node, problem


def overcommitted() -> object:
    nodes = [node(f"pve{i}", cores=8, mem="128G") for i in (1, 2, 3, 4)]
    guests = [guest(100 + i, on="pve1", mem="16G", used_mem="14G", cores=4, cpu=0.5) for i in range(6)]
    guests += [guest(200 + i, on="pve2", mem="4G", used_mem="2G", cores=4, cpu=0.5) for i in range(10)]
    guests += [guest(300 + i, on="pve3", mem="4G", used_mem="2G", cores=4, cpu=0.5) for i in range(12)]
    guests += [guest(400 + i, on="pve4", mem="4G", used_mem="2G", cores=4, cpu=0.5) for i in range(11)]
    return cluster(nodes, guests)


def test_a_cap_the_admin_set_is_named_when_it_stops_balancing() -> None:
    snap = overcommitted()
    plan = plan_cycle(problem(snap, cpu_overcommit=2.0))  # type: ignore[arg-type]
    assert plan.imbalance_after > 10
    assert plan.stopped_by and plan.stopped_by[0].rule == "cpu-overcommit", plan.stopped_by
    assert plan.stopped_by[0].guests == 6  # the six memory-heavy guests of pve1
    doc = plan_section(plan, snap)  # type: ignore[arg-type]
    assert doc["stopped_by"][0] == {
        "rule": "cpu-overcommit",
        "guests": 6,
        "detail": plan.stopped_by[0].detail,
    }
    console = Console(width=200, record=True)
    console.print(summary_text(plan))
    assert "held back by: cpu-overcommit (6 guests)" in console.export_text()


def test_cooldown_and_max_migrations_are_named() -> None:
    snap = overcommitted()
    cooled = {100 + i: 999_000.0 for i in range(3)}
    plan = plan_cycle(problem(snap, recently_moved=cooled, max_migrations=1))  # type: ignore[arg-type]
    rules = {c.rule: c.guests for c in plan.stopped_by}
    assert rules.get("cooldown") == 3 and "max_migrations" in rules, plan.stopped_by


def test_a_plan_that_reaches_balanciness_names_nothing() -> None:
    plan = plan_cycle(problem(overcommitted()))  # type: ignore[arg-type]
    assert plan.imbalance_after <= 10 and plan.stopped_by == ()
