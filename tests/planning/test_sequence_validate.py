"""Sequencing (safe order, dependencies, parking) and the validator's safety net."""

from __future__ import annotations

from dataclasses import replace

from proxlb.domain import GuestKind, Migration, MigrationReason, Plan, VmId
from proxlb.planning import validate
from proxlb.planning.sequence import sequence
from tests.planning.builders import anti, cluster, drain, exclude, guest, node, pin, problem, rules, together


def mig(
    vmid: int, src: str, dst: str, reason: MigrationReason = MigrationReason.BALANCE, step: int = 0
) -> Migration:
    return Migration(VmId(vmid), f"g{vmid}", GuestKind.QEMU, src, dst, reason, "test", step=step)


def plan_of(*moves: Migration) -> Plan:
    return Plan("x", migrations=moves)


def test_move_into_a_full_node_waits_for_the_move_that_frees_it() -> None:
    nodes = [node("a", mem="32G"), node("b", mem="32G"), node("c", mem="64G")]
    guests = [guest(1, on="a", mem="20G"), guest(2, on="b", mem="20G")]
    pb = problem(cluster(nodes, guests))
    ordered, unmet = sequence([mig(1, "a", "b"), mig(2, "b", "c")], pb)
    assert unmet == ()
    steps = {m.vmid: m for m in ordered}
    assert steps[2].step == 0 and steps[1].step == 1
    assert steps[1].depends_on == (2,)
    assert validate(plan_of(*ordered), pb) == ()


def test_swap_on_full_nodes_is_untangled_with_a_parking_move() -> None:
    nodes = [node("a", mem="32G"), node("b", mem="32G"), node("c", mem="64G")]
    guests = [guest(1, on="a", mem="20G"), guest(2, on="b", mem="20G")]
    pb = problem(cluster(nodes, guests))
    ordered, unmet = sequence([mig(1, "a", "b"), mig(2, "b", "a")], pb)
    assert unmet == ()
    reasons = [(m.vmid, m.source, m.target, m.reason, m.step) for m in ordered]
    assert reasons[0] == (1, "a", "c", MigrationReason.PARKING, 0)
    assert (2, "b", "a", MigrationReason.BALANCE, 1) in reasons
    assert (1, "c", "b", MigrationReason.BALANCE, 2) in reasons
    assert validate(plan_of(*ordered), pb) == ()


def test_swap_without_room_anywhere_is_reported_unmet() -> None:
    nodes = [node("a", mem="32G"), node("b", mem="32G")]
    pb = problem(cluster(nodes, [guest(1, on="a", mem="20G"), guest(2, on="b", mem="20G")]))
    ordered, unmet = sequence([mig(1, "a", "b"), mig(2, "b", "a")], pb)
    assert ordered == ()
    assert len(unmet) == 2 and "no node can take it temporarily" in unmet[0].why


def test_anti_affinity_partner_must_leave_before_the_other_arrives() -> None:
    nodes = [node("a"), node("b"), node("c")]
    pb = problem(cluster(nodes, [guest(1, on="a"), guest(2, on="b")]), rules(anti("x", 1, 2)))
    ordered, _ = sequence([mig(1, "a", "b"), mig(2, "b", "c")], pb)
    steps = {m.vmid: m.step for m in ordered}
    assert steps[2] < steps[1]
    assert validate(plan_of(*ordered), pb) == ()


def test_drains_are_ordered_before_balance_moves() -> None:
    nodes = [node("a"), node("b"), node("c")]
    pb = problem(cluster(nodes, [guest(1, on="a"), guest(2, on="c")]), rules(drain("c")))
    ordered, _ = sequence([mig(1, "a", "b"), mig(2, "c", "b", MigrationReason.DRAIN)], pb)
    assert ordered[0].vmid == 2


def test_validate_catches_overfill_in_flight() -> None:
    nodes = [node("a", mem="32G"), node("b", mem="32G")]
    pb = problem(cluster(nodes, [guest(1, on="a", mem="20G"), guest(2, on="b", mem="20G")]))
    errors = validate(plan_of(mig(1, "a", "b"), mig(2, "b", "a")), pb)
    assert any("memory on b" in e for e in errors) and any("memory on a" in e for e in errors)


def test_validate_catches_rule_breaks() -> None:
    nodes = [node("a"), node("b"), node("c")]
    guests = [guest(1, on="a"), guest(2, on="b"), guest(3, on="a"), guest(4, on="a"), guest(5, on="a")]
    cons = rules(anti("x", 1, 2), exclude(3), pin(4, "a"), together("t", 5, 1), drain("c"))
    pb = problem(cluster(nodes, guests), cons)
    cases = {
        "anti-affinity pair 1/2": plan_of(mig(1, "a", "b")),
        "may not move": plan_of(mig(3, "a", "b")),
        "strict pin": plan_of(mig(4, "a", "b")),
        "split": plan_of(mig(5, "a", "b")),
        "drained": plan_of(mig(5, "a", "c")),
        "is on a, not b": plan_of(mig(1, "b", "c")),
        "without parking": plan_of(mig(4, "a", "a"), replace(mig(4, "a", "a"), step=1)),
    }
    for expected, plan in cases.items():
        errors = validate(plan, pb)
        assert any(expected in e for e in errors), (expected, errors)


def test_validate_checks_the_budget_and_dependencies() -> None:
    nodes = [node("a"), node("b")]
    pb = problem(cluster(nodes, [guest(1, on="a"), guest(2, on="a")]), max_migrations=1)
    errors = validate(plan_of(mig(1, "a", "b"), replace(mig(2, "a", "b"), depends_on=(VmId(1),))), pb)
    assert any("max_migrations" in e for e in errors)
    assert any("depends on 1" in e for e in errors)
