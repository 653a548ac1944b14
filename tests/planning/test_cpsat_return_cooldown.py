"""CP-SAT honours the return-move rule and cooldowns like greedy (#12 finding 6 follow-up): with
the solver active a guest must not ping-pong back to the node it just left, nor move for balance
while in cooldown; a drain or a hard-rule repair still may."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from proxlb.domain import ClusterSnapshot, MigrationReason, VmId
from proxlb.planning import PlanningProblem, SolverMode, SolverPolicy, plan_cycle, validate
from proxlb.planning.cpsat import solve_cpsat
from tests.planning.builders import cluster, drain, exclude, guest, node, pin, problem, rules

NOW = 1_000_000.0
ACTIVE = SolverPolicy(enable=True, mode=SolverMode.ACTIVE, timeout_seconds=5)


def _snapshot() -> ClusterSnapshot:
    # pve1 is far fuller than pve2; only 101 can move (102 is excluded), and balancing wants it moved
    return cluster(
        [node("pve1", mem="64G"), node("pve2", mem="64G")],
        [guest(101, "pve1", mem="16G"), guest(102, "pve1", mem="24G")],
    )


def _problem(snap: ClusterSnapshot, *items: Any, **kw: Any) -> PlanningProblem:
    return problem(snap, rules(exclude(102), *items), now=NOW, balanciness=5, solver=ACTIVE, **kw)


def test_cpsat_moves_the_guest_when_nothing_holds_it() -> None:
    result = solve_cpsat(_problem(_snapshot(), cooldown_minutes=0))
    assert result.moves is not None
    assert [(m.vmid, m.target, m.reason) for m in result.moves] == [(101, "pve2", MigrationReason.BALANCE)]


def test_cpsat_never_balances_a_guest_back_to_the_node_it_just_left() -> None:
    pb = replace(_problem(_snapshot(), cooldown_minutes=0), recently_left={VmId(101): frozenset({"pve2"})})
    result = solve_cpsat(pb)
    assert result.moves is not None
    assert [(m.vmid, m.target) for m in result.moves] == []
    plan = plan_cycle(pb)
    assert plan.planner == "cpsat" and validate(plan, pb) == ()
    assert [(m.vmid, m.target) for m in plan.migrations] == []


def test_cpsat_picks_another_node_than_the_one_the_guest_just_left() -> None:
    snap = cluster(
        [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G")],
        [guest(101, "pve1", mem="16G"), guest(102, "pve1", mem="24G")],
    )
    for left in ("pve2", "pve3"):
        pb = replace(_problem(snap, cooldown_minutes=0), recently_left={VmId(101): frozenset({left})})
        plan = plan_cycle(pb)
        assert plan.planner == "cpsat"
        assert [(m.vmid, m.target) for m in plan.migrations] == [(101, ({"pve2", "pve3"} - {left}).pop())]


def test_cpsat_does_not_balance_a_guest_in_cooldown() -> None:
    pb = _problem(_snapshot(), recently_moved={101: NOW - 600}, cooldown_minutes=60)
    result = solve_cpsat(pb)
    assert result.moves is not None and result.moves == ()
    assert plan_cycle(pb).migrations == ()
    # once the cooldown has passed, it moves again
    later = solve_cpsat(replace(pb, now=NOW + 3600))
    assert later.moves is not None and [m.vmid for m in later.moves] == [101]


def test_cpsat_drain_may_send_a_guest_back_even_in_cooldown() -> None:
    snap = cluster(
        [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G", online=False)],
        [guest(101, "pve1", mem="16G")],
    )
    pb = problem(snap, rules(drain("pve1")), recently_moved={101: NOW - 60}, now=NOW, solver=ACTIVE)
    pb = replace(pb, recently_left={VmId(101): frozenset({"pve2"})})
    plan = plan_cycle(pb)
    assert plan.planner == "cpsat"
    assert [(m.vmid, m.target, m.reason) for m in plan.migrations] == [(101, "pve2", MigrationReason.DRAIN)]


def test_cpsat_strict_pin_repair_may_send_a_guest_back_even_in_cooldown() -> None:
    pb = _problem(_snapshot(), pin(101, "pve2"), recently_moved={101: NOW - 60}, cooldown_minutes=60)
    pb = replace(pb, recently_left={VmId(101): frozenset({"pve2"})})
    result = solve_cpsat(pb)
    assert result.moves is not None
    assert [(m.vmid, m.target, m.reason) for m in result.moves] == [(101, "pve2", MigrationReason.RULE)]
