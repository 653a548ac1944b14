"""Issue #19 item 2: a `hosts` entry that `config check` accepts never crashes the run.

`fe01::bad:code::cafe` (upstream's own documented example) passes check with a warning; the run
used to end with exit 70 (a ValueError from the HTTP stack, raised in the start-up permission check
outside every error path). Now the entry is an unusable host like one that does not resolve: the
client fails over to the next host, and when it is the only one the run ends with exit 1 and one line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.config.check import check_config
from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon
from proxlb.service.pipeline import RunReport
from proxlb.service.state import StateStore
from tests.api.fake_pve import serve
from tests.execute.fakes import FakeClock

BAD = "fe01::bad:code::cafe"
PERMISSIONS = {"/": {p: 1 for p in ("VM.Migrate", "VM.Audit", "Sys.Audit", "Datastore.Audit")}}


def _write(tmp: Path, hosts: list[str], **api: Any) -> Path:
    doc = {
        "proxmox_api": {
            "hosts": hosts,
            "user": "proxlb@pve",
            "token_id": "t",
            "token_secret": "S3CRET",
            **api,
        },
        "service": {"daemon": False, "state_dir": str(tmp / "state")},
    }
    path = tmp / "proxlb.yaml"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def _run(path: Path) -> int:
    daemon = Daemon(
        path,
        clock=FakeClock(),
        apply=False,
        configure_log=False,
        open_state=lambda config, one_shot: StateStore.in_memory(),
        run_cycle=lambda deps, apply: pytest.fail("no cycle without a reachable host"),
    )
    return daemon.run()


def test_invalid_bare_ipv6_passes_check_and_ends_the_run_cleanly(tmp_path: Path, caplog: Any) -> None:
    path = _write(tmp_path, [BAD])
    checked = check_config(path)
    assert checked.ok and any("cannot connect to it" in w for w in checked.warnings)
    caplog.set_level(logging.WARNING)
    assert _run(path) == ExitCode.FAILED
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "not a valid IPv6 address nor a host name" in errors[0], errors
    assert not any(r.exc_info for r in caplog.records)


def test_invalid_bare_ipv6_is_skipped_for_the_next_host(tmp_path: Path) -> None:
    routes = {("GET", "/access/permissions"): (200, "OK", PERMISSIONS)}
    with serve(tmp_path, routes) as (fake, port, cert):
        path = _write(tmp_path, [BAD, f"127.0.0.1:{port}"], ca_file=str(cert))
        cycles: list[int] = []
        daemon = Daemon(
            path,
            clock=FakeClock(),
            apply=False,
            configure_log=False,
            open_state=lambda config, one_shot: StateStore.in_memory(),
            run_cycle=lambda deps, apply: cycles.append(1) or RunReport(0, 0, None, None, frozenset(), None),
        )
        assert daemon.run() == ExitCode.OK
        assert [entry[1] for entry in fake.log] == ["/access/permissions"]
        assert cycles == [1]
