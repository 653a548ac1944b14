"""A daemon run for N cycles on an in-process simulated cluster with a virtual clock (soak tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import RunReport, run_once
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from tests.service.simhelp import SimClock, client_for
from tests.service.test_daemon import write_config


def run_daemon_cycles(
    tmp_path: Path, cluster: SimCluster, api: InProcessApi, cycles: int, balancing: dict[str, Any]
) -> tuple[list[RunReport], StateStore]:
    """Run the daemon (5 virtual minutes between cycles) until `cycles` cycles reported; returns the
    reports and the state store reopened for the cluster, to read what PVE was asked to do."""
    signals = DaemonSignals()
    state = StateStore.open(tmp_path / "state")
    reports: list[RunReport] = []

    def stop_after(report: RunReport) -> None:
        reports.append(report)
        if len(reports) >= cycles:
            signals.request_stop()

    daemon = Daemon(
        write_config(
            tmp_path / "p.yaml",
            balancing=balancing,
            service={"schedule": {"interval": 5, "format": "minutes"}},
        ),
        signals=signals,
        clock=SimClock(cluster),
        connect=lambda config, stop: client_for(api),
        open_state=lambda config, one_shot: state,
        run_cycle=run_once,
        on_report=stop_after,
        configure_log=False,
    )
    assert daemon.run() == 0
    assert daemon.failures == 0 and len(reports) == cycles
    first = reports[0].snapshot
    assert first is not None
    return reports, StateStore.open(tmp_path / "state", cluster=first.identity)
