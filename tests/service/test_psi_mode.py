"""PSI mode on a simulated cluster (#11 defect 2): pressure relief never unbalances the cluster,
and a PVE 8 cluster is told that psi falls back to `used`."""

from __future__ import annotations

from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import load_scenario
from tests.service.simhelp import SimClock, client_for, config

# upstream's documented example thresholds (docs/03_configuration.md), for nodes and guests
EXAMPLE = {"pressure_full": 0.20, "pressure_some": 0.20, "pressure_spikes": 1.00}
PSI = {
    "nodes": {r: EXAMPLE for r in ("memory", "cpu", "disk")},
    "guests": {r: EXAMPLE for r in ("memory", "cpu", "disk")},
}


def test_psi_mode_does_not_unbalance_a_balanced_cluster() -> None:
    cluster = SimCluster.from_scenario(load_scenario("demo"), time_scale=0)
    client, clock = client_for(InProcessApi(cluster)), SimClock(cluster)
    balanced = run_once(PipelineDeps(config(), client, StateStore.in_memory(), clock), apply=True)
    assert balanced.plan is not None and balanced.plan.imbalance_after < 10
    cluster.clock.advance(7 * 3600)  # past every cooldown
    deps = PipelineDeps(
        config(balancing={"mode": "psi", "psi": PSI}), client, StateStore.in_memory(), clock, dry_run=True
    )
    report = run_once(deps, apply=False)
    plan = report.plan
    assert plan is not None and plan.triggered  # some guests are hot by these thresholds
    assert plan.imbalance_after <= plan.imbalance_before + 1e-6, (plan.imbalance_before, plan.imbalance_after)
    peak = max(row["memory"] for row in plan.metrics_before.values())
    assert max(row["memory"] for row in plan.metrics_after.values()) <= peak + 1e-6
    assert len(plan.migrations) <= 1


def test_pve8_psi_warning_says_it_balances_on_used() -> None:
    cluster = SimCluster.from_scenario(load_scenario("pve8"), time_scale=0)
    deps = PipelineDeps(
        config(balancing={"mode": "psi", "psi": PSI}),
        client_for(InProcessApi(cluster)),
        StateStore.in_memory(),
        SimClock(cluster),
        dry_run=True,
    )
    report = run_once(deps, apply=False)
    assert any("'used'" in w and "psi" in w for w in report.warnings), report.warnings
