"""Keep-together and keep-apart on the same guests cannot both hold. Found by the re-planning
property: with both rules soft, the affinity unit stayed whole and the keep-apart repair re-routed
it back and forth, so the parity of that loop decided where a drained pair went, and planning again
with the plan remembered sent it elsewhere."""

from __future__ import annotations

from proxlb.domain import VmId
from proxlb.planning import plan_cycle, validate
from proxlb.planning.problem import PlanningProblem
from tests.planning.builders import anti, cluster, drain, guest, node, problem, rules, together


def _drained_pair(strict_together: bool) -> PlanningProblem:
    snap = cluster(
        [node(f"pve{i}", mem="48G") for i in range(3)] + [node(f"pve{i}", mem="64G") for i in (3, 4)],
        [
            guest(100, on="pve1", mem="1G", used_mem="1G"),
            guest(101, on="pve0", mem="2G", used_mem="2G"),
            guest(102, on="pve0", mem="1G", used_mem="0"),
        ],
    )
    cons = rules(
        together("plb_affinity_0", 100, 101, strict=strict_together),
        anti("plb_anti_affinity_0", 100, 101, strict=False),
        drain("pve0"),
    )
    return problem(snap, cons, balanciness=2.0)


def _targets(pb: PlanningProblem, previous: dict[VmId, str] | None = None) -> dict[VmId, str]:
    if previous is not None:
        pb = PlanningProblem(
            pb.snapshot, pb.constraints, pb.policy, pb.recently_moved, pb.now, None, previous
        )
    plan = plan_cycle(pb)
    assert validate(plan, pb) == ()
    return {m.vmid: m.target for m in plan.migrations}


def test_soft_keep_apart_wins_over_soft_keep_together_and_the_plan_is_stable() -> None:
    pb = _drained_pair(strict_together=False)
    first = _targets(pb)
    assert first.get(VmId(100), "pve1") != first.get(VmId(101), "pve0")  # apart wins
    assert pb.index.conflicts, "the split is reported"
    assert _targets(pb, first) == first


def test_strict_keep_together_wins_over_soft_keep_apart() -> None:
    pb = _drained_pair(strict_together=True)
    first = _targets(pb)
    assert first.get(VmId(101), "pve0") == first.get(VmId(100), "pve1")  # together wins
    assert pb.index.conflicts == ()
    assert _targets(pb, first) == first
