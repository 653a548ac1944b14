"""Never worse (#11): in every mode and method, no plan raises the spread or the highest node load
of the balanced metric unless a rule requires it — and then the plan names the rule."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from proxlb.domain import MigrationReason
from proxlb.planning import plan_cycle, validate
from proxlb.planning.cycle import state_after
from proxlb.planning.guard import measures
from proxlb.planning.metrics import LoadState
from proxlb.planning.policy import Mode, PsiLimit
from proxlb.planning.problem import PlanningProblem
from tests.planning.builders import psi
from tests.planning.test_properties import SETTINGS, problems

LIMITS = {r: PsiLimit(pressure_full=0.2, pressure_some=0.2, pressure_spikes=1.0) for r in ("memory", "cpu")}


@st.composite
def any_mode(draw: Any) -> PlanningProblem:
    mode = draw(st.sampled_from([Mode.USED, Mode.ASSIGNED, Mode.PSI]))
    pb: PlanningProblem = draw(problems(mode=mode, psi_nodes=LIMITS, psi_guests=LIMITS))
    if mode is not Mode.PSI:
        return pb
    level = st.sampled_from([0.0, 0.1, 0.5, 3.0])
    nodes = tuple(
        replace(n, pressure=psi(mem_some=draw(level), mem_full=draw(level), cpu_some=draw(level)))
        for n in pb.snapshot.nodes
    )
    guests = tuple(
        replace(g, pressure=psi(mem_some=draw(level), mem_full=draw(level), cpu_some=draw(level)))
        for g in pb.snapshot.guests
    )
    snap = replace(pb.snapshot, nodes=nodes, guests=guests)
    return PlanningProblem(snap, pb.constraints, pb.policy, pb.recently_moved, pb.now)


@SETTINGS
@given(any_mode())
def test_no_plan_makes_the_balance_worse_unless_a_rule_says_so(pb: PlanningProblem) -> None:
    plan = plan_cycle(pb)
    assert validate(plan, pb) == ()
    spread0, peak0 = measures(LoadState.of(pb))
    spread1, peak1 = measures(state_after(pb, plan.migrations))
    if spread1 <= spread0 + 1e-6 and peak1 <= peak0 + 1e-6:
        return
    repairs = [m for m in plan.migrations if m.reason is not MigrationReason.BALANCE]
    assert repairs, f"balance-only plan made it worse: {spread0:.2f}→{spread1:.2f}, {peak0:.2f}→{peak1:.2f}"
    assert any(w.startswith("the balance gets worse") and "rules require it" for w in plan.warnings)


@SETTINGS
@given(any_mode())
def test_psi_plans_move_at_most_one_guest_for_pressure(pb: PlanningProblem) -> None:
    plan = plan_cycle(pb)
    if pb.policy.mode is Mode.PSI and any(n.pressure.known for n in pb.snapshot.nodes):
        # one move: one guest, or one affinity unit of guests that travel together
        legs = {(m.source, m.target) for m in plan.migrations if m.reason is MigrationReason.BALANCE}
        assert len(legs) <= 1, plan.migrations


@SETTINGS
@given(any_mode())
def test_replanning_with_its_own_plan_remembered_gives_the_same_plan(pb: PlanningProblem) -> None:
    """A dry run followed at once by the real run: the remembered plan is the plan (stable plans)."""
    plan = plan_cycle(pb)
    remembered = {m.vmid: m.target for m in plan.migrations}  # a parked guest: its final target
    again = plan_cycle(
        PlanningProblem(pb.snapshot, pb.constraints, pb.policy, pb.recently_moved, pb.now, None, remembered)
    )
    assert validate(again, pb) == ()
    assert {m.vmid: m.target for m in again.migrations} == remembered
