"""#15 item 3: the cycle's trigger is computed once and every planner judges by it. CP-SAT used
its own spread test, so in PSI mode (balance on pressure, not on spread) it balanced a calm cluster
that the greedy planner rightly left alone."""

from __future__ import annotations

from proxlb.domain import MigrationReason
from proxlb.planning import plan_cycle
from proxlb.planning.policy import Mode, PsiLimit, SolverMode, SolverPolicy
from tests.planning.builders import anti, cluster, guest, node, problem, psi, rules

LIMITS = {"memory": PsiLimit(pressure_full=5, pressure_some=10, pressure_spikes=50)}


def calm_but_uneven() -> object:
    """No node under pressure, memory spread far above balanciness, one broken anti-affinity pair."""
    nodes = [node(f"pve{i}", pressure=psi()) for i in (1, 2, 3)]
    guests = [guest(100 + i, on="pve1", mem="16G", used_mem="14G") for i in range(5)]
    guests += [guest(200, on="pve2", mem="4G"), guest(201, on="pve2", mem="4G")]
    return cluster(nodes, guests)


def test_cpsat_in_psi_mode_does_not_balance_a_cluster_without_pressure() -> None:
    solver = SolverPolicy(enable=True, mode=SolverMode.ACTIVE, timeout_seconds=5)
    pb = problem(
        calm_but_uneven(),  # type: ignore[arg-type]
        rules(anti("plb_anti_affinity_db", 200, 201)),
        mode=Mode.PSI,
        psi_nodes=LIMITS,
        solver=solver,
    )
    plan = plan_cycle(pb)
    assert plan.planner == "cpsat"
    assert plan.triggered and "no node or guest under pressure" in plan.trigger_reason
    # the repair happens; nothing moves for balance, as the greedy planner decides too
    assert [m.vmid for m in plan.migrations if m.reason is MigrationReason.RULE] in ([200], [201])
    assert [m.vmid for m in plan.migrations if m.reason is MigrationReason.BALANCE] == []
    greedy = plan_cycle(problem(pb.snapshot, pb.constraints, mode=Mode.PSI, psi_nodes=LIMITS))
    assert [m.reason for m in greedy.migrations] == [MigrationReason.RULE]
