"""What the loop says when a cycle fails: one-shot never promises a retry; the daemon says when."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from proxlb.errors import ApiError, AuthError
from proxlb.service.daemon import DaemonSignals
from proxlb.service.pipeline import PipelineDeps, RunReport
from tests.execute.fakes import FakeClock
from tests.service.test_daemon import FakeClient, make, report, write_config


def _failing(deps: PipelineDeps, apply: bool) -> RunReport:
    raise ApiError("no Proxmox API host answered GET /cluster/resources (1 tried): h: connection refused")


def test_one_shot_failure_is_one_line_without_retry(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    daemon = make(tmp_path, _failing, FakeClock())
    write_config(daemon.config_path, service={"daemon": False})
    caplog.set_level(logging.INFO)
    assert daemon.run() == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "cycle failed: no Proxmox API host answered GET /cluster/resources (1 tried): h: connection refused"
    ]
    assert "retry" not in caplog.text.lower() and "ApiError" not in caplog.text


def test_daemon_failure_says_when_it_retries(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    signals = DaemonSignals()
    calls: list[int] = []

    def cycle(deps: PipelineDeps, apply: bool) -> RunReport:
        calls.append(1)
        if len(calls) == 1:
            return _failing(deps, apply)
        signals.request_stop()
        return report(0)

    caplog.set_level(logging.INFO)
    assert make(tmp_path, cycle, FakeClock(), signals=signals).run() == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("cycle 1 failed: no Proxmox API host answered")
    assert errors[0].endswith("; retrying in 30 s")


def test_one_shot_auth_failure_at_start_stops_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cycles: list[int] = []
    daemon = make(tmp_path, lambda d, a: cycles.append(1) or report(0), FakeClock())
    write_config(daemon.config_path, service={"daemon": False})

    class Rejected(FakeClient):
        def check_permissions(self) -> None:
            raise AuthError("authentication failed at h:8006: API token root@pam!t was rejected", 401)

    daemon.connect = lambda config, stop: Rejected()
    caplog.set_level(logging.INFO)
    assert daemon.run() == 1 and cycles == []
    assert "postponed" not in caplog.text and "retry" not in caplog.text.lower()
