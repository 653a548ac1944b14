"""Scenario tests: one small cluster per feature, with the outcome the feature promises.

Every test runs once per registered planner (planning/planners.py PLANNERS): `greedy` alone, and
`cpsat` active without fallback (the greedy planner still runs beside it and supplies the per-guest
records, as in production), so a feature holds whichever planner the admin selects.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from proxlb.domain import MigrationReason, Plan, PressureSet, VmId
from proxlb.planning import PlanningProblem, plan_cycle, validate
from proxlb.planning.planners import PLANNERS
from proxlb.planning.policy import Method, Mode, PsiLimit, SolverMode, SolverPolicy
from proxlb.report.sentences import decision_sentence
from tests.planning import builders
from tests.planning.builders import (
    anti,
    apply_plan,
    cluster,
    drain,
    exclude,
    guest,
    node,
    pin,
    problem,
    psi,
    rules,
    together,
)

NODES3 = [node("pve1"), node("pve2"), node("pve3")]
SOLVER = SolverPolicy(enable=True, mode=SolverMode.ACTIVE, fallback_to_greedy=False, timeout_seconds=5)

# Where CP-SAT's plan differs from what the feature promises (found by running every scenario with
# every planner; strict: each entry fails today and must be removed when CP-SAT is fixed). Empty
# since the last two (the overprovisioning swap, the dropped conflict report) were resolved.
CPSAT_GAPS: dict[str, str] = {}


@pytest.fixture(autouse=True, params=sorted(PLANNERS))
def planner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with this planner selected the way the configuration selects it (solver.enable)."""
    name = str(request.param)
    if name == "cpsat":
        gap = CPSAT_GAPS.get(request.function.__name__)
        if gap is not None:
            request.applymarker(pytest.mark.xfail(raises=AssertionError, strict=True, reason=gap))

        def with_solver(*args: Any, **policy: Any) -> PlanningProblem:
            policy.setdefault("solver", SOLVER)
            return builders.problem(*args, **policy)

        monkeypatch.setattr(sys.modules[__name__], "problem", with_solver)
    return name


def cause_of(plan: Plan, vmid: int) -> tuple[str, str]:
    """(kind, name) of the typed cause the plan records for a guest that stays."""
    cause = plan.decisions[VmId(vmid)].cause
    assert cause is not None, plan.decisions[VmId(vmid)]
    return cause.kind.value, cause.name


def heavy_pve1(n: int = 10, mem: str = "8G", **kw: object) -> list:  # type: ignore[type-arg]
    return [guest(100 + i, on="pve1", mem=mem, **kw) for i in range(n)]  # type: ignore[arg-type]


def targets(plan) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {m.vmid: m.target for m in plan.migrations}


def test_unbalanced_cluster_is_balanced_to_within_balanciness() -> None:
    pb = problem(cluster(NODES3, heavy_pve1()))
    plan = plan_cycle(pb)
    assert plan.triggered
    assert plan.imbalance_before == 62.5
    assert plan.imbalance_after <= 10
    assert all(m.reason is MigrationReason.BALANCE for m in plan.migrations)
    assert all(m.imbalance_after < m.imbalance_before or m.imbalance_after <= 10 for m in plan.migrations)
    assert validate(plan, pb) == ()


def test_balanced_cluster_plans_nothing_and_says_why() -> None:
    guests = [guest(101, on="pve1"), guest(102, on="pve2"), guest(103, on="pve3")]
    plan = plan_cycle(problem(cluster(NODES3, guests)))
    assert plan.migrations == ()
    assert not plan.triggered
    assert all(d.cause is not None and d.cause.name == "balanciness" for d in plan.decisions.values())


def test_drain_moves_every_guest_off_and_never_onto_the_drained_node() -> None:
    guests = [guest(100 + i, on="pve3") for i in range(4)] + [guest(200, on="pve1", mem="40G")]
    pb = problem(cluster(NODES3, guests), rules(drain("pve3")))
    plan = plan_cycle(pb)
    moved = targets(plan)
    assert set(moved) == {100, 101, 102, 103}
    assert "pve3" not in moved.values()
    assert all(m.reason is MigrationReason.DRAIN for m in plan.migrations)
    # plain words an admin reads in the summary (#20 item 6: was "1 rule/drain repair(s)")
    assert plan.triggered and "1 node to empty (maintenance)" in plan.trigger_reason


