"""Failover headroom: PVE HA recovery prediction and the planning modes report/prefer/require."""

from __future__ import annotations

from dataclasses import replace

from proxlb.domain import CrsOptions, HaRule, VmId
from proxlb.planning.cycle import plan_cycle, state_after
from proxlb.planning.failover import ClusterView, predict
from proxlb.planning.headroom import report_of
from proxlb.planning.metrics import LoadState
from proxlb.planning.policy import FailoverPolicy
from proxlb.planning.pve_balancer import OWNED
from proxlb.report.explain import explain_guest
from proxlb.report.sentences import decision_sentence
from tests.planning.builders import cluster, guest, node, problem


def ha(vmid: int, on: str, mem: str, **kw: object) -> object:
    return guest(vmid, on, mem=mem, ha_managed=True, ha_state="started", **kw)


def lopsided() -> object:
    """pve1 holds a big non-HA guest; the HA guests of pve2/pve3 would restart on pve1 by count."""
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G")]
    guests = [
        guest(100, "pve1", mem="40G"),
        *(ha(200 + i, "pve2", "8G") for i in range(4)),
        *(ha(300 + i, "pve3", "8G") for i in range(4)),
    ]
    return cluster(nodes, guests)


def test_basic_scheduler_restarts_by_service_count_and_reports_survivor_memory() -> None:
    snap = lopsided()
    report = report_of(problem(snap), LoadState.of(problem(snap)))
    assert report.scheduler == "basic"
    pve2 = report.failure("pve2")
    assert pve2 is not None
    # basic: pve1 has 0 HA services, pve3 has 4 → pve1 takes guests until it has 4 as well
    targets = [r.target for r in pve2.restarts]
    assert targets == ["pve1", "pve1", "pve1", "pve1"]
    assert pve2.not_fitting == (VmId(203),)  # 40 + 3 × 8 = 64 GiB still fits, the 4th does not
    peak = pve2.peak
    assert peak is not None and peak.node == "pve1" and round(peak.percent, 1) == 112.5
    losing_pve1 = report.failure("pve1")
    assert losing_pve1 is not None and losing_pve1.stay_down == (VmId(100),) and losing_pve1.fits


def test_static_scheduler_prefers_the_node_with_room() -> None:
    snap = replace(lopsided(), crs=CrsOptions(ha="static", known=True))
    report = report_of(problem(snap), LoadState.of(problem(snap)))
    pve2 = report.failure("pve2")
    assert pve2 is not None and report.scheduler == "static"
    # TOPSIS on configured memory and vCPUs: the emptier pve3 takes the first guest, then they alternate
    assert [r.target for r in pve2.restarts] == ["pve3", "pve1", "pve3", "pve1"]
    assert pve2.fits


def test_strict_node_affinity_and_negative_resource_affinity_are_followed() -> None:
    rules = (
        HaRule("only-pve1", "node-affinity", (VmId(200),), nodes=(("pve1", 1),), strict=True),
        HaRule("apart", "resource-affinity", (VmId(201), VmId(300)), affinity="negative"),
    )
    snap = replace(lopsided(), ha_rules=rules)
    view = ClusterView(
        snap,
        {g.vmid: g.node for g in snap.guests},
        {n.name: n.usage.mem_bytes for n in snap.nodes},
        {n.name: n.capacity.mem_bytes for n in snap.nodes},
        {g.vmid: g.usage.mem_bytes for g in snap.guests},
    )
    pve2 = predict(view).failure("pve2")
    assert pve2 is not None
    where = {r.vmid: r.target for r in pve2.restarts}
    assert where[VmId(200)] == "pve1"
    assert where[VmId(201)] == "pve1"  # 300 sits on pve3


def test_failure_domain_fails_its_nodes_together() -> None:
    snap = lopsided()
    pb = problem(snap, failover=FailoverPolicy(mode="report", domains={"rack": ("pve2", "pve3")}))
    rack = report_of(pb, LoadState.of(pb)).failure("domain rack")
    assert rack is not None and rack.failed == ("pve2", "pve3")
    assert len(rack.restarts) == 8 and all(r.target == "pve1" for r in rack.restarts)
    assert not rack.fits


def test_require_mode_plans_moves_until_every_single_failure_fits() -> None:
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G")]
    guests = [
        guest(100, "pve1", mem="24G"),
        guest(101, "pve1", mem="16G"),
        *(ha(200 + i, "pve2", "8G") for i in range(4)),
        *(ha(300 + i, "pve3", "8G") for i in range(4)),
    ]
    snap = cluster(nodes, guests)
    off = plan_cycle(problem(snap, balanciness=60))
    assert not off.migrations  # balanced enough: nothing moves without headroom planning
    pb = problem(snap, balanciness=60, failover=FailoverPolicy(mode="require"))
    plan = plan_cycle(pb)
    assert [(m.vmid, m.source) for m in plan.migrations] == [(101, "pve1")]  # the smallest move that does it
    assert all("failover headroom" in m.detail for m in plan.migrations)
    assert "failover headroom" in decision_sentence(plan.decisions[VmId(101)])
    assert report_of(pb, state_after(pb, plan.migrations)).all_fit


