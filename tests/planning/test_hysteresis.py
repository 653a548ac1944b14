"""Hysteresis: triggered at `balanciness`, a plan balances down to half of it.

Metrics drift between cycles. A plan that stopped just under `balanciness` would be re-triggered
by noise alone (ping-pong); ending at half leaves a margin that noise does not cross.
"""

from __future__ import annotations

import dataclasses

from proxlb.domain import GIB, ClusterSnapshot, Plan, Resources
from proxlb.planning import plan_cycle
from tests.planning.builders import cluster, guest, node, problem


def _applied(snap: ClusterSnapshot, plan: Plan, noise_gib: dict[str, int]) -> ClusterSnapshot:
    """The cluster after the plan, with node memory nudged by `noise_gib` (drift between cycles)."""
    moved = {m.vmid: m.target for m in plan.migrations}
    guests = tuple(dataclasses.replace(g, node=moved.get(g.vmid, g.node)) for g in snap.guests)
    nodes = []
    for n in snap.nodes:
        used = sum(g.usage.mem_bytes for g in guests if g.node == n.name and g.running)
        usage = Resources(n.usage.cpu_milli, used + noise_gib.get(n.name, 0) * GIB, n.usage.disk_bytes)
        nodes.append(dataclasses.replace(n, usage=usage))
    return cluster(nodes, guests)


def test_plan_goes_to_half_of_balanciness_and_noise_does_not_retrigger() -> None:
    nodes = [node(f"pve{i}", cores=32, mem="100G", used_mem="0") for i in (1, 2, 3, 4)]
    guests = [guest(100 + i, on="pve1", mem="4G", used_mem="2G") for i in range(30)]
    guests += [guest(200 + i, on="pve2", mem="4G", used_mem="2G") for i in range(10)]
    snap = _applied(cluster(nodes, guests), Plan("x"), {})
    plan = plan_cycle(problem(snap, balanciness=10.0, min_improvement=0.5, cost_per_gib=0.0))
    assert plan.triggered and plan.migrations
    assert plan.imbalance_after <= 5.0 + 1e-9, plan.imbalance_after
    # the next cycle sees drift of up to ±4 pp on two nodes: still below balanciness, nothing moves
    after = _applied(snap, plan, {"pve1": 4, "pve3": -4})
    again = plan_cycle(problem(after, balanciness=10.0, min_improvement=0.5, cost_per_gib=0.0))
    assert again.migrations == (), [m.detail for m in again.migrations]


def test_repairs_alone_do_not_start_balancing_below_balanciness() -> None:
    from tests.planning.builders import pin, rules

    guests = [guest(101, on="pve1"), guest(102, on="pve2"), guest(103, on="pve3")]
    nodes = [node(f"pve{i}") for i in (1, 2, 3)]
    plan = plan_cycle(problem(cluster(nodes, guests), rules(pin(101, "pve3"))))
    # the repair leaves a spread of ~6 pp: under balanciness 10, so no balancing move follows
    assert {m.vmid: m.target for m in plan.migrations} == {101: "pve3"}
