"""SIGHUP keeps a working API connection unless the new settings authenticate and hold every
privilege (issue #12, finding 9), and exit codes tell a bug (70, restarted by systemd) from a bad
configuration (1/2, not restarted) (finding 11). Against `proxlb-sim` over HTTPS."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import PipelineDeps, RunReport, run_once
from proxlb_sim.testing import SimInfo, proxlb_config_for, running_simulator
from tests.execute.fakes import FakeClock

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)


def _daemon_doc(sim: SimInfo, tmp: Path) -> dict[str, Any]:
    doc = proxlb_config_for(sim, tmp / "state", balancing={"enable": False})
    doc["service"].update(daemon=True, schedule={"interval": 10, "format": "minutes"})
    return doc


BAD_API_SETTINGS = {
    "wrong token secret": {"token_secret": "11111111-2222-3333-4444-555555555555"},
    "unreachable host": {"hosts": [f"127.0.0.1:{_free_port()}"], "timeout": 1, "retries": 1},
    "unknown user": {"user": "nobody@pve"},
    "CA of another cluster": {"ca_file": "/etc/ssl/certs/ca-certificates.crt"},
}


@pytest.mark.parametrize("change", list(BAD_API_SETTINGS), ids=list(BAD_API_SETTINGS))
def test_sighup_keeps_the_working_client_when_new_api_settings_fail(
    tmp_path: Path, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    with running_simulator("demo", time_scale=200.0) as sim:
        path = tmp_path / "proxlb.yaml"
        doc = _daemon_doc(sim, tmp_path)
        _write(path, doc)
        signals = DaemonSignals()
        users: list[str] = []
        results: list[bool] = []

        def cycle(deps: PipelineDeps, apply: bool) -> RunReport:
            users.append(deps.config.proxmox_api.user)
            try:
                report = run_once(deps, apply)
            except Exception:
                results.append(False)
                raise
            results.append(report.plan is not None)
            if len(users) == 1:
                bad = yaml.safe_load(yaml.safe_dump(doc))
                bad["proxmox_api"].update(BAD_API_SETTINGS[change])
                _write(path, bad)
                signals.request_reload()
            else:
                signals.request_stop()
            return report

        daemon = Daemon(path, signals=signals, clock=FakeClock(), run_cycle=cycle, configure_log=False)
        with caplog.at_level(logging.INFO, logger="proxlb"):
            code = daemon.run()
    assert code == 0
    assert results == [True, True], "the cycle after the rejected reload failed"
    assert daemon.failures == 0
    rejected = [
        r.getMessage()
        for r in caplog.records
        if "SIGHUP: new proxmox_api settings rejected" in r.getMessage()
    ]
    assert len(rejected) == 1, [r.getMessage() for r in caplog.records]
    assert sim.token_secret not in " ".join(r.getMessage() for r in caplog.records)


def test_sighup_switches_to_new_api_settings_that_work(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_simulator("demo", time_scale=200.0) as sim:
        path = tmp_path / "proxlb.yaml"
        doc = _daemon_doc(sim, tmp_path)
        doc["proxmox_api"]["timeout"] = 5
        _write(path, doc)
        signals = DaemonSignals()
        timeouts: list[int] = []

        def cycle(deps: PipelineDeps, apply: bool) -> RunReport:
            timeouts.append(deps.config.proxmox_api.timeout)
            report = run_once(deps, apply)
            if len(timeouts) == 1:
                doc["proxmox_api"]["timeout"] = 7  # a connection setting: a new client is built
                _write(path, doc)
                signals.request_reload()
            else:
                signals.request_stop()
            return report

        daemon = Daemon(path, signals=signals, clock=FakeClock(), run_cycle=cycle, configure_log=False)
        with caplog.at_level(logging.INFO, logger="proxlb"):
            assert daemon.run() == 0
    assert timeouts == [5, 7]
    assert daemon.failures == 0
    assert not any("rejected" in r.getMessage() for r in caplog.records)


# -- exit codes --------------------------------------------------------------------------------------


def test_one_shot_internal_error_returns_70_and_a_proxlb_error_returns_1(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=200.0) as sim:
        path = tmp_path / "proxlb.yaml"
        doc = proxlb_config_for(sim, tmp_path / "state", balancing={"enable": False})
        _write(path, doc)

        def buggy(deps: PipelineDeps, apply: bool) -> RunReport:
            raise KeyError("a bug")

        assert Daemon(path, run_cycle=buggy, configure_log=False).run() == ExitCode.INTERNAL == 70

        from proxlb.errors import PlanningError

        def planning_failed(deps: PipelineDeps, apply: bool) -> RunReport:
            raise PlanningError("no valid plan")

        assert Daemon(path, run_cycle=planning_failed, configure_log=False).run() == 1


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxlb", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_uncaught_exception_exits_70_with_one_line(tmp_path: Path) -> None:
    # a bug anywhere below main(): simulated by a dispatch that raises, through the real entry point
    script = (
        "import proxlb.cli as c\n"
        "def boom(args):\n    raise RuntimeError('unexpected')\n"
        "c.dispatch = boom\n"
        "c.main(['plan', '-c', '/nonexistent.yaml'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 70
    lines = proc.stderr.strip().splitlines()
    assert lines == ["error: internal error (RuntimeError: unexpected); please report it"], proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_errors_keep_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "proxlb.yaml"
    path.write_text("proxmox_api: {hosts: [a], user: u@pve, token_id: t, token_secret: s, timeout: true}\n")
    for args in (["config", "check", "-c", str(path)], ["--once", "-c", str(path)]):
        proc = _cli(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr
        assert "proxmox_api.timeout: true is not valid" in proc.stdout + proc.stderr


def test_unit_restarts_on_70_but_not_on_config_errors() -> None:
    unit = (Path(__file__).parents[2] / "packaging" / "proxlb.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")
    )
    assert settings["Restart"] == "on-failure"
    assert settings["RestartPreventExitStatus"].split() == ["1", "2"]
    assert "70" not in settings["RestartPreventExitStatus"]