def test_the_trigger_names_broken_rules_in_plain_words() -> None:
    guests = [guest(100, on="pve1"), guest(101, on="pve1"), guest(102, on="pve2"), guest(103, on="pve2")]
    pb = problem(cluster(NODES3, guests), rules(anti("db", 100, 101), anti("web", 102, 103)))
    plan = plan_cycle(pb)
    assert plan.triggered and "2 broken rules (anti-affinity)" in plan.trigger_reason, plan.trigger_reason
    assert "repair(s)" not in plan.trigger_reason


def test_ha_maintenance_node_is_drained_too() -> None:
    nodes = [node("pve1"), node("pve2", ha_maintenance=True)]
    plan = plan_cycle(problem(cluster(nodes, [guest(101, on="pve2")])))
    assert targets(plan) == {101: "pve1"}


def test_excluded_guest_on_drained_node_stays_and_is_reported() -> None:
    pb = problem(
        cluster(NODES3, [guest(101, on="pve3"), guest(102, on="pve3")]), rules(drain("pve3"), exclude(101))
    )
    plan = plan_cycle(pb)
    assert set(targets(plan)) == {102}
    assert cause_of(plan, 101) == ("rule", "excluded")
    assert decision_sentence(plan.decisions[101]) == "stays: excluded: tag plb_ignore_dev"  # golden
    assert any("101" in u.why for u in plan.unmet)


def test_anti_affinity_pair_sharing_a_node_is_split() -> None:
    guests = [guest(101, on="pve1"), guest(102, on="pve1"), guest(103, on="pve2")]
    plan = plan_cycle(problem(cluster(NODES3, guests), rules(anti("plb_anti_affinity_db", 101, 102))))
    assert len(plan.migrations) == 1
    m = plan.migrations[0]
    assert m.reason is MigrationReason.RULE and m.vmid in (101, 102)
    assert m.target != "pve1"


def test_balance_never_puts_anti_affinity_members_together() -> None:
    guests = [*heavy_pve1(6), guest(200, on="pve2"), guest(201, on="pve3")]
    cons = rules(*(anti(f"plb_anti_affinity_{i}", 100 + i, 200, 201) for i in range(6)))
    plan = plan_cycle(problem(cluster(NODES3, guests), cons))
    assert plan.migrations == ()  # every target holds a partner
    assert any(cause_of(plan, v) == ("check", "anti-affinity") for v in plan.decisions)


def test_strict_pin_violation_is_repaired_to_the_pinned_node() -> None:
    guests = [guest(101, on="pve1"), guest(102, on="pve2"), guest(103, on="pve3")]
    plan = plan_cycle(problem(cluster(NODES3, guests), rules(pin(101, "pve3"))))
    assert targets(plan) == {101: "pve3"}
    assert plan.migrations[0].reason is MigrationReason.RULE


def test_strict_pin_keeps_guest_home_during_balancing() -> None:
    pb = problem(cluster(NODES3, heavy_pve1()), rules(*(pin(100 + i, "pve1") for i in range(10))))
    assert plan_cycle(pb).migrations == ()


def test_soft_pin_violation_repaired_only_with_enforce_pinning() -> None:
    guests = [guest(101, on="pve1"), guest(102, on="pve2"), guest(103, on="pve3")]
    cons = rules(pin(101, "pve2", strict=False))
    assert plan_cycle(problem(cluster(NODES3, guests), cons)).migrations == ()
    plan = plan_cycle(problem(cluster(NODES3, guests), cons, enforce_pinning=True))
    assert targets(plan) == {101: "pve2"}


def test_affinity_group_moves_together() -> None:
    guests = [*heavy_pve1(7), guest(300, on="pve1", mem="8G"), guest(301, on="pve1", mem="8G")]
    pb = problem(cluster(NODES3, guests), rules(together("plb_affinity_web", 300, 301)))
    plan = plan_cycle(pb)
    after = apply_plan(pb.snapshot, plan)
    assert after.guest(300).node == after.guest(301).node  # type: ignore[union-attr]
    moved = targets(plan)
    assert (300 in moved) == (301 in moved)


def test_split_affinity_group_is_joined() -> None:
    guests = [guest(101, on="pve1"), guest(102, on="pve2"), guest(103, on="pve2"), guest(104, on="pve3")]
    plan = plan_cycle(problem(cluster(NODES3, guests), rules(together("plb_affinity_app", 101, 102, 103))))
    assert targets(plan) == {101: "pve2"}


