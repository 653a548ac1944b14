"""Every guest's decision names the real reason it stays, including rules the plan could not meet."""

from __future__ import annotations

from proxlb.planning import plan_cycle
from tests.planning.builders import cluster, drain, guest, node, pin, problem, rules


def test_guest_pinned_to_a_drained_node_says_why_it_stays() -> None:
    snap = cluster([node("pve1"), node("pve2")], [guest(101, on="pve1"), guest(102, on="pve1")])
    plan = plan_cycle(problem(snap, rules(drain("pve1"), pin(101, "pve1"))))
    assert {m.vmid: m.target for m in plan.migrations} == {102: "pve2"}
    assert "pinned to pve1" in plan.decisions[101] and "drain of pve1" in plan.decisions[101]
    assert any("guest 101" in u.why for u in plan.unmet)
