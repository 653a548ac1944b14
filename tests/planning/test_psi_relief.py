"""PSI relief (#11): a real what-if on pressure, and at most one migration per PSI window."""

from __future__ import annotations

from dataclasses import replace

from proxlb.planning import plan_cycle
from proxlb.planning.policy import Mode, PsiLimit
from tests.planning.builders import cluster, guest, node, problem, psi

LIMITS = {"memory": PsiLimit(pressure_full=5, pressure_some=10, pressure_spikes=50)}


def hot_cluster() -> object:
    nodes = [
        node("pve1", pressure=psi(mem_some=30, mem_full=10)),
        node("pve2", pressure=psi(mem_some=30, mem_full=10)),
        node("pve3", pressure=psi()),
        node("pve4", pressure=psi()),
    ]
    guests = [guest(100 + i, on="pve1", mem="16G", used_mem="14G") for i in range(4)]
    guests += [guest(200 + i, on="pve2", mem="16G", used_mem="14G") for i in range(4)]
    guests += [guest(300, on="pve3", mem="4G"), guest(400, on="pve4", mem="4G")]
    return cluster(nodes, guests)


def test_two_hot_nodes_get_one_move_per_plan() -> None:
    plan = plan_cycle(problem(hot_cluster(), mode=Mode.PSI, psi_nodes=LIMITS))  # type: ignore[arg-type]
    assert len(plan.migrations) == 1
    assert plan.migrations[0].source in ("pve1", "pve2") and plan.migrations[0].target in ("pve3", "pve4")


def test_no_move_within_the_psi_window_of_the_last_one() -> None:
    snap = hot_cluster()
    now = 1_000_000.0
    recent = problem(snap, mode=Mode.PSI, psi_nodes=LIMITS, now=now)  # type: ignore[arg-type]
    pb = type(recent)(recent.snapshot, recent.constraints, recent.policy, {}, now, last_move_at=now - 600)
    plan = plan_cycle(pb)
    assert plan.migrations == ()
    assert {d.cause.name for d in plan.decisions.values() if d.cause} == {"psi_window_minutes"}
    later = type(recent)(recent.snapshot, recent.constraints, recent.policy, {}, now, last_move_at=now - 3601)
    assert len(plan_cycle(later).migrations) == 1


def test_a_target_that_would_become_hot_is_never_chosen() -> None:
    # pve2 sits just below the thresholds; the hot guest carries much pressure and would tip it over
    nodes = [
        node("pve1", pressure=psi(mem_some=30, mem_full=10)),
        node("pve2", pressure=psi(mem_some=9, mem_full=4)),
        node("pve3", pressure=psi()),
    ]
    stalled = psi(mem_some=40, mem_full=20)
    guests = [
        replace(guest(101, on="pve1", mem="8G", used_mem="8G"), pressure=stalled),
        replace(guest(102, on="pve1", mem="40G", used_mem="40G"), pressure=stalled),
        guest(201, on="pve2", mem="4G"),
        guest(301, on="pve3", mem="40G", used_mem="30G"),
    ]
    plan = plan_cycle(problem(cluster(nodes, guests), mode=Mode.PSI, psi_nodes=LIMITS))
    assert [m.target for m in plan.migrations] == ["pve3"], plan.decisions
    # with pve3 gone, the only cool node would turn hot: nothing moves, and the guest says why
    plan = plan_cycle(problem(cluster(nodes[:2], guests[:3]), mode=Mode.PSI, psi_nodes=LIMITS))
    assert plan.migrations == ()
