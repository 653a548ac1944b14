"""What an administrator sees while `proxlb --once` applies a plan: on a terminal and in a pipe.

The terminal test drives the real CLI under a pseudo-terminal (pexpect) against the HTTPS simulator
and checks the order: the plan first, then live progress rows whose copied GiB grow while migrations
run (read from the PVE task log's progress lines), then the summary. The pipe test checks the
journald-style lines: one per start and finish, and no terminal escape codes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from proxlb_sim.testing import SimInfo, running_simulator
from tests.e2e.conftest import run_cli

pexpect = pytest.importorskip("pexpect", reason="pexpect (dev dependency) is needed for the terminal test")

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUNNING_ROW = re.compile(r"│\s*(?:VM|CT) (\d+) [^│]*│[^│]*│ running\s*│ ([\d.]+) of ([\d.]+) GiB")


@pytest.fixture
def slow_sim() -> SimInfo:  # type: ignore[misc]
    # ×10 virtual clock: the demo plan takes ~20 real seconds, long enough to watch it progress
    with running_simulator("demo", time_scale=10.0) as sim:
        yield sim


def test_terminal_shows_plan_then_live_progress_then_summary(
    slow_sim: SimInfo, configured: Callable[..., Path]
) -> None:
    cfg = configured(slow_sim, balancing={"parallel_jobs": 3})
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "proxlb", "-c", str(cfg), "--once"],
        dimensions=(50, 160),
        env=env,
        encoding="utf-8",
        timeout=180,
    )
    child.expect(pexpect.EOF)
    child.close()
    raw = child.before
    text = ESCAPES.sub("", raw)
    assert child.exitstatus == 0, text[-3000:]
    plan_at = text.index("Plan: ")
    first_row = RUNNING_ROW.search(text)
    assert first_row is not None, "no live progress row was shown"
    summary_at = text.index("Applied: ")
    assert plan_at < first_row.start() < text.index("Execution") < summary_at
    # progress grows during the migrations: several distinct copied figures for one guest
    seen: dict[str, set[float]] = {}
    for match in RUNNING_ROW.finditer(text, first_row.start(), summary_at):
        seen.setdefault(match.group(1), set()).add(float(match.group(2)))
    assert max(len(v) for v in seen.values()) >= 3, seen
    assert any(x > 0 for values in seen.values() for x in values)
    assert "overall" in text and "ETA" in text
    assert "\x1b[" in raw  # it really was a terminal display
    assert slow_sim.token_secret not in raw


def test_pipe_gets_one_line_per_start_and_finish_and_no_escape_codes(
    demo_sim: SimInfo, configured: Callable[..., Path]
) -> None:
    # stdout and stderr (logs) into one pipe, as systemd hands both to journald
    proc = subprocess.run(
        [sys.executable, "-m", "proxlb", "-c", str(configured(demo_sim)), "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout
    assert "\x1b" not in out
    plan_at = out.index("Plan: ")
    vmids = re.findall(r"│\s+\d+ │\s+(\d+) │", out[plan_at : out.index("└", plan_at)])
    assert vmids
    for vmid in vmids:
        starts = [line for line in out.splitlines() if "migrating " in line and f"({vmid})" in line]
        ends = [
            line
            for line in out.splitlines()
            if re.search(rf"migrated .*\({vmid}\)|migration of .*\({vmid}\)", line)
        ]
        assert len(starts) == 1 and len(ends) == 1, (vmid, starts, ends)
        assert out.index(starts[0]) > plan_at
    assert out.index("Applied: ") > max(out.index(line) for line in out.splitlines() if "migrated " in line)


def test_quiet_and_json_keep_stdout_clean(demo_sim: SimInfo, configured: Callable[..., Path]) -> None:
    cfg = str(configured(demo_sim))
    quiet = run_cli("-c", cfg, "--once", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stdout
    assert "migrating " not in quiet.stderr  # INFO is hidden; warnings and errors would show
    with running_simulator("demo", time_scale=200.0) as fresh:
        doc = run_cli("-c", str(configured(fresh)), "--once", "-j")
    assert doc.returncode == 0
    parsed = json.loads(doc.stdout)
    assert parsed["execution"]["totals"]["done"] >= 1
    assert "migrating " in doc.stderr


def test_demo_piped_has_no_escape_codes() -> None:
    demo = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.run(
        [sys.executable, str(demo)], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "== 2. Apply" in proc.stdout and "Applied: " in proc.stdout
    assert "\x1b" not in proc.stdout + proc.stderr
