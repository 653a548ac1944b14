"""A dry run is a preview (#11 defect 4/5): `--once` right after `--dry-run` executes the plan the dry
run showed, and `explain VMID` reads the guest's configuration before it answers."""

from __future__ import annotations

from pathlib import Path

from proxlb.sim.testing import running_simulator
from tests.e2e.conftest import json_out, run_cli, write_config


def _moves(doc: dict[str, object]) -> set[tuple[int, str]]:
    plan = doc["plan"]
    assert isinstance(plan, dict)
    return {(int(m["vmid"]), str(m["target"])) for m in plan["migrations"] if m["reason"] != "parking"}


def test_once_after_a_dry_run_executes_the_previewed_plan(tmp_path: Path) -> None:
    # the `rules` scenario with its simulated metric noise on: its plans used to flip between runs
    with running_simulator("rules", time_scale=60.0) as sim:
        cfg = write_config(tmp_path, sim, service={"daemon": True})
        preview = json_out(run_cli("-c", str(cfg), "--once", "-d", "-j"))
        assert _moves(preview), "the rules scenario needs moves"
        applied = run_cli("-c", str(cfg), "--once", "-j", timeout=300)
        assert applied.returncode == 0, applied.stderr
        assert _moves(json_out(applied)) == _moves(preview)


def test_explain_reads_local_disks_and_passthrough_of_a_guest_that_stays(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=60.0) as sim:
        cfg = write_config(tmp_path, sim)
        proc = run_cli("-c", str(cfg), "explain", "132")  # gpu01: hostpci0 and a local-lvm disk
    assert proc.returncode == 0, proc.stderr
    assert "32.0 GiB local disk" in proc.stdout, proc.stdout
    assert "cannot move: excluded: passthrough hostpci0" in proc.stdout, proc.stdout
    assert "allowed" not in proc.stdout, proc.stdout
