"""The CLI says the same thing everywhere: JSON switches, step numbers, units, after-plan figures."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from proxlb_sim.testing import SimInfo, running_simulator
from tests.e2e.conftest import json_out, run_cli


def test_config_check_json_both_spellings(demo_sim: SimInfo, configured: Callable[..., Path]) -> None:
    cfg = str(configured(demo_sim))
    for argv in (["config", "check", "--json", "-c", cfg], ["-j", "config", "check", "-c", cfg]):
        proc = run_cli(*argv)
        assert proc.returncode == 0, (argv, proc.stderr)
        doc = json.loads(proc.stdout)
        assert doc["ok"] is True and doc["problems"] == []
        assert demo_sim.token_secret not in proc.stdout


def test_steps_are_numbered_the_same_in_table_json_and_explain(configured: Callable[..., Path]) -> None:
    # three CLI runs must show one plan: metrics without noise (on a noisy real-time simulator the
    # last small move of the demo plan sits at the hysteresis target, and noise may add or drop it)
    with running_simulator("demo", time_scale=200.0, sim_overrides={"noise": 0, "drift": 0}) as quiet:
        _steps_agree(str(configured(quiet)))


def _steps_agree(cfg: str) -> None:
    moves = json_out(run_cli("-c", cfg, "plan", "-j"))["plan"]["migrations"]
    assert moves and min(m["step"] for m in moves) == 1
    table = run_cli("-c", cfg, "plan").stdout
    plan = table[table.index("Plan: ") : table.index("└", table.index("Plan: "))]
    steps = {int(v): int(s) for s, v in re.findall(r"│\s+(\d+) │\s+(\d+) │", plan)}
    assert steps == {m["vmid"]: m["step"] for m in moves}
    first = moves[0]
    explained = run_cli("-c", cfg, "explain", str(first["vmid"])).stdout
    assert f"migration: step {first['step']}: " in explained


def test_cost_says_its_unit(demo_sim: SimInfo, configured: Callable[..., Path]) -> None:
    moves = json_out(run_cli("-c", str(configured(demo_sim)), "plan", "-j"))["plan"]["migrations"]
    balance = [m["detail"] for m in moves if m["reason"] == "balance"]
    assert balance
    for detail in balance:
        assert re.search(r"\(cost [\d.]+ pp for [\d.]+ GiB to copy\)$", detail), detail


def test_vcpu_assigned_column_shows_the_after_plan_value(
    demo_sim: SimInfo, configured: Callable[..., Path]
) -> None:
    out = run_cli("-c", str(configured(demo_sim)), "plan").stdout
    rows = re.findall(r"│ (pve\d) │.*│\s+(\d+)(?: → (\d+))?/(\d+) │\s*$", out, re.M)
    assert len(rows) == 5, out
    changed = [r for r in rows if r[2]]
    assert changed, rows  # the demo plan moves vCPUs between nodes
    assert sum(int(r[2] or r[1]) for r in rows) == sum(int(r[1]) for r in rows)  # vCPUs only move


def test_best_node_after_plan_avoids_nodes_the_plan_fills(
    demo_sim: SimInfo, configured: Callable[..., Path]
) -> None:
    cfg = str(configured(demo_sim))
    args = ["-c", cfg, "best-node", "--memory", "4G", "--cores", "2", "--tag", "plb_anti_affinity_db", "-j"]
    plan = json_out(run_cli("-c", cfg, "plan", "-j"))["plan"]["migrations"]
    db_targets = {m["target"] for m in plan if m["vmid"] in (102, 103)}  # db01/db02 are spread by the plan
    assert db_targets
    now = json_out(run_cli(*args))
    after = json_out(run_cli(*args, "--after-plan"))
    assert now["after_plan"] is False and after["after_plan"] is True
    assert after["node"] not in db_targets
    verdicts = {n["node"]: n["verdict"] for n in after["ranking"]}
    for node in db_targets:
        assert "anti-affinity" in verdicts[node], verdicts
    assert any(now_n["verdict"].startswith("ok") for now_n in now["ranking"] if now_n["node"] in db_targets)
