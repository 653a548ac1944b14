"""Issue #19 item 4: the executor stops carrying out a plan once another actor's moves appear.

Two instances that cannot see each other's lock (two hosts without `enable_ha`, or a person in the
web UI) planned from the same snapshot and both migrated: 11 moves where one plans 7. Now, when a
migration that is not ours and was not in flight at plan time shows up, nothing more of the plan
starts (the daemon plans again within a minute). The simulator's request log is the judge.
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


def test_no_move_of_ours_starts_after_another_actor_began_migrating() -> None:
    cluster, api = sim("evacuate.yaml")
    other = InProcessApi(cluster)  # the other actor, with its own connection
    planned: set[int] = set()
    foreign: list[int] = []
    original = InProcessApi.post

    def post(self: InProcessApi, path: str, **params: Any) -> Any:
        result = original(self, path, **params)
        if self is api and path.endswith("/migrate") and not foreign:
            guest = next(
                g
                for v, g in sorted(cluster.guests.items())
                if v not in planned and g.running and g.node != "pve4"
            )
            target = next(n for n in sorted(cluster.nodes) if n not in (guest.node, "pve4"))
            kind = "qemu" if guest.kind == "qemu" else "lxc"
            extra = {"online": 1} if kind == "qemu" else {"restart": 1}
            original(other, f"/nodes/{guest.node}/{kind}/{guest.vmid}/migrate", target=target, **extra)
            foreign.append(guest.vmid)
        return result

    deps = PipelineDeps(
        config=config(
            proxmox_cluster={"maintenance_nodes": ["pve4"]},
            balancing={"parallel": False, "max_node_inflow": 1, "max_node_outflow": 1},
        ),
        client=client_for(api),
        state=StateStore.in_memory(),
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
        on_plan=lambda snapshot, constraints, plan: planned.update(int(m.vmid) for m in plan.migrations),
    )
    InProcessApi.post = post  # type: ignore[method-assign]
    try:
        report = run_once(deps, apply=True)
    finally:
        InProcessApi.post = original  # type: ignore[method-assign]
    assert foreign and len(planned) >= 3
    ours = [c for c in api.calls if c[0] == "POST" and c[1].endswith("/migrate")]
    assert len(ours) == 1, ours  # the move already sent; none after the other actor's appeared
    assert report.execution is not None and report.execution.yielded
    skipped = [o for o in report.execution.outcomes if o.outcome is Outcome.SKIPPED]
    assert len(skipped) == len(planned) - 1 and all("another actor" in o.detail for o in skipped)
