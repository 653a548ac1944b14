"""Issue #19 item 7: an unreadable `/cluster/resources` is a failed cycle, never an empty cluster.

Truncated JSON, an HTML page, an empty body or `data: null` used to give "the cluster looks empty",
"No rebalancing needed", exit 0, and a daemon counted the cycle ok and advanced
`proxlb_last_successful_cycle_timestamp_seconds`, so the staleness alert never fired. The answers
come from a small HTTPS stand-in for pveproxy (tests/api/fake_pve.py); what is checked is the exit
code, the log line and the Prometheus exposition.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.metrics import CycleMetrics
from proxlb.service.state import StateStore
from tests.api.fake_pve import raw_body, serve
from tests.execute.fakes import FakeClock

GIB = 1024**3
PERMISSIONS = {"/": {p: 1 for p in ("VM.Migrate", "VM.Audit", "Sys.Audit", "Datastore.Audit")}}
NODE = {"type": "node", "node": "pve1", "status": "online", "maxcpu": 4, "cpu": 0.1}
GOOD = [{**NODE, "maxmem": 8 * GIB, "mem": GIB, "maxdisk": 100 * GIB, "disk": GIB}]

UNREADABLE = {
    "truncated JSON": raw_body(b'{"data": [{"type": "node", "node": "pve1", "sta'),
    "HTML": raw_body(b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "empty body": raw_body(b""),
    "data null": raw_body(b'{"data": null}'),
}


def _write(tmp: Path, port: int, cert: Path, daemon: bool) -> Path:
    doc: dict[str, Any] = {
        "proxmox_api": {
            "hosts": [f"127.0.0.1:{port}"],
            "user": "proxlb@pve",
            "token_id": "t",
            "token_secret": "S3CRET",
            "ca_file": str(cert),
            "wait_time": 0,
        },
        "service": {"daemon": daemon, "state_dir": str(tmp / "state")},
    }
    path = tmp / "proxlb.yaml"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def _routes(resources: Any) -> dict[tuple[str, str], Any]:
    return {
        ("GET", "/access/permissions"): (200, "OK", PERMISSIONS),
        ("GET", "/cluster/resources"): resources,
    }


@pytest.mark.parametrize("answer", sorted(UNREADABLE))
def test_one_shot_run_fails_on_an_unreadable_resource_list(tmp_path: Path, caplog: Any, answer: str) -> None:
    caplog.set_level(logging.INFO)
    with serve(tmp_path, _routes((200, "OK", UNREADABLE[answer]))) as (_fake, port, cert):
        daemon = Daemon(
            _write(tmp_path, port, cert, daemon=False),
            clock=FakeClock(),
            apply=False,
            configure_log=False,
            open_state=lambda config, one_shot: StateStore.in_memory(),
        )
        assert daemon.run() == ExitCode.FAILED
    text = caplog.text
    assert "looks empty" not in text and "No rebalancing" not in text
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cycle failed")]
    assert len(failed) == 1 and "/cluster/resources" in failed[0], failed


def _metric(metrics: CycleMetrics, name: str) -> str:
    lines = generate_latest(metrics.registry).decode().splitlines()
    return "\n".join(line for line in lines if line.startswith(name))


def test_daemon_counts_an_unreadable_cycle_failed_and_keeps_the_last_success(tmp_path: Path) -> None:
    routes = _routes((200, "OK", GOOD))
    with serve(tmp_path, routes) as (fake, port, cert):
        clock = FakeClock()
        signals = DaemonSignals()
        metrics = CycleMetrics()
        seen: list[str] = []

        def between_cycles(now: float) -> None:
            seen.append(_metric(metrics, "proxlb_last_successful_cycle_timestamp_seconds"))
            if len(seen) == 1:
                fake.routes[("GET", "/cluster/resources")] = (200, "OK", UNREADABLE["data null"])
            else:
                signals.request_stop()

        clock.on_sleep.append(between_cycles)
        daemon = Daemon(
            _write(tmp_path, port, cert, daemon=True),
            clock=clock,
            signals=signals,
            apply=False,
            configure_log=False,
            metrics=metrics,
            open_state=lambda config, one_shot: StateStore.in_memory(),
        )
        assert daemon.run() == ExitCode.OK
    assert len(seen) == 2 and seen[0] == seen[1] and seen[0].split()[-1] != "0.0", seen
    cycles = _metric(metrics, "proxlb_cycles_total")
    assert 'proxlb_cycles_total{result="ok"} 1.0' in cycles
    assert 'proxlb_cycles_total{result="failed"} 1.0' in cycles