def test_locked_template_passthrough_and_type_filter_never_move() -> None:
    guests = [
        guest(100, on="pve1", mem="30G", lock="backup"),
        guest(101, on="pve1", mem="30G", template=True, status="stopped"),
        guest(102, on="pve1", mem="30G", local_devices=("hostpci0",)),
        guest(103, on="pve1", mem="30G", kind="lxc"),
    ]
    plan = plan_cycle(problem(cluster(NODES3, guests), balance_types=frozenset({"vm"})))
    assert plan.migrations == ()
    assert [cause_of(plan, v)[1] for v in (100, 101, 102, 103)] == [
        "locked",
        "template",
        "local devices",
        "balance_types",
    ]
    assert decision_sentence(plan.decisions[100]) == "stays: locked (backup)"  # golden


def test_local_disks_need_permission_and_are_counted_as_cost() -> None:
    guests = [guest(100 + i, on="pve1", mem="8G", local_disk_bytes=20 * 2**30) for i in range(8)]
    blocked = plan_cycle(problem(cluster(NODES3, guests), with_local_disks=False))
    assert blocked.migrations == ()
    assert cause_of(blocked, 100) == ("rule", "with_local_disks")
    allowed = plan_cycle(problem(cluster(NODES3, guests)))
    assert allowed.migrations
    assert all(m.bytes_to_copy == 28 * 2**30 for m in allowed.migrations)


def test_local_disk_needs_the_storage_on_the_target() -> None:
    nodes = [
        node("pve1", storages=["local-zfs"]),
        node("pve2", storages=["local-zfs"]),
        node("pve3", storages=["nfs"]),
    ]
    guests = [
        guest(100 + i, on="pve1", local_disk_bytes=2**30, local_storages=frozenset({"local-zfs"}))
        for i in range(8)
    ]
    plan = plan_cycle(problem(cluster(nodes, guests)))
    assert plan.migrations and all(m.target == "pve2" for m in plan.migrations)


def test_memory_capacity_and_reserve_are_hard() -> None:
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G")]
    guests = [
        guest(101, on="pve1", mem="40G"),
        guest(102, on="pve1", mem="16G"),
        guest(103, on="pve2", mem="30G"),
    ]
    gib = 2**30
    from proxlb.domain import Resources

    plan = plan_cycle(problem(cluster(nodes, guests), reserve_default=Resources(0, 20 * gib, 0)))
    assert plan.migrations == ()
    assert cause_of(plan, 102) == ("check", "memory")
    cause = plan.decisions[VmId(102)].cause
    assert cause is not None and cause.number("needs") == 16.0 and (cause.number("free") or 0) < 16.0
    assert "GiB free after reserve" in decision_sentence(plan.decisions[102])


def test_overprovisioning_false_blocks_moves_onto_committed_nodes() -> None:
    # pve2's memory is fully assigned to stopped guests that are ignored (they cannot make room), so
    # no running guest may go there although pve2 uses no memory
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G")]
    stopped = [guest(200 + i, on="pve2", mem="16G", status="stopped") for i in range(4)]
    guests = [guest(100 + i, on="pve1", mem="12G") for i in range(4)] + stopped
    ignored = rules(*(exclude(200 + i) for i in range(4)))
    plan = plan_cycle(problem(cluster(nodes, guests), ignored))
    assert plan.migrations == ()
    assert cause_of(plan, 100) == ("check", "overprovisioning")
    assert plan_cycle(problem(cluster(nodes, guests), ignored, overprovisioning=True)).migrations


def test_overprovisioning_false_lets_a_plan_make_room_first(planner: str) -> None:
    # the same cluster with pve2's stopped guests movable: greedy judges move by move and the first
    # move onto pve2 is refused; CP-SAT plans the swap that leaves both nodes within their memory
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G")]
    stopped = [guest(200 + i, on="pve2", mem="16G", status="stopped") for i in range(4)]
    guests = [guest(100 + i, on="pve1", mem="12G") for i in range(4)] + stopped
    pb = problem(cluster(nodes, guests))
    plan = plan_cycle(pb)
    assert validate(plan, pb) == ()
    after = apply_plan(pb.snapshot, plan)
    for n in ("pve1", "pve2"):
        assigned = sum(g.allocated.mem_bytes for g in after.guests if g.node == n)
        assert assigned <= builders.size("64G"), (n, assigned)
    if planner == "greedy":
        assert plan.migrations == ()
    else:
        assert {m.target for m in plan.migrations} == {"pve1", "pve2"}