def test_prefer_mode_never_takes_a_balancing_move_that_lowers_headroom() -> None:
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G")]
    guests = [
        *(ha(100 + i, "pve1", "8G") for i in range(6)),
        *(guest(200 + i, "pve2", mem="4G") for i in range(2)),
        guest(300, "pve3", mem="8G"),
    ]
    snap = cluster(nodes, guests)
    pb_off = problem(snap)
    pb = problem(snap, failover=FailoverPolicy(mode="prefer"))
    base = report_of(pb, LoadState.of(pb)).overflow_bytes
    plan = plan_cycle(pb)
    assert report_of(pb, state_after(pb, plan.migrations)).overflow_bytes <= base
    assert plan_cycle(pb_off).migrations  # the cluster does want balancing


def test_with_pve_auto_rebalance_on_ha_resources_are_left_to_pve_but_still_drained() -> None:
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G")]
    guests = [
        *(ha(100 + i, "pve1", "8G") for i in range(5)),
        ha(150, "pve1", "8G"),
        guest(160, "pve1", mem="8G"),
        ha(170, "pve2", "4G"),
    ]
    crs = CrsOptions(ha="dynamic", auto_rebalance=True, known=True)
    snap = replace(cluster(nodes, guests), crs=crs, ha_auto_rebalance_off=frozenset({VmId(150)}))
    plan = plan_cycle(problem(snap))
    moved = {m.vmid for m in plan.migrations}
    assert moved and moved <= {VmId(150), VmId(160)}  # opted out of PVE's balancer, or not HA
    assert plan.decisions[VmId(100)].cause == OWNED
    assert "PVE's auto-rebalance balances" in decision_sentence(plan.decisions[VmId(100)])
    assert any("PVE auto-rebalance is on" in w for w in plan.warnings)
    drained = plan_cycle(
        problem(replace(snap, nodes=tuple(replace(n, ha_maintenance=n.name == "pve2") for n in snap.nodes)))
    )
    assert VmId(170) in {m.vmid for m in drained.migrations}  # a maintenance drain still moves it
    everything = plan_cycle(problem(snap, failover=FailoverPolicy(leave_ha_to_pve=False)))
    assert {m.vmid for m in everything.migrations} - {VmId(150), VmId(160)}
    assert any("turn PVE's auto-rebalance off" in w for w in everything.warnings)


def test_explain_says_when_failover_headroom_moved_or_kept_a_guest() -> None:
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G"), node("pve3", mem="64G")]
    guests = [
        guest(100, "pve1", mem="24G"),
        guest(101, "pve1", mem="16G"),
        *(ha(200 + i, "pve2", "8G") for i in range(4)),
        *(ha(300 + i, "pve3", "8G") for i in range(4)),
    ]
    pb = problem(cluster(nodes, guests), balanciness=60, failover=FailoverPolicy(mode="require"))
    plan = plan_cycle(pb)
    moved = explain_guest(plan, pb, 101)
    assert "failover headroom" in moved and "decision: moves pve1 → " in moved
    ha_guest = explain_guest(plan, pb, 203)
    assert "failover: if pve2 fails, PVE HA restarts it on pve1, where it does NOT fit" in ha_guest
    # prefer: a balancing move that would cost headroom is named as the reason the guest stays
    small = [node("pve1", mem="48G"), node("pve2", mem="48G")]
    pair = [
        *(ha(400 + i, "pve1", "8G") for i in range(4)),
        guest(500, "pve1", mem="12G"),
        guest(501, "pve2", mem="8G"),
    ]
    pb2 = problem(cluster(small, pair), failover=FailoverPolicy(mode="prefer"))
    plan2 = plan_cycle(pb2)
    assert plan2.migrations and all(m.vmid != 500 for m in plan2.migrations)
    kept = explain_guest(plan2, pb2, 500)
    assert "pve2: rejected by failover-headroom: it would lower the failover headroom" in kept, kept
    without = plan_cycle(problem(cluster(small, pair)))
    assert 500 in [m.vmid for m in without.migrations]  # what balancing alone would have done


def test_a_guest_pve_moved_within_the_cooldown_is_not_balanced_even_with_balance_all() -> None:
    nodes = [node("pve1", mem="64G"), node("pve2", mem="64G")]
    guests = [*(ha(100 + i, "pve1", "8G") for i in range(6)), ha(200, "pve2", "8G")]
    crs = CrsOptions(ha="static", auto_rebalance=True, known=True)
    now = 1_000_000.0
    moved = {VmId(100 + i): now - 600 for i in range(6)}  # PVE's CRM moved them 10 minutes ago
    snap = replace(cluster(nodes, guests), crs=crs, recent_migrations=moved)
    balance_all = FailoverPolicy(leave_ha_to_pve=False)
    plan = plan_cycle(problem(snap, now=now, cooldown_minutes=60, failover=balance_all))
    assert not plan.migrations
    cause = plan.decisions[VmId(100)].cause
    assert cause is not None and cause.name == "cooldown_minutes"
    assert decision_sentence(plan.decisions[VmId(100)]).startswith("stays: in cooldown until")
    later = plan_cycle(problem(snap, now=now + 3600, cooldown_minutes=60, failover=balance_all))
    assert later.migrations  # once the cooldown is over, ProxLB may balance them


def test_a_failure_domain_naming_an_unknown_node_is_warned_about() -> None:
    domains = {"rack": ("pve2", "pve9")}
    plan = plan_cycle(problem(lopsided(), failover=FailoverPolicy(mode="report", domains=domains)))
    assert (
        "balancing.failover_headroom.failure_domains.rack: node(s) pve9 are not in the cluster; "
        "the domain is pve2" in plan.warnings
    )
