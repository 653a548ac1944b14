"""Issue #19 item 8: the target is re-checked right before each migration POST.

With 300 ms latency, the executor's one read per scheduling round was already a second old when a
later move of the round was POSTed, so a move went to a node that had gone offline meanwhile (PVE
refuses it). Here the target of the round's second move goes offline just after the first POST;
the simulator's request log must show no POST to that node's guests after it went offline.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from proxlb.execute.model import Outcome
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.inprocess import InProcessApi
from tests.service.simhelp import SimClock, client_for, config, sim


def test_a_target_gone_offline_after_the_rounds_read_gets_no_post() -> None:
    cluster, api = sim("evacuate.yaml")
    went_offline: list[tuple[int, str]] = []  # (index in the request log, node)
    planned_targets: dict[int, str] = {}
    original = InProcessApi.post

    def post(self: InProcessApi, path: str, **params: Any) -> Any:
        result = original(self, path, **params)
        if path.endswith("/migrate") and not went_offline:
            target = str(params["target"])
            others = sorted({t for t in planned_targets.values() if t != target})
            if others:
                cluster.set_node_online(others[0], False)
                went_offline.append((len(self.calls), others[0]))
        return result

    deps = PipelineDeps(
        config=config(
            proxmox_cluster={"maintenance_nodes": ["pve4"]},
            balancing={"parallel": True, "parallel_jobs": 4, "max_node_inflow": 2, "max_node_outflow": 4},
        ),
        client=client_for(api),
        state=StateStore.in_memory(),
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
        on_plan=lambda snapshot, constraints, plan: planned_targets.update(
            {int(m.vmid): m.target for m in plan.migrations}
        ),
    )
    InProcessApi.post = post  # type: ignore[method-assign]
    try:
        report = run_once(deps, apply=True)
    finally:
        InProcessApi.post = original  # type: ignore[method-assign]
    assert went_offline, "the plan had a single target; the scenario needs two"
    index, node = went_offline[0]
    late_posts = [
        c
        for c in api.calls[index:]
        if c[0] == "POST" and c[1].endswith("/migrate") and c[2].get("target") == node
    ]
    assert late_posts == [], late_posts
    assert report.execution is not None
    to_node = [o for o in report.execution.outcomes if o.target == node]
    assert to_node and all(o.outcome is not Outcome.FAILED for o in to_node), to_node
