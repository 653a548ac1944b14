"""Output discipline (#20 item 6), as a shell sees it: tables and results on stdout, log lines on
stderr at every level, each fact once (no `planned:` log line repeating the plan table, one
"daemon mode not active", a best-node failure said once)."""

from __future__ import annotations

import re
from pathlib import Path

from proxlb_sim.testing import running_simulator
from tests.e2e.conftest import run_cli, write_config

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR) ", re.MULTILINE)


def test_logs_on_stderr_tables_on_stdout_each_fact_once(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=500.0) as sim:
        cfg = write_config(tmp_path, sim)
        for level, args in (("DEBUG", ["--dry-run"]), ("INFO", ["--once"])):
            proc = run_cli("-c", str(cfg), *args, "--log-level", level)
            assert proc.returncode == 0, proc.stderr
            assert not LOG_LINE.search(proc.stdout), proc.stdout[:2000]
            assert LOG_LINE.search(proc.stderr)
            assert "Plan:" in proc.stdout
            if level == "INFO":
                assert "Applied:" in proc.stdout
                assert "planned:" not in proc.stderr  # the plan table already lists every move
                assert "re-planning" not in proc.stderr
            assert proc.stderr.lower().count("daemon mode not active") == 1
        best = run_cli("-c", str(cfg), "best-node", "--memory", "4T")
        assert best.returncode == 1
        assert best.stderr.count("no node can take this guest") == 1, best.stderr
        assert best.stdout == ""


def test_html_option_says_wrote_like_report(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=0.0) as sim:
        cfg = write_config(tmp_path, sim)
        page = tmp_path / "r.html"
        proc = run_cli("-c", str(cfg), "plan", "--html", str(page))
        assert proc.returncode == 0 and page.exists(), proc.stderr
        assert f"wrote {page}" in proc.stderr and "wrote" not in proc.stdout
        quiet = run_cli("-c", str(cfg), "plan", "--quiet", "--html", str(page))
        assert "wrote" not in quiet.stdout + quiet.stderr
