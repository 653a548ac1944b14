from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest

import proxlb_sim
from proxlb.execute.model import Outcome
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import load_scenario
from tests.service.simhelp import SimClock, client_for, config, sim, writes


def deps_for(name: str, **cfg: object) -> tuple[PipelineDeps, object, object]:
    cluster, api = sim(name)
    deps = PipelineDeps(
        config=config(**cfg),  # type: ignore[arg-type]
        client=client_for(api),
        state=StateStore.in_memory(),
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
    )
    return deps, cluster, api


EVACUATE = {
    "proxmox_cluster": {"maintenance_nodes": ["pve4"]},
    "balancing": {"parallel": True, "parallel_jobs": 4, "max_node_inflow": 2, "max_node_outflow": 3},
}


def test_evacuation_runs_and_second_cycle_is_quiet() -> None:
    deps, cluster, api = deps_for("evacuate.yaml", **EVACUATE)
    report = run_once(deps, apply=True)
    assert report.plan is not None and report.execution is not None
    assert report.maintenance_nodes == frozenset({"pve4"})
    moved = {o.vmid for o in report.execution.outcomes if o.outcome is Outcome.DONE}
    assert moved == {100, 101, 102, 103, 104, 105, 200, 201}
    engine = cluster.engine  # type: ignore[attr-defined]  # what the simulated cluster saw running at once
    assert engine.peak_total <= 3
    assert engine.peak_outgoing.get("pve4", 0) <= 3
    assert engine.peak_incoming and all(v <= 2 for v in engine.peak_incoming.values())
    guests = {e["vmid"]: e["node"] for e in api.get("/cluster/resources", type="vm")}
    assert all(guests[v] != "pve4" for v in moved)
    assert report.exit_code == 0
    assert len(deps.state.history()) == 8
    assert deps.state.last_run() is not None
    # the next cycle finds nothing to do: no ping-pong
    again = run_once(deps, apply=True)
    assert again.plan is not None and again.plan.migrations == ()


def test_plan_only_sends_no_write() -> None:
    deps, _cluster, api = deps_for("evacuate.yaml", **EVACUATE)
    report = run_once(deps, apply=False)
    assert report.plan is not None and len(report.plan.migrations) == 8
    assert report.execution is None and writes(api) == []


def test_balancing_disabled_sends_no_write() -> None:
    deps, _cluster, api = deps_for(
        "evacuate.yaml", proxmox_cluster={"maintenance_nodes": ["pve4"]}, balancing={"enable": False}
    )
    report = run_once(deps, apply=True)
    assert report.plan is not None and report.plan.migrations and not report.applied
    assert writes(api) == []


def test_dry_run_executes_nothing() -> None:
    deps, _cluster, api = deps_for("evacuate.yaml", **EVACUATE)
    deps.dry_run = True
    report = run_once(deps, apply=True)
    assert report.execution is not None and report.execution.dry_run
    assert all(o.outcome is Outcome.SKIPPED for o in report.execution.outcomes)
    assert writes(api) == []


def test_ha_gate_standby_and_leader_without_ha_master() -> None:
    deps, _cluster, api = deps_for(
        "evacuate.yaml", service={"enable_ha": True, "ha_identity": "pve2"}, **EVACUATE
    )
    report = run_once(deps, apply=True)
    assert report.standby is not None and "pve1" in report.standby
    assert report.plan is None and writes(api) == []
    deps.config = deps.config.model_copy(
        update={"service": deps.config.service.model_copy(update={"ha_identity": "pve1"})}
    )
    leader = run_once(deps, apply=True)
    assert leader.standby is None and leader.execution is not None


BUNDLED = sorted((Path(proxlb_sim.__file__).parent / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("scenario", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenarios_apply_cleanly_then_settle(scenario: Path) -> None:
    cluster = SimCluster.from_scenario(load_scenario(scenario), time_scale=0)
    api = InProcessApi(cluster)
    deps = PipelineDeps(
        config=config(balancing={"parallel": True}), client=client_for(api), state=StateStore.in_memory(),
        clock=SimClock(cluster), local_now=lambda: datetime(2026, 11, 18, 12, 0),
    )  # fmt: skip
    report = run_once(deps, apply=True)
    if report.execution is not None:
        assert report.execution.ok, [(o.vmid, o.outcome, o.detail) for o in report.execution.outcomes]
        assert report.execution.count(Outcome.DONE) == len(report.execution.outcomes)
    again = run_once(deps, apply=True)
    assert again.plan is not None and again.plan.migrations == ()
    if "pve8" in scenario.stem:  # PVE 8 rejects the unknown parameter: it must never be sent there
        assert not [c for c in api.calls if "with-conntrack-state" in c[2]]
