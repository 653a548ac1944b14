"""A preview returns (#20 item 1): `--dry-run` is one cycle whatever `service.daemon` says (the Debian
package's config and upstream configs without `service:` say true); `--dry-run --repeat` asks for
the repeating dry run explicitly and still migrates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from proxlb_sim.testing import running_simulator
from tests.e2e.conftest import run_cli, write_config


def test_dry_run_with_daemon_true_is_one_cycle(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=0.0) as sim:
        cfg = write_config(
            tmp_path, sim, service={"daemon": True, "schedule": {"interval": 12, "format": "hours"}}
        )
        proc = run_cli("-c", str(cfg), "--dry-run", timeout=90)
        assert proc.returncode == 0, proc.stderr
        assert "next cycle in" not in proc.stderr + proc.stdout
        assert not sim.admin.writes()


def test_dry_run_repeat_keeps_planning_and_never_migrates(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=0.0) as sim:
        cfg = write_config(tmp_path, sim, service={"daemon": True})
        run = subprocess.Popen(
            [sys.executable, "-m", "proxlb", "-c", str(cfg), "--dry-run", "--repeat"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            assert run.stdout is not None
            deadline = time.monotonic() + 90
            seen = ""
            while "next cycle in" not in seen and time.monotonic() < deadline and run.poll() is None:
                seen += run.stdout.readline()
            assert "next cycle in" in seen, seen
            assert run.poll() is None  # still running: the loop was asked for
        finally:
            run.send_signal(signal.SIGTERM)
            run.communicate(timeout=60)
        assert not sim.admin.writes()
