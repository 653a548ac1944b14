"""Clusters already past cpu_overcommit (or over-assigned in memory) still balance, never worse.

Real clusters often run 3–4 vCPUs per core. A strict cap would freeze every balancing move
there; instead a move past the cap is allowed only if the target ends less overcommitted than
its source was, so the cluster's highest ratio never rises.
"""

from __future__ import annotations

from proxlb.domain import ClusterSnapshot, Plan, VmId
from proxlb.planning import plan_cycle
from proxlb.planning.validate import validate
from tests.planning.builders import cluster, guest, node, problem, rules


def _ratios(snapshot: ClusterSnapshot, plan: Plan) -> dict[str, float]:
    placement = {g.vmid: g.node for g in snapshot.guests}
    for m in plan.migrations:
        placement[m.vmid] = m.target
    vcpus = {n.name: 0 for n in snapshot.nodes}
    for g in snapshot.guests:
        if g.running:
            vcpus[placement[g.vmid]] += g.allocated.cpu_milli
    return {n.name: vcpus[n.name] / n.capacity.cpu_milli for n in snapshot.nodes}


def test_balancing_proceeds_above_the_cap_without_raising_the_highest_ratio() -> None:
    nodes = [node(f"pve{i}", cores=8, mem="256G") for i in (1, 2, 3)]
    # every node is above 2 vCPUs per core; pve1 is also far fuller in memory
    guests = [guest(100 + i, on="pve1", mem="16G", used_mem="14G", cores=4) for i in range(10)]
    guests += [guest(200 + i, on="pve2", mem="4G", used_mem="2G", cores=4) for i in range(6)]
    guests += [guest(300 + i, on="pve3", mem="4G", used_mem="2G", cores=4) for i in range(5)]
    snap = cluster(nodes, guests)
    prob = problem(snap, cpu_overcommit=2.0)
    plan = plan_cycle(prob)
    assert plan.migrations, "an over-committed cluster must still balance"
    assert plan.imbalance_after < plan.imbalance_before
    assert validate(plan, prob) == ()
    before, after = _ratios(snap, type(plan)(plan.snapshot_fingerprint)), _ratios(snap, plan)
    assert max(after.values()) <= max(before.values()) + 1e-9


def test_a_new_guest_still_respects_the_cap_strictly() -> None:
    from proxlb.planning.best_node import GuestRequest, best_node

    snap = cluster([node("pve1", cores=4), node("pve2", cores=4)], [guest(100, on="pve1", cores=8)])
    answer = best_node(problem(snap, cpu_overcommit=2.0), GuestRequest(memory_bytes=2**30, cores=4))
    assert answer.node == "pve2"  # pve1 would reach 12 vCPUs on 4 cores (> 2:1); pve2 reaches 4
    full = best_node(problem(snap, cpu_overcommit=2.0), GuestRequest(memory_bytes=2**30, cores=9))
    assert full.node is None


def test_upstream_config_on_an_overcommitted_cluster_reaches_balanciness() -> None:
    """#11 defect 3: an upstream config has no cpu_overcommit key; nodes running 3–6 vCPUs per core
    must not stop memory balancing short (upstream 2.3.0 balances memory there)."""
    from proxlb.config.model import ProxlbConfig
    from proxlb.planning.policy import policy_from_config
    from proxlb.planning.problem import PlanningProblem

    upstream = ProxlbConfig.model_validate(
        {
            "proxmox_api": {"hosts": ["pve1"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
            "balancing": {
                "enable": True,
                "balance_types": ["vm", "ct"],
                "balanciness": 10,
                "method": "memory",
            },
        }
    )
    nodes = [node(f"pve{i}", cores=8, mem="128G") for i in (1, 2, 3, 4)]
    # pve1: memory-heavy at 3 vCPUs/core; the others: little memory at 5–6 vCPUs/core
    guests = [guest(100 + i, on="pve1", mem="16G", used_mem="14G", cores=4, cpu=0.5) for i in range(6)]
    guests += [guest(200 + i, on="pve2", mem="4G", used_mem="2G", cores=4, cpu=0.5) for i in range(10)]
    guests += [guest(300 + i, on="pve3", mem="4G", used_mem="2G", cores=4, cpu=0.5) for i in range(12)]
    guests += [guest(400 + i, on="pve4", mem="4G", used_mem="2G", cores=4, cpu=0.5) for i in range(11)]
    snap = cluster(nodes, guests)
    pb = PlanningProblem(snap, rules(), policy_from_config(upstream), {}, snap.taken_at)
    plan = plan_cycle(pb)
    assert plan.imbalance_before > 10
    assert plan.imbalance_after <= 10, (plan.imbalance_after, plan.decisions[VmId(100)])
    assert validate(plan, pb) == ()
