"""Property tests on random small clusters: valid, deterministic, safe, never worse, no ping-pong."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxlb.domain import MigrationReason
from proxlb.planning import plan_cycle, validate
from proxlb.planning.cycle import state_after
from proxlb.planning.policy import Method, Mode
from proxlb.planning.problem import PlanningProblem
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
    rules,
    together,
)

SIZES = ["1G", "2G", "4G", "8G", "12G", "16G"]


@st.composite
def problems(draw: Any, **fixed: Any) -> PlanningProblem:
    n_nodes = draw(st.integers(2, 5))
    names = [f"pve{i}" for i in range(n_nodes)]
    nodes = [
        node(n, cores=draw(st.sampled_from([8, 16, 32])), mem=draw(st.sampled_from(["48G", "64G", "128G"])))
        for n in names
    ]
    n_guests = draw(st.integers(0, 14))
    guests = [
        guest(
            100 + i,
            on=draw(st.sampled_from(names)),
            mem=draw(st.sampled_from(SIZES)),
            cores=draw(st.sampled_from([1, 2, 4])),
            cpu=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
            status=draw(st.sampled_from(["running", "running", "running", "stopped"])),
        )
        for i in range(n_guests)
    ]
    vmids = [100 + i for i in range(n_guests)]
    items: list[Any] = []
    if len(vmids) >= 2:
        for k in range(draw(st.integers(0, 2))):
            members = draw(st.lists(st.sampled_from(vmids), min_size=2, max_size=3, unique=True))
            items.append(anti(f"plb_anti_affinity_{k}", *members, strict=draw(st.booleans())))
        for k in range(draw(st.integers(0, 1))):
            members = draw(st.lists(st.sampled_from(vmids), min_size=2, max_size=2, unique=True))
            items.append(together(f"plb_affinity_{k}", *members, strict=draw(st.booleans())))
    if vmids:
        for v in draw(st.lists(st.sampled_from(vmids), max_size=2, unique=True)):
            allowed = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
            items.append(pin(v, *allowed, strict=draw(st.booleans())))
        for v in draw(st.lists(st.sampled_from(vmids), max_size=1)):
            items.append(exclude(v))
    if draw(st.integers(0, 3)) == 0:
        items.append(drain(draw(st.sampled_from(names))))
    policy: dict[str, Any] = {
        "mode": draw(st.sampled_from([Mode.USED, Mode.ASSIGNED])),
        "method": draw(st.sampled_from([Method.MEMORY, Method.CPU, Method.COMBINED])),
        "balanciness": draw(st.sampled_from([2.0, 5.0, 10.0])),
        "min_improvement": draw(st.sampled_from([0.0, 1.0, 3.0])),
        "enforce_affinity": draw(st.booleans()),
        "enforce_pinning": draw(st.booleans()),
        "overprovisioning": draw(st.booleans()),
    }
    policy.update(fixed)
    return problem(cluster(nodes, guests), rules(*items), **policy)


SETTINGS = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(problems())
def test_every_plan_validates_and_is_deterministic(pb: PlanningProblem) -> None:
    plan = plan_cycle(pb)
    assert validate(plan, pb) == ()
    again = plan_cycle(PlanningProblem(pb.snapshot, pb.constraints, pb.policy, pb.recently_moved, pb.now))
    assert again == plan
    assert set(plan.decisions) == {g.vmid for g in pb.snapshot.guests}


@SETTINGS
@given(problems())
def test_balance_only_plans_never_make_the_objective_worse(pb: PlanningProblem) -> None:
    plan = plan_cycle(pb)
    if all(m.reason is MigrationReason.BALANCE for m in plan.migrations):
        before, after = plan.stats["objective_before"], plan.stats["objective_after"]
        assert after <= before + 1e-6


@SETTINGS
@given(problems())
def test_no_new_strict_rule_breaks_at_the_end(pb: PlanningProblem) -> None:
    plan = plan_cycle(pb)
    end = state_after(pb, plan.migrations).placement
    start = {g.vmid: g.node for g in pb.snapshot.guests}
    for rule in pb.constraints.anti_affinities:
        if rule.strict:
            shared_end = len({end[m] for m in rule.members}) < len(rule.members)
            shared_start = len({start[m] for m in rule.members}) < len(rule.members)
            assert not shared_end or shared_start
    for p in pb.constraints.pins:
        if p.strict and p.vmid in {m.vmid for m in plan.migrations}:
            assert end[p.vmid] in p.nodes


@SETTINGS
@given(problems())
def test_replanning_after_the_plan_yields_no_balancing_moves(pb: PlanningProblem) -> None:
    plan = plan_cycle(pb)
    after = PlanningProblem(apply_plan(pb.snapshot, plan), pb.constraints, pb.policy, {}, pb.now)
    again = plan_cycle(after)
    assert [m for m in again.migrations if m.reason is MigrationReason.BALANCE] == []
