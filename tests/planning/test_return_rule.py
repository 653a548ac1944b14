"""The return-move rule (#12 finding 6): balancing never sends a guest back to a node it left
recently; a drain (or another hard reason) still may."""

from __future__ import annotations

from dataclasses import replace

from proxlb.domain import ClusterSnapshot, VmId
from proxlb.planning import plan_cycle
from tests.planning.builders import cluster, drain, exclude, guest, node, problem, rules


def _snapshot() -> ClusterSnapshot:
    # pve1 is far fuller than pve2; only 101 can move, and it came from pve2 in the last cycles
    return cluster(
        [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G")],
        [guest(101, "pve1", mem="16G"), guest(102, "pve1", mem="24G")],
    )


def test_balancing_picks_another_node_than_the_one_the_guest_just_left() -> None:
    snap = _snapshot()
    free = plan_cycle(problem(snap, rules(exclude(102)), balanciness=5, cooldown_minutes=0))
    assert {m.vmid for m in free.migrations} == {101}  # balancing wants to move it
    left = {VmId(101): frozenset({free.migrations[0].target})}
    guarded = plan_cycle(
        replace(problem(snap, rules(exclude(102)), balanciness=5, cooldown_minutes=0), recently_left=left)
    )
    assert all(not (m.vmid == 101 and m.target in left[VmId(101)]) for m in guarded.migrations)


def test_a_drain_may_still_send_a_guest_back() -> None:
    snap = cluster(
        [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G", online=False)],
        [guest(101, "pve1", mem="16G")],
    )
    left = {VmId(101): frozenset({"pve2"})}
    plan = plan_cycle(replace(problem(snap, rules(drain("pve1"))), recently_left=left))
    assert [(m.vmid, m.target) for m in plan.migrations] == [(101, "pve2")]
