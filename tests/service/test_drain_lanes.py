"""A drain on the simulator's virtual clock ends close to the lower bound of its migrations (#11)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from proxlb.execute.model import Outcome
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.makespan import Lanes, lower_bound, transfer
from tests.service.simhelp import SimClock, client_for, config, sim

LANES = Lanes(jobs=4, outflow=3, inflow=2)


def test_drain_keeps_its_lanes_busy_longest_copy_first() -> None:
    cluster, api = sim("drain_lpt.yaml")
    alone = {vmid: transfer(cluster, g, g.node, g.node) for vmid, g in cluster.guests.items()}
    clock = SimClock(cluster)
    peak: dict[str, float] = {}

    def sample(_clock: SimClock) -> None:
        for n in api.get("/cluster/resources", type="node"):
            peak[n["node"]] = max(peak.get(n["node"], 0.0), n["mem"] / n["maxmem"])

    clock.hooks.append(sample)
    deps = PipelineDeps(
        config=config(
            proxmox_cluster={"maintenance_nodes": ["pve4"]},
            balancing={
                "parallel": True,
                "parallel_jobs": LANES.jobs,
                "max_node_outflow": LANES.outflow,
                "max_node_inflow": LANES.inflow,
            },
        ),
        client=client_for(api),
        state=StateStore.in_memory(),
        clock=clock,
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
    )
    report = run_once(deps, apply=True)
    assert report.execution is not None
    done = [o for o in report.execution.outcomes if o.outcome is Outcome.DONE]
    assert {o.vmid for o in done} == set(range(100, 107))
    bound = lower_bound(
        cluster, [replace(alone[o.vmid], source=o.source, target=o.target) for o in done], LANES
    )
    empty_after = max((o.started_at or 0.0) + o.seconds for o in done) - report.execution.started_at
    assert empty_after <= 1.3 * bound, (empty_after, bound)
    # and still within every limit and the capacity of every node
    # as the simulated cluster saw them running, not as the executor counted them
    assert 0 < cluster.engine.peak_outgoing.get("pve4", 0) <= LANES.outflow
    incoming = cluster.engine.peak_incoming
    assert incoming and all(n <= LANES.inflow for n in incoming.values())
    assert max(peak.values()) <= 1.0
