"""A dry run is a preview (#11 defect 4/5): `--once` right after `--dry-run` executes the plan the dry
run showed, and `explain VMID` reads the guest's configuration before it answers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from proxlb_sim.testing import running_simulator
from tests.e2e.conftest import json_out, run_cli, write_config


def _moves(doc: dict[str, object]) -> set[tuple[int, str]]:
    plan = doc["plan"]
    assert isinstance(plan, dict)
    return {(int(m["vmid"]), str(m["target"])) for m in plan["migrations"] if m["reason"] != "parking"}


def test_once_after_a_dry_run_executes_the_previewed_plan(tmp_path: Path) -> None:
    # the `rules` scenario with its simulated metric noise on: its plans used to flip between runs.
    # A frozen clock from a fixed instant, advanced two minutes between the runs, makes the noise
    # the runs see the same every time (a real-time clock made the test depend on wall time).
    start = {"start_time": 1_790_000_000.0}
    with running_simulator("rules", time_scale=0.0, sim_overrides=start) as sim:
        cfg = write_config(tmp_path, sim, service={"daemon": True})
        preview = json_out(run_cli("-c", str(cfg), "--once", "-d", "-j"))
        assert _moves(preview), "the rules scenario needs moves"
        sim.cluster.clock.advance(120.0)
        run = subprocess.Popen(
            [sys.executable, "-m", "proxlb", "-c", str(cfg), "--once", "-j"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not sim.admin.writes() and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            sim.cluster.clock.set_time_scale(200.0)  # planned at the frozen instant; now let it migrate
            out, err = run.communicate(timeout=300)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
        assert run.returncode == 0, err[-2000:]
        assert _moves(json.loads(out)) == _moves(preview)


def test_explain_reads_local_disks_and_passthrough_of_a_guest_that_stays(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=60.0) as sim:
        cfg = write_config(tmp_path, sim)
        proc = run_cli("-c", str(cfg), "explain", "132")  # gpu01: hostpci0 and a local-lvm disk
    assert proc.returncode == 0, proc.stderr
    assert "32.0 GiB local disk" in proc.stdout, proc.stdout
    assert "cannot move: excluded: passthrough hostpci0" in proc.stdout, proc.stdout
    assert "allowed" not in proc.stdout, proc.stdout