def test_cpu_overcommit_cap_is_hard() -> None:
    nodes = [node("pve1", cores=8), node("pve2", cores=8)]
    guests = [guest(100 + i, on="pve1", mem="10G", cores=2) for i in range(6)] + [
        guest(200, on="pve2", mem="1G", cores=16)
    ]
    plan = plan_cycle(problem(cluster(nodes, guests), cpu_overcommit=2.0))
    assert plan.migrations == ()
    assert cause_of(plan, 100) == ("check", "cpu-overcommit")


def test_thresholds_are_gates() -> None:
    guests = heavy_pve1(5)  # pve1 at 31 %, others 0 %
    assert plan_cycle(problem(cluster(NODES3, guests), thresholds={"memory": 50})).migrations == ()
    assert plan_cycle(problem(cluster(NODES3, guests), thresholds={"memory": 30})).migrations


def test_spread_within_balanciness_does_nothing() -> None:
    guests = [guest(101, on="pve1", mem="10G"), guest(102, on="pve2", mem="2G")]
    assert plan_cycle(problem(cluster(NODES3, guests))).migrations == ()


def test_min_improvement_blocks_moves_that_would_only_swap_loads() -> None:
    nodes = [node("pve1", mem="100G"), node("pve2", mem="100G")]
    guests = [guest(101, on="pve1", mem="30G"), guest(102, on="pve2", mem="16G")]
    plan = plan_cycle(problem(cluster(nodes, guests), balanciness=5))
    assert plan.migrations == ()
    assert cause_of(plan, 101) == ("limit", "min_improvement")
    cause = plan.decisions[VmId(101)].cause
    assert cause is not None and cause.number("min_improvement") == 1.0


def test_cooldown_keeps_recently_moved_guests() -> None:
    guests = heavy_pve1(4, mem="30G")
    recently = {100 + i: 1_000_000.0 - 600 for i in range(4)}
    plan = plan_cycle(problem(cluster(NODES3, guests), recently_moved=recently))
    assert plan.migrations == ()
    assert cause_of(plan, 100) == ("limit", "cooldown_minutes")
    assert decision_sentence(plan.decisions[100]).startswith("stays: in cooldown until")  # golden
    later = plan_cycle(problem(cluster(NODES3, guests), recently_moved=recently, now=1_000_000.0 + 360 * 60))
    assert later.migrations


def test_budget_limits_the_number_of_migrations() -> None:
    plan = plan_cycle(problem(cluster(NODES3, heavy_pve1()), max_migrations=2))
    assert len(plan.migrations) == 2


def test_combined_method_balances_cpu_too() -> None:
    nodes = [node("pve1", cores=16), node("pve2", cores=16)]
    guests = [guest(100 + i, on="pve1", mem="4G", cpu=2) for i in range(6)] + [
        guest(200 + i, on="pve2", mem="4G", cpu=0) for i in range(6)
    ]
    assert plan_cycle(problem(cluster(nodes, guests), method=Method.MEMORY)).migrations == ()
    plan = plan_cycle(problem(cluster(nodes, guests), method=Method.COMBINED))
    assert plan.migrations
    assert plan.metrics_after["pve1"]["cpu"] < plan.metrics_before["pve1"]["cpu"]


def test_heterogeneous_nodes_balance_on_percent() -> None:
    nodes = [node("big", mem="256G"), node("small", mem="64G")]
    guests = [guest(100 + i, on="small", mem="6G") for i in range(8)]
    plan = plan_cycle(problem(cluster(nodes, guests)))
    assert plan.metrics_after["small"]["memory"] - plan.metrics_after["big"]["memory"] <= 10
    assert all(m.target == "big" for m in plan.migrations)


def test_assigned_mode_counts_stopped_guests() -> None:
    nodes = [node("pve1"), node("pve2")]
    guests = [guest(100 + i, on="pve1", mem="16G", status="stopped") for i in range(4)] + [
        guest(200, on="pve2", mem="8G")
    ]
    assert plan_cycle(problem(cluster(nodes, guests), mode=Mode.USED)).migrations == ()
    assert plan_cycle(problem(cluster(nodes, guests), mode=Mode.ASSIGNED)).migrations


def test_psi_mode_moves_off_hot_nodes_and_falls_back_without_pressure() -> None:
    limits = {"memory": PsiLimit(pressure_full=5, pressure_some=10, pressure_spikes=50)}
    nodes = [
        node("pve1", pressure=psi(mem_some=30, mem_full=10)),
        node("pve2", pressure=psi()),
        node("pve3", pressure=psi()),
    ]
    guests = [guest(101, on="pve1"), guest(102, on="pve1"), guest(103, on="pve2")]
    plan = plan_cycle(problem(cluster(nodes, guests), mode=Mode.PSI, psi_nodes=limits))
    assert len(plan.migrations) == 1 and plan.migrations[0].source == "pve1"
    assert "pressure" in plan.trigger_reason
    pve8 = [node(n, pressure=PressureSet(), version=(8, 2, 0)) for n in ("pve1", "pve2", "pve3")]
    fallback = plan_cycle(problem(cluster(pve8, heavy_pve1()), mode=Mode.PSI, psi_nodes=limits))
    assert fallback.migrations
    assert any("psi" in w for w in fallback.warnings)


