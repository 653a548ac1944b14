"""Issue #12 finding 2: the history survives a kill mid-apply and is reconciled with PVE at start."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest

from proxlb.execute.progress import MigrationEvent, MigrationPhase
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from tests.service.simhelp import SimClock, client_for, config, sim

EVACUATE = {
    "proxmox_cluster": {"maintenance_nodes": ["pve4"]},
    "balancing": {"parallel": True, "parallel_jobs": 2, "max_node_inflow": 2, "max_node_outflow": 2},
}


class Killed(BaseException):
    """Stands in for kill -9: nothing after it runs, no cleanup, no final write."""


def _deps(cluster: SimCluster, api: InProcessApi, state: StateStore, **cfg: object) -> PipelineDeps:
    return PipelineDeps(
        config=config(**cfg),  # type: ignore[arg-type]
        client=client_for(api),
        state=state,
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
    )


def _kill_after_first_done(deps: PipelineDeps) -> None:
    def observer(event: MigrationEvent) -> None:
        if event.phase is MigrationPhase.FINISHED and event.outcome == "done":
            raise Killed

    deps.observer = observer


def test_a_kill_mid_apply_keeps_the_moves_that_already_happened(tmp_path: Path) -> None:
    cluster, api = sim("evacuate.yaml")
    deps = _deps(cluster, api, StateStore.open(tmp_path), **EVACUATE)
    _kill_after_first_done(deps)
    with pytest.raises(Killed):
        run_once(deps, apply=True)
    reopened = StateStore.open(tmp_path)
    reopened.bind(deps.state.cluster)
    rows = {h.vmid: h.outcome for h in reopened.history()}
    assert "done" in rows.values(), rows  # the finished move was written before the kill
    assert "running" in rows.values(), rows  # and the one still in flight is known


def test_at_start_unsettled_moves_are_reconciled_so_completed_ones_get_their_cooldown(tmp_path: Path) -> None:
    cluster, api = sim("evacuate.yaml")
    deps = _deps(cluster, api, StateStore.open(tmp_path), **EVACUATE)
    _kill_after_first_done(deps)
    with pytest.raises(Killed):
        run_once(deps, apply=True)
    SimClock(cluster).sleep(600, threading.Event())  # PVE finishes what the dead run had started
    state = StateStore.open(tmp_path)
    state.bind(deps.state.cluster)
    unsettled = [entry.vmid for _, entry in state.unsettled_migrations()]
    assert unsettled
    # the next run (no maintenance any more, so the moved guests could be balanced back)
    again = _deps(cluster, api, state, balancing={"method": "memory", "balanciness": 1})
    report = run_once(again, apply=True)
    assert state.unsettled_migrations() == []
    settled = {
        h.vmid: h for h in state.history(1000) if h.vmid in unsettled and h.detail.startswith("reconciled")
    }
    assert set(settled) == set(unsettled) and all(h.outcome == "done" for h in settled.values())
    assert report.plan is not None
    assert not {m.vmid for m in report.plan.migrations} & set(unsettled)  # in cooldown now


def test_a_timed_out_move_that_pve_finished_later_is_reconciled_as_done(tmp_path: Path) -> None:
    cluster, api = sim("evacuate.yaml")
    state = StateStore.open(tmp_path)
    deps = _deps(
        cluster, api, state, **{**EVACUATE, "balancing": {**EVACUATE["balancing"], "max_job_validation": 1}}
    )
    report = run_once(deps, apply=True)
    assert report.execution is not None
    timed_out = {o.vmid for o in report.execution.outcomes if o.outcome.value == "timeout"}
    assert timed_out
    SimClock(cluster).sleep(600, threading.Event())
    run_once(_deps(cluster, api, state), apply=False)
    rows = {h.vmid: h.outcome for h in state.history(1000) if h.vmid in timed_out}
    assert rows and set(rows.values()) == {"done"}
    assert set(state.recent_moves(since=0)) >= timed_out
