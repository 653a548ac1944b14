"""Issue #12 findings 1, 4 and 5 against the simulator: in-flight moves of others, tasks whose
status cannot be read, and a cluster without quorum."""

from __future__ import annotations

import threading
from datetime import datetime

from proxlb.execute.model import Outcome
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from tests.service.simhelp import SimClock, client_for, config, sim, writes

MEMORY = {"method": "memory", "balanciness": 5}


def _deps(cluster: SimCluster, api: InProcessApi, **cfg: object) -> PipelineDeps:
    return PipelineDeps(
        config=config(**cfg),  # type: ignore[arg-type]
        client=client_for(api),
        state=StateStore.in_memory(),
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
    )


def _nodes(api: InProcessApi) -> dict[int, str]:
    return {e["vmid"]: e["node"] for e in api.get("/cluster/resources", type="vm")}


def test_a_guest_another_actor_is_migrating_counts_at_its_destination() -> None:
    """Finding 1: 118 is on its way to pve3 (moved by an admin); 117, its anti-affinity partner,
    must not be sent to pve3 as well."""
    cluster, api = sim("inflight.yaml")
    api.post("/nodes/pve2/qemu/118/migrate", target="pve3", online=1)  # not ProxLB: another actor
    report = run_once(_deps(cluster, api, balancing=MEMORY), apply=True)
    assert report.snapshot is not None and report.plan is not None
    assert [(m.vmid, m.target) for m in report.plan.migrations] == [(117, "pve2")]
    inflight = report.snapshot.guest(118)
    assert inflight is not None and (inflight.node, inflight.migrating_from) == ("pve3", "pve2")
    SimClock(cluster).sleep(600, threading.Event())  # let the admin's move finish
    placed = _nodes(api)
    assert placed[118] == "pve3" and placed[117] != placed[118]


def test_no_migration_starts_while_the_cluster_is_not_quorate() -> None:
    """Finding 5: 2 of 4 nodes offline: the evacuation is planned and shown, nothing is sent."""
    cluster, api = sim("evacuate.yaml")
    cluster.set_node_online("pve1", False)
    cluster.set_node_online("pve2", False)
    report = run_once(
        _deps(cluster, api, proxmox_cluster={"maintenance_nodes": ["pve4"]}, balancing={"parallel": True}),
        apply=True,
    )
    assert report.plan is not None and report.plan.migrations
    assert report.execution is not None
    assert all(o.outcome is Outcome.SKIPPED for o in report.execution.outcomes)
    assert all("not quorate" in o.detail for o in report.execution.outcomes)
    assert writes(api) == []


def test_source_going_offline_mid_migration_ends_the_run_quickly_and_sends_nothing_through_it() -> None:
    """Finding 4: the source dies while its guests migrate; their task status is unreadable (595).
    The run decides from the guests' place and lock instead of waiting for max_job_validation."""
    cluster, api = sim("evacuate.yaml")
    clock = SimClock(cluster)
    calls_at_failure: list[int] = []

    def fail_source(c: SimClock) -> None:
        if not calls_at_failure and c.slept >= 3:
            cluster.set_node_online("pve4", False)
            calls_at_failure.append(len(api.calls))

    clock.hooks.append(fail_source)
    deps = _deps(
        cluster,
        api,
        proxmox_cluster={"maintenance_nodes": ["pve4"]},
        balancing={"parallel": True, "parallel_jobs": 2, "max_node_outflow": 2, "max_node_inflow": 2},
    )
    deps.clock = clock
    report = run_once(deps, apply=True)
    execution = report.execution
    assert execution is not None and calls_at_failure
    assert execution.seconds < 300, execution.seconds  # virtual seconds; max_job_validation is 1800
    outcomes = {o.outcome for o in execution.outcomes}
    assert Outcome.TIMEOUT not in outcomes
    failed = [o for o in execution.outcomes if o.outcome is Outcome.FAILED]
    assert failed and all(o.final_node == "pve4" for o in failed)
    later = api.calls[calls_at_failure[0] :]
    assert not [c for c in later if c[0] == "POST"]  # no migration sent through the offline node
    assert len([c for c in later if c[1].startswith("/nodes/pve4/")]) <= len(failed)


def test_what_if_on_a_ksm_overcommitted_node_scales_each_guest_to_the_real_usage() -> None:
    """Finding 7: a 16 GiB node whose guests report ~38 GiB must not be predicted nearly empty
    after two of them leave: each guest frees only its share of what the node really uses."""
    cluster, api = sim("ksm.yaml")
    report = run_once(_deps(cluster, api, balancing=MEMORY), apply=True)
    assert report.plan is not None and report.snapshot is not None
    moved = {m.vmid for m in report.plan.migrations if m.source == "pve1"}
    assert len(moved) == 2
    snap = report.snapshot
    node = snap.node("pve1")
    assert node is not None
    reported = [g.usage.mem_bytes for g in snap.guests_on("pve1")]
    assert sum(reported) > 2 * node.usage.mem_bytes  # the overcommitted case of the issue
    left = sum(g.usage.mem_bytes for g in snap.guests_on("pve1") if g.vmid not in moved)
    expected = 100.0 * node.usage.mem_bytes * left / sum(reported) / node.capacity.mem_bytes
    predicted = report.plan.metrics_after["pve1"]["memory"]
    assert report.plan.metrics_before["pve1"]["memory"] == 100.0
    assert abs(predicted - expected) < 0.5 and predicted > 60.0, predicted  # was 18.75
    after = {e["node"]: e["mem"] / e["maxmem"] for e in api.get("/cluster/resources", type="node")}
    assert 100.0 * after["pve1"] >= predicted  # never more optimistic than what the node shows
