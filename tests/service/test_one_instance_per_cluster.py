"""Issue #19 item 4: one acting instance per cluster on a host, whatever the state directory.

Two instances with different `state_dir`s (the daemon and a `--once` from another shell) used to
both migrate: 11 moves where one instance plans 7. The second one, started while the first is
migrating, now stops with exit 2 and a message naming the first; what the simulator saw POSTed is
exactly the first instance's plan.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import RunReport, run_once
from tests.service.simhelp import SimClock, client_for, sim, writes
from tests.service.test_daemon import write_config

EVACUATE = {
    "proxmox_cluster": {"maintenance_nodes": ["pve4"]},
    "balancing": {"parallel": True, "parallel_jobs": 2, "max_node_inflow": 2, "max_node_outflow": 2},
}


def test_a_second_instance_with_its_own_state_dir_adds_no_migration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cluster, api = sim("evacuate.yaml")
    clock = SimClock(cluster)
    first_path = write_config(
        tmp_path / "first.yaml", service={"state_dir": str(tmp_path / "a"), "daemon": False}, **EVACUATE
    )
    second_path = write_config(
        tmp_path / "second.yaml", service={"state_dir": str(tmp_path / "b"), "daemon": False}, **EVACUATE
    )
    second: list[int] = []
    reports: list[RunReport] = []

    def start_second_instance(c: SimClock) -> None:
        if not second and writes(api):  # the first instance is migrating right now
            other = Daemon(
                second_path,
                signals=DaemonSignals(),
                clock=clock,
                connect=lambda cfg, stop: client_for(api),
                configure_log=False,
            )
            second.append(other.run())

    clock.hooks.append(start_second_instance)
    first = Daemon(
        first_path,
        signals=DaemonSignals(),
        clock=clock,
        connect=lambda cfg, stop: client_for(api),
        run_cycle=run_once,
        on_report=reports.append,
        configure_log=False,
    )
    with caplog.at_level(logging.ERROR):
        assert first.run() == 0
    assert second == [ExitCode.SETUP]
    message = next(r.getMessage() for r in caplog.records if "already acting on cluster" in r.getMessage())
    assert f"state_dir {tmp_path / 'a'}" in message
    planned = reports[0].plan
    assert planned is not None and planned.migrations
    started = [w for w in writes(api) if w[1].endswith("/migrate")]
    assert len(started) == len(planned.migrations)
    # the lock dies with its holder: the second instance acts normally afterwards
    again = Daemon(second_path, clock=clock, connect=lambda cfg, stop: client_for(api), configure_log=False)
    assert again.run() == 0
