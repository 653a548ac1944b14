"""The `proxlb` command against the HTTPS simulator, as an administrator would run it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from proxmoxer import ProxmoxAPI

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
    # the same moves (their order within a step ranks by expected duration, which counts local disks;
    # the snapshot carries the guest configs, so the replay has the same disks)
    assert sorted((m["vmid"], m["target"]) for m in replayed) == sorted(
        (m["vmid"], m["target"]) for m in original
    )


def test_snapshot_carries_configs_snapshots_and_agent_into_the_rehearsal(
    configured: Callable[..., Path], tmp_path: Path
) -> None:
    """#18: what the admin's tools read (guest configs with agent and tags, snapshot lists, storages)
    answers the same on the rehearsal as on the cluster it was taken from."""
    with running_simulator("demo", time_scale=0.0) as source:
        api = ProxmoxAPI(
            source.host,
            port=source.port,
            user=source.user,
            password=source.password,
            verify_ssl=source.ca_file,
        )
        vm = next(
            e
            for e in api.cluster.resources.get(type="vm")
            if e["type"] == "qemu" and e["status"] == "running"
        )
        guest = api.nodes(vm["node"]).qemu(vm["vmid"])
        guest.snapshot.post(snapname="before_rehearsal", description="taken for #18")
        source.admin.advance(60)
        out = tmp_path / "snap.yaml"
        proc = run_cli("-c", str(configured(source)), "snapshot", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        expected = {
            "config": {k: v for k, v in guest.config.get().items() if k != "digest"},
            "snapshots": [s["name"] for s in guest.snapshot.get()],
            "storages": sorted(s["storage"] for s in api.storage.get()),
        }
    doc = yaml.safe_load(out.read_text())
    assert doc["format"] == 2
    with running_simulator(load_scenario(out), time_scale=0.0) as replay:
        api2 = ProxmoxAPI(
            replay.host,
            port=replay.port,
            user=replay.user,
            password=replay.password,
            verify_ssl=replay.ca_file,
        )
        guest2 = api2.nodes(vm["node"]).qemu(vm["vmid"])
        assert {k: v for k, v in guest2.config.get().items() if k != "digest"} == expected["config"]
        assert [s["name"] for s in guest2.snapshot.get()] == expected["snapshots"]
        assert sorted(s["storage"] for s in api2.storage.get()) == expected["storages"]
        assert "result" in guest2.agent("get-osinfo").get()


def test_piped_json_is_one_line_per_top_level_key_and_cuts_out_like_upstream(
    demo_sim: SimInfo, configured: Callable[..., Path]
) -> None:
    # #16: indented JSON is written by Python's slow encoder; piped (not a terminal) each top-level
    # key goes on one line, still between a line "{" and a line "}" as upstream's consumers expect
    proc = run_cli("-c", str(configured(demo_sim)), "-d", "-j")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    doc = json_out(proc)
    assert lines[0] == "{" and lines[-1] == "}"
    assert len(lines) == len(doc) + 2
    first = lines.index("{")
    last = max(i for i, line in enumerate(lines) if line.strip() == "}")
    assert json.loads("\n".join(lines[first : last + 1])) == doc
