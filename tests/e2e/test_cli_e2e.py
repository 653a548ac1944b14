"""The `proxlb` command against the HTTPS simulator, as an administrator would run it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from proxlb_sim.scenario import load_scenario
from proxlb_sim.testing import SimInfo, running_simulator
from tests.e2e.conftest import json_out, run_cli


def _placement(sim: SimInfo) -> dict[int, str]:
    return {int(vmid): str(g["node"]) for vmid, g in sim.admin.state()["guests"].items()}


def test_version_flag() -> None:
    proc = run_cli("-v")
    assert proc.returncode == 0 and proc.stdout.startswith("ProxLB version:")


def test_dry_run_json_plans_and_sends_no_write(demo_sim: SimInfo, configured: Callable[..., Path]) -> None:
    cfg = configured(demo_sim)
    before = _placement(demo_sim)
    demo_sim.admin.clear_requests()
    proc = run_cli("-c", str(cfg), "-d", "-j")
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    assert {"nodes", "guests", "groups", "pools", "ha_rules", "plan"} <= doc.keys()
    moves = doc["plan"]["migrations"]
    assert moves, "the demo cluster is unbalanced: a plan is expected"
    for move in moves:
        guest = next(g for g in doc["guests"].values() if g["id"] == move["vmid"])
        assert (guest["node_current"], guest["node_target"]) == (move["source"], move["target"])
        assert move["reason"] in ("drain", "rule", "balance", "parking") and move["detail"]
    assert demo_sim.admin.writes() == []
    assert _placement(demo_sim) == before
    gets = [r for r in demo_sim.admin.requests() if r["method"] == "GET"]
    assert len(gets) < 40, f"{len(gets)} GET requests for one 5-node cycle"


def test_apply_moves_guests_and_replanning_is_quiet(
    demo_sim: SimInfo, configured: Callable[..., Path]
) -> None:
    cfg = configured(demo_sim)
    proc = run_cli("-c", str(cfg), "--once", "-j")
    assert proc.returncode == 0, proc.stderr
    doc = json_out(proc)
    plan = doc["plan"]["migrations"]
    assert plan, "the demo cluster is unbalanced: a plan is expected"
    outcomes = doc["execution"]["outcomes"]
    assert [o["outcome"] for o in outcomes] == ["done"] * len(outcomes)
    placement = _placement(demo_sim)
    for o in outcomes:
        assert placement[o["vmid"]] == o["target"]
    assert {m["vmid"] for m in plan} == {o["vmid"] for o in outcomes}
    again = json_out(run_cli("-c", str(cfg), "-d", "-j"))
    balance_moves = [m for m in again["plan"]["migrations"] if m["reason"] == "balance"]
    assert balance_moves == [], "re-planning right after a plan must not move guests back and forth"


def test_best_node_respects_size_and_tags(demo_sim: SimInfo, configured: Callable[..., Path]) -> None:
    cfg = configured(demo_sim)
    plain = run_cli("-c", str(cfg), "-b")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip().splitlines()[-1] in demo_sim.admin.state()["nodes"]
    tagged = json_out(
        run_cli("-c", str(cfg), "best-node", "--memory", "8G", "--tag", "plb_anti_affinity_db", "-j")
    )
    doc = json_out(run_cli("-c", str(cfg), "-d", "-j"))
    db_nodes = {g["node_current"] for g in doc["guests"].values() if "plb_anti_affinity_db" in g["tags"]}
    assert db_nodes and tagged["node"] not in db_nodes
    huge = run_cli("-c", str(cfg), "best-node", "--memory", "4T")
    assert huge.returncode == 1 and "no node" in huge.stderr


def test_explain_names_the_rules(demo_sim: SimInfo, configured: Callable[..., Path]) -> None:
    cfg = configured(demo_sim)
    doc = json_out(run_cli("-c", str(cfg), "-d", "-j"))
    ignored = next(g for g in doc["guests"].values() if g["ignore"] and g["ignore_reason"])
    proc = run_cli("-c", str(cfg), "explain", str(ignored["id"]))
    assert proc.returncode == 0, proc.stderr
    # the rule that keeps it (an ignore tag, a passthrough device, ...) is named, not just "stays"
    assert "stays" in proc.stdout and ignored["ignore_reason"] in proc.stdout, proc.stdout
    guests = doc["guests"].values()
    tagged = next(g for g in guests if any(t.startswith("plb_anti_affinity") for t in g["tags"]))
    rule_tag = next(t for t in tagged["tags"] if t.startswith("plb_anti_affinity"))
    rules = run_cli("-c", str(cfg), "explain", str(tagged["id"]))
    assert rules.returncode == 0 and rule_tag in rules.stdout, rules.stdout
    missing = run_cli("-c", str(cfg), "explain", "999999")
    assert missing.returncode == 1 and "not in the cluster" in missing.stderr


def test_bad_config_names_every_key_and_exits_1(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "proxmox_api: {hosts: ['h'], user: root@pam, token_id: t, token_secret: s}\n"
        "balancing: {method: ram, balanciness: abc, balanciness_typo: 3}\n"
    )
    proc = run_cli("-c", str(cfg), "-d")
    assert proc.returncode == 1
    assert "balancing.method" in proc.stderr and "balancing.balanciness" in proc.stderr
    assert "Traceback" not in proc.stderr
    check = run_cli("config", "check", "-c", str(cfg))
    assert check.returncode == 1 and "balancing.method" in check.stdout


def test_unreachable_api_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "proxmox_api: {hosts: ['127.0.0.1:9'], user: root@pam, token_id: t,"
        " token_secret: s3cr3t-value, timeout: 2}\n"
        f"service: {{daemon: false, state_dir: '{tmp_path}/state'}}\n"
    )
    cfg.chmod(0o600)
    proc = run_cli("-c", str(cfg), "-d")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "s3cr3t-value" not in proc.stderr + proc.stdout


def test_snapshot_round_trips_into_the_simulator(configured: Callable[..., Path], tmp_path: Path) -> None:
    # A frozen clock on both sides: the same instant must give the same plan.
    with running_simulator("demo", time_scale=0.0) as demo_sim:
        _snapshot_round_trip(demo_sim, configured, tmp_path)


def _snapshot_round_trip(demo_sim: SimInfo, configured: Callable[..., Path], tmp_path: Path) -> None:
    cfg = configured(demo_sim)
    out = tmp_path / "snap.yaml"
    proc = run_cli("-c", str(cfg), "snapshot", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(out.read_text())
    assert demo_sim.token_secret not in out.read_text()
    scenario = load_scenario(out)
    guests = [r for r in doc["resources"] if r["type"] in ("qemu", "lxc")]
    assert len(guests) == len(demo_sim.admin.state()["guests"])
    scenario = scenario.model_copy(
        update={"sim": scenario.sim.model_copy(update={"noise": 0.0, "drift": 0.0})}
    )
    with running_simulator(scenario, time_scale=0.0) as replay:
        original = json_out(run_cli("-c", str(cfg), "-d", "-j"))["plan"]["migrations"]
        cfg2 = configured(replay)
        replayed = json_out(run_cli("-c", str(cfg2), "-d", "-j"))["plan"]["migrations"]
    # the same moves; their order within a step ranks by expected duration, which counts local disks,
    # and a snapshot holds no guest configs (the replayed guests get default, shared disks)
    assert sorted((m["vmid"], m["target"]) for m in replayed) == sorted(
        (m["vmid"], m["target"]) for m in original
    )