def test_unsatisfiable_anti_affinity_is_reported() -> None:
    nodes = [node("pve1"), node("pve2")]
    guests = [guest(101, on="pve1"), guest(102, on="pve1"), guest(103, on="pve2")]
    plan = plan_cycle(problem(cluster(nodes, guests), rules(anti("plb_anti_affinity_x", 101, 102, 103))))
    assert plan.migrations == ()
    assert any("anti-affinity" in u.rule and "no valid target" in u.why for u in plan.unmet)


def test_drain_that_does_not_fit_is_reported_not_forced() -> None:
    nodes = [node("pve1", mem="16G"), node("pve2", mem="16G")]
    pb = problem(cluster(nodes, [guest(101, on="pve2", mem="20G")]), rules(drain("pve2")))
    plan = plan_cycle(pb)
    assert plan.migrations == ()
    assert any("needs 20.0 GiB" in u.why for u in plan.unmet)


def test_replanning_after_the_plan_moves_nothing() -> None:
    pb = problem(cluster(NODES3, [*heavy_pve1(13, mem="5G"), guest(300, on="pve2", mem="11G")]))
    plan = plan_cycle(pb)
    again = plan_cycle(problem(apply_plan(pb.snapshot, plan)))
    assert again.migrations == ()


def test_same_problem_gives_identical_plan() -> None:
    pb = problem(cluster(NODES3, heavy_pve1()))
    assert plan_cycle(pb) == plan_cycle(problem(cluster(NODES3, heavy_pve1())))


def test_keep_apart_wins_over_keep_together_and_is_reported() -> None:
    guests = [guest(101, on="pve1"), guest(102, on="pve1"), guest(103, on="pve2")]
    cons = rules(together("plb_affinity_app", 101, 102), anti("plb_anti_affinity_app", 101, 102))
    plan = plan_cycle(problem(cluster(NODES3, guests), cons))
    assert len(plan.migrations) == 1 and plan.migrations[0].vmid in (101, 102)
    assert any(u.rule == "affinity vs anti-affinity" for u in plan.unmet)


def test_repair_re_routes_a_partner_that_joined_through_a_drain() -> None:
    nodes = [node(f"pve{i}", cores=8, mem="48G") for i in range(5)]
    on = {100: "pve0", 101: "pve0", 102: "pve0", 103: "pve0", 104: "pve0", 105: "pve1", 108: "pve1"}
    guests = [guest(v, on=n, mem="1G", cores=1) for v, n in on.items()]
    cons = rules(together("a", 100, 108, strict=False), anti("b", 105, 108), drain("pve0"))
    pb = problem(cluster(nodes, guests), cons, balanciness=2.0, min_improvement=0.0)
    plan = plan_cycle(pb)
    after = apply_plan(pb.snapshot, plan)
    assert after.guest(105).node != after.guest(108).node  # type: ignore[union-attr]
    assert len({m.vmid for m in plan.migrations}) == len(plan.migrations)
    assert plan_cycle(problem(after, cons, balanciness=2.0, min_improvement=0.0)).migrations == ()


def test_pin_repair_prefers_the_highest_ha_priority_node() -> None:
    guests = [guest(101, on="pve1"), guest(102, on="pve3", mem="4G")]
    cons = rules(pin(101, "pve2", "pve3", priorities=(("pve2", 1), ("pve3", 2))))
    plan = plan_cycle(problem(cluster(NODES3, guests), cons))
    assert targets(plan) == {101: "pve3"}


def test_drain_places_the_largest_guests_first() -> None:
    nodes = [node("pve1", mem="32G"), node("pve2", mem="32G"), node("pve3", mem="64G")]
    guests = [
        guest(101, on="pve3", mem="8G"),
        guest(102, on="pve3", mem="8G"),
        guest(103, on="pve3", mem="24G"),
    ]
    plan = plan_cycle(problem(cluster(nodes, guests), rules(drain("pve3"))))
    assert set(targets(plan)) == {101, 102, 103}  # smallest-first would leave no node for the 24G guest
