"""Every guest's decision names the real reason it stays, including rules the plan could not meet."""

from __future__ import annotations

from proxlb.domain import CauseKind, VmId
from proxlb.planning import plan_cycle
from tests.planning.builders import cluster, drain, guest, node, pin, problem, rules


def test_guest_pinned_to_a_drained_node_says_why_it_stays() -> None:
    snap = cluster([node("pve1"), node("pve2")], [guest(101, on="pve1"), guest(102, on="pve1")])
    plan = plan_cycle(problem(snap, rules(drain("pve1"), pin(101, "pve1"))))
    assert {m.vmid: m.target for m in plan.migrations} == {102: "pve2"}
    cause = plan.decisions[VmId(101)].cause
    assert cause is not None and cause.kind is CauseKind.UNMET and cause.name.startswith("drain of pve1")
    assert "pinned to pve1" in cause.detail
    assert [u.vmids for u in plan.unmet] == [(101,)]
