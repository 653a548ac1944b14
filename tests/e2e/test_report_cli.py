"""`proxlb report`, `--html`, `--metrics-file`, `plan --curve`, `--max-migrations` against the simulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from proxlb.sim.testing import SimInfo, running_simulator
from tests.e2e.conftest import json_out, run_cli


def test_report_writes_a_page_and_metrics_without_touching_the_cluster(
    configured: Callable[..., Path], tmp_path: Path
) -> None:
    # metrics without noise: the report's plan is the plan printed before it (#11 stable plans)
    with running_simulator("demo", time_scale=200.0, sim_overrides={"noise": 0, "drift": 0}) as quiet:
        _report(quiet, configured(quiet), tmp_path)


def _report(demo_sim: SimInfo, cfg: Path, tmp_path: Path) -> None:
    plan = json_out(run_cli("-c", str(cfg), "plan", "-j"))["plan"]["migrations"]
    demo_sim.admin.clear_requests()
    page, prom = tmp_path / "report.html", tmp_path / "proxlb.prom"
    proc = run_cli("-c", str(cfg), "report", "-o", str(page), "--metrics-file", str(prom))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {page}: {len(plan)} migration(s) planned" in proc.stderr
    assert demo_sim.admin.writes() == []
    html = page.read_text()
    assert 'id="nodes"' in html and 'id="gain-curve"' in html and html.count("<svg") == 4
    for m in plan:
        assert f"<td class=num>{m['vmid']}</td>" in html
    text = prom.read_text()
    planned = sum(float(v) for v in re.findall(r'^proxlb_plan_migrations\{reason="\w+"\} (\S+)$', text, re.M))
    assert planned == len(plan) > 0


def test_plan_curve_and_migration_budget(configured: Callable[..., Path]) -> None:
    with running_simulator("demo", time_scale=200.0, sim_overrides={"noise": 0, "drift": 0}) as quiet:
        _curve_and_budget(configured(quiet))


def _curve_and_budget(cfg: Path) -> None:
    budget = json_out(run_cli("-c", str(cfg), "plan", "-j", "--max-migrations", "3"))["plan"]["migrations"]
    assert len([m for m in budget if m["reason"] != "parking"]) == 3
    # the plan right before the curve, on metrics without noise: consecutive plans agree (each
    # prefers the previous one's moves, #11), so the curve previews this very plan
    full = json_out(run_cli("-c", str(cfg), "plan", "-j"))["plan"]["migrations"]
    assert len(full) > 3
    proc = run_cli("-c", str(cfg), "plan", "--curve")
    assert proc.returncode == 0, proc.stderr
    assert "Gain curve" in proc.stdout
    curve = proc.stdout[proc.stdout.index("Gain curve") :]
    rows = re.findall(r"^│\s+(\d+)( \*)?\s+│", curve, re.M)
    assert [int(k) for k, _ in rows] == list(range(len(full) + 1))


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
