"""`proxlb report`, `--html`, `--metrics-file`, `plan --curve`, `--max-migrations` against the simulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from proxlb_sim.testing import SimInfo, running_simulator
from tests.e2e.conftest import json_out, run_cli


def test_report_writes_a_page_and_metrics_without_touching_the_cluster(
    configured: Callable[..., Path], tmp_path: Path
) -> None:
    with running_simulator("demo", time_scale=200.0, sim_overrides={"noise": 0, "drift": 0}) as quiet:
        _report(quiet, configured(quiet), tmp_path)


def _report(demo_sim: SimInfo, cfg: Path, tmp_path: Path) -> None:
    """Every count is of the same cycle: the report's own line, its page and its metrics file."""
    demo_sim.admin.clear_requests()
    page, prom = tmp_path / "report.html", tmp_path / "proxlb.prom"
    proc = run_cli("-c", str(cfg), "report", "-o", str(page), "--metrics-file", str(prom))
    assert proc.returncode == 0, proc.stderr
    said = re.search(rf"wrote {re.escape(str(page))}: (\d+) migration\(s\) planned", proc.stderr)
    assert said, proc.stderr
    count = int(said.group(1))
    assert demo_sim.admin.writes() == []
    html = page.read_text()
    assert 'id="nodes"' in html and 'id="gain-curve"' in html and html.count("<svg") == 4
    plan_table = html[html.index('<table id="plan">') :]
    plan_table = plan_table[: plan_table.index("</table>")]
    assert plan_table.count("<tr>") == count + 1  # header + one row per migration
    text = prom.read_text()
    planned = sum(float(v) for v in re.findall(r'^proxlb_plan_migrations\{reason="\w+"\} (\S+)$', text, re.M))
    assert planned == count > 0


def test_plan_curve_and_migration_budget(configured: Callable[..., Path]) -> None:
    with running_simulator("demo", time_scale=200.0, sim_overrides={"noise": 0, "drift": 0}) as quiet:
        _curve_and_budget(configured(quiet))


def _curve_and_budget(cfg: Path) -> None:
    """The curve is compared with the plan printed in the same output, never with another run."""
    budget = json_out(run_cli("-c", str(cfg), "plan", "-j", "--max-migrations", "3"))["plan"]["migrations"]
    assert len([m for m in budget if m["reason"] != "parking"]) == 3  # the demo plans 5 or more
    proc = run_cli("-c", str(cfg), "plan", "--curve")
    assert proc.returncode == 0, proc.stderr
    count = int(re.findall(r"Plan: (\d+) migration", proc.stdout)[0])
    assert count > 3
    curve = proc.stdout[proc.stdout.index("Gain curve") :]
    rows = re.findall(r"^│\s+(\d+)( \*)?\s+│", curve, re.M)
    assert [int(k) for k, _ in rows] == list(range(count + 1))
    assert sum(1 for _, star in rows if star) == 1
    quiet = run_cli("-c", str(cfg), "plan", "--curve", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stdout[:300]


def test_html_on_an_applying_run_shows_the_outcome(
    demo_sim: SimInfo, configured: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = configured(demo_sim)
    page = tmp_path / "run.html"
    proc = run_cli("-c", str(cfg), "--once", "--html", str(page), "--max-migrations", "2")
    assert proc.returncode == 0, proc.stderr
    html = page.read_text()
    assert 'id="outcome"' in html and "Applied: done 2" in html


def test_bad_report_options_are_one_clear_line(
    demo_sim: SimInfo, configured: Callable[..., Path], tmp_path: Path
) -> None:
    cfg = configured(demo_sim)
    proc = run_cli("-c", str(cfg), "plan", "--max-migrations", "many")
    assert proc.returncode == 2 and "'many' is not a number of migrations" in proc.stderr
    proc = run_cli("-c", str(cfg), "report")
    assert proc.returncode == 2 and "-o/--output" in proc.stderr
    proc = run_cli("-c", str(cfg), "report", "-o", str(tmp_path / "missing" / "r.html"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"error: cannot write {tmp_path / 'missing'}" in proc.stderr
