"""Issue #19 item 1: the state database is pruned on a documented retention and has a size cap.

`StateStore.prune` was never called, so every cycle's run row (and every CPU sample of a guest
long gone) stayed forever. A daemon now forgets rows older than 30 days (or older than what
cooldowns and the return window still read, if that is longer), and when the file is over its cap
it forgets down to that minimum. Checked from the database file, as another process reads it.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import yaml

from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import RunReport
from proxlb.service.retention import Retention
from proxlb.service.state import StateStore
from tests.service.simhelp import SimClock, client_for, config, sim

DAY = 86400.0


def _runs(db: Path) -> list[float]:
    with sqlite3.connect(db) as conn:
        return [float(r[0]) for r in conn.execute("SELECT started FROM runs ORDER BY started")]


def test_a_daemon_keeps_thirty_days_of_runs(tmp_path: Path) -> None:
    cluster, api = sim("evacuate.yaml")
    state_dir = tmp_path / "state"
    doc = {
        "proxmox_api": {"hosts": ["sim"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
        "balancing": {"enable": True, "balance_types": ["vm", "ct"], "return_window_cycles": 2},
        "service": {
            "daemon": True,
            "state_dir": str(state_dir),
            "schedule": {"interval": 24, "format": "hours"},
        },
    }
    path = tmp_path / "proxlb.yaml"
    path.write_text(yaml.safe_dump(doc))
    signals = DaemonSignals()
    seen: list[RunReport] = []

    def on_report(report: RunReport) -> None:
        seen.append(report)
        if len(seen) == 45:
            signals.request_stop()

    daemon = Daemon(
        path,
        signals=signals,
        clock=SimClock(cluster),
        apply=False,
        dry_run=True,
        connect=lambda c, stop: client_for(api),
        on_report=on_report,
        configure_log=False,
    )
    assert daemon.run() == ExitCode.OK
    runs = _runs(state_dir / "proxlb.sqlite3")
    last = seen[-1].started_at
    assert 29 <= len(runs) <= 31, len(runs)
    assert min(runs) >= last - 31 * DAY


def test_over_the_size_cap_only_what_planning_reads_is_kept(tmp_path: Path, caplog: Any) -> None:
    store = StateStore.open(tmp_path, cluster="lab")
    now = 100 * DAY
    for day in range(60):
        store.record_run({"planned": 0}, now - day * DAY, now - day * DAY + 5)
    # planning reads back (3 + 2) cycles of the 12 h default schedule: 60 h
    cfg = config(balancing={"cooldown_minutes": 60, "return_window_cycles": 3})
    caplog.set_level(logging.WARNING)
    Retention(max_bytes=1).enforce(store, cfg, now)
    store.close()
    runs = _runs(tmp_path / "proxlb.sqlite3")
    assert len(runs) == 3 and min(runs) >= now - 60 * 3600, runs
    assert any("over its cap" in r.getMessage() for r in caplog.records)
