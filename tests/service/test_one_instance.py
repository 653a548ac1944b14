"""Issue #12 finding 3: one acting instance — state_dir lock, HA identity matching, loud warnings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.leader import standby_reason
from proxlb.service.pipeline import run_once
from tests.service.simhelp import SimClock, client_for, config, sim, writes
from tests.service.test_daemon import write_config

EVACUATE = {
    "proxmox_cluster": {"maintenance_nodes": ["pve4"]},
    "balancing": {"parallel": True, "parallel_jobs": 2, "max_node_inflow": 2, "max_node_outflow": 2},
}


@pytest.mark.parametrize("ident", ["pve1", "PVE1", "Pve1.Example.COM"])
def test_ha_identity_matches_its_node_whatever_the_case(ident: str) -> None:
    _cluster, api = sim("evacuate.yaml")  # no HA master: the lowest online node (pve1) leads
    assert standby_reason(client_for(api), config(service={"enable_ha": True, "ha_identity": ident})) is None


def test_an_identity_that_matches_no_node_is_warned_about_loudly(caplog: pytest.LogCaptureFixture) -> None:
    _cluster, api = sim("evacuate.yaml")
    with caplog.at_level(logging.WARNING):
        reason = standby_reason(client_for(api), config(service={"enable_ha": True, "ha_identity": "pve9"}))
    assert reason is not None and "matches no cluster node" in reason
    assert any("matches no node of this cluster" in r.getMessage() for r in caplog.records)


def test_two_instances_on_one_state_dir_never_start_more_migrations_than_one_plans(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cluster, api = sim("evacuate.yaml")
    clock = SimClock(cluster)
    path = write_config(
        tmp_path / "p.yaml", service={"state_dir": str(tmp_path / "state"), "daemon": False}, **EVACUATE
    )
    second: list[int] = []

    def start_second_instance(c: SimClock) -> None:
        if not second and writes(api):  # the first instance is migrating right now
            other = Daemon(
                path, signals=DaemonSignals(), clock=clock, connect=lambda cfg, stop: client_for(api)
            )
            other.configure_log = False
            second.append(other.run())

    clock.hooks.append(start_second_instance)
    first = Daemon(
        path,
        signals=DaemonSignals(),
        clock=clock,
        connect=lambda cfg, stop: client_for(api),
        run_cycle=run_once,
        configure_log=False,
    )
    with caplog.at_level(logging.ERROR):
        assert first.run() == 0
    assert second == [ExitCode.SETUP]
    assert any("another ProxLB instance (pid" in r.getMessage() for r in caplog.records)
    planned = first.reports[0].plan
    assert planned is not None
    started = [w for w in writes(api) if w[1].endswith("/migrate")]
    assert len(started) == len(planned.migrations)
    # the lock dies with its holder: the next run on the same state_dir acts normally
    assert (
        Daemon(path, clock=clock, connect=lambda cfg, stop: client_for(api), configure_log=False).run() == 0
    )
