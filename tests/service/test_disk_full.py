"""Issue #19 item 3: a full state disk is an event, not a crash.

The disk fills through an injected `sqlite3.OperationalError("database or disk is full")` on every
write statement (a connection subclass), as SQLite reports it. Filled during an apply, the moves
used to complete while 4 of 7 left no history row and the error escaped as exit 70; a daemon
started on a full disk exited 2 and was never restarted. What is checked: what the state database
holds afterwards (read by a fresh store, as the next process would), the next plan, the exit code.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.execute.progress import MigrationEvent, MigrationPhase
from proxlb.exit_codes import ExitCode
from proxlb.service import state as state_module
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import PipelineDeps, RunReport, run_once
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from tests.execute.fakes import FakeClock
from tests.service.simhelp import SimClock, client_for, config, sim

EVACUATE = {
    "proxmox_cluster": {"maintenance_nodes": ["pve4"]},
    "balancing": {"parallel": True, "parallel_jobs": 2, "max_node_inflow": 2, "max_node_outflow": 2},
}
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class FillingConnection(sqlite3.Connection):
    """A real SQLite connection whose writes fail while `full` is set, as on a full disk."""

    full = False

    def _check(self, sql: str) -> None:
        if self.full and sql.lstrip().upper().startswith(WRITES):
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self._check(sql)
        return super().execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self._check(sql)
        return super().executemany(sql, *args)


def _store(directory: Path) -> tuple[StateStore, FillingConnection]:
    path = directory / "proxlb.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=FillingConnection)
    assert isinstance(conn, FillingConnection)
    return StateStore(conn, str(path)), conn


def _deps(cluster: SimCluster, api: InProcessApi, state: StateStore, **cfg: object) -> PipelineDeps:
    return PipelineDeps(
        config=config(**cfg),  # type: ignore[arg-type]
        client=client_for(api),
        state=state,
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
    )


def test_disk_filling_mid_apply_loses_no_cooldown(tmp_path: Path, caplog: Any) -> None:
    cluster, api = sim("evacuate.yaml")
    state, conn = _store(tmp_path)
    deps = _deps(cluster, api, state, **EVACUATE)

    def fill_after_first_start(event: MigrationEvent) -> None:
        if event.phase is MigrationPhase.STARTED:
            conn.full = True

    deps.observer = fill_after_first_start
    caplog.set_level(logging.WARNING)
    report = run_once(deps, apply=True)  # used to raise sqlite3.OperationalError
    assert report.execution is not None
    moved = {o.vmid for o in report.execution.outcomes if o.outcome.value == "done"}
    assert len(moved) >= 4, report.execution.outcomes
    assert any("is full" in r.getMessage() for r in caplog.records)
    # this process still honours every cooldown, although the disk refused the rows
    assert moved <= set(state.recent_moves(since=0))
    state.close()
    # the next process (the disk was freed) reads the journal, and a cycle stores it for good
    again, _ = _store(tmp_path)
    next_deps = _deps(cluster, api, again, balancing={"method": "memory", "balanciness": 1})
    SimClock(cluster).sleep(600, threading.Event())
    report = run_once(next_deps, apply=True)
    fresh = StateStore.open(tmp_path)
    fresh.bind(again.cluster)
    done = {h.vmid for h in fresh.history(1000) if h.outcome == "done"}
    assert moved <= done, (moved, done)
    assert report.plan is not None and not {m.vmid for m in report.plan.migrations} & moved


def test_daemon_keeps_running_when_the_disk_fills(tmp_path: Path) -> None:
    cluster, api = sim("evacuate.yaml")
    state, conn = _store(tmp_path)
    conn.full = True
    signals = DaemonSignals()
    cycles: list[RunReport] = []
    path = tmp_path / "proxlb.yaml"
    doc = {
        "proxmox_api": {"hosts": ["sim"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
        "proxmox_cluster": {"maintenance_nodes": ["pve4"]},
        "balancing": {"enable": True, "balance_types": ["vm", "ct"], "parallel": True},
        "service": {"daemon": True, "schedule": {"interval": 5, "format": "minutes"}},
    }
    path.write_text(yaml.safe_dump(doc))

    def on_report(report: RunReport) -> None:
        cycles.append(report)
        if len(cycles) == 2:
            signals.request_stop()

    daemon = Daemon(
        path,
        signals=signals,
        clock=SimClock(cluster),
        connect=lambda c, stop: client_for(api),
        open_state=lambda c, one_shot: state,
        on_report=on_report,
        configure_log=False,
    )
    assert daemon.run() == ExitCode.OK
    assert len(cycles) == 2 and cycles[0].execution is not None


class _NoApi:
    def check_permissions(self) -> None:
        pass


def _no_api(cfg: Any, stop: threading.Event) -> Any:
    return _NoApi()


def test_daemon_started_on_a_full_disk_waits_for_space(
    tmp_path: Path, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        attempts.append(1)
        conn = real_connect(*args, **kwargs, factory=FillingConnection)
        assert isinstance(conn, FillingConnection)
        conn.full = len(attempts) <= 2  # full at the first two starts, then space was freed
        return conn

    monkeypatch.setattr(state_module.sqlite3, "connect", connect)
    path = tmp_path / "proxlb.yaml"
    doc = {
        "proxmox_api": {"hosts": ["sim"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
        "service": {"daemon": True, "state_dir": str(tmp_path / "state")},
    }
    path.write_text(yaml.safe_dump(doc))
    clock = FakeClock()
    signals = DaemonSignals()
    opened: list[StateStore] = []

    def open_state(cfg: Any, one_shot: bool) -> StateStore:
        store = StateStore.open(tmp_path / "state", memory_fallback=one_shot)
        opened.append(store)
        signals.request_stop()  # the start succeeded: that is all this test is about
        return store

    caplog.set_level(logging.ERROR)
    daemon = Daemon(
        path, signals=signals, clock=clock, open_state=open_state, connect=_no_api, configure_log=False
    )
    assert daemon.run() == ExitCode.OK
    assert len(attempts) == 3 and len(opened) == 1 and clock.sleeps == [60.0, 60.0]
    errors = [r.getMessage() for r in caplog.records]
    assert len(errors) == 2 and all(f"the file system of {tmp_path / 'state'} is full" in e for e in errors)
