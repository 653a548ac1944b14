"""#11 defect 3 beside upstream 2.3.0: the same upstream config (no cpu_overcommit key) on a cluster
already running 3–6 vCPUs per core must not be stopped short by a vCPU cap upstream does not apply:
we reach the balanciness target and end no worse than upstream."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from benchmarks.run import memory_spread
from benchmarks.upstream_harness import run_upstream, upstream_available, upstream_config

from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.scenario import parse_scenario
from proxlb_sim.testing import running_simulator

pytestmark = [
    pytest.mark.upstream,
    pytest.mark.skipif(not upstream_available(), reason="upstream ProxLB venv absent (make upstream-env)"),
]


def overcommitted() -> dict[str, Any]:
    """A generated cluster whose nodes run 3 (the memory-heaviest) to 6 (the lightest) vCPUs per
    core: balancing memory moves guests onto nodes already more overcommitted than their source."""
    raw = generate_scenario(GenerateOptions(nodes=5, guests=40, seed=7, skew=0.6))
    guests = [
        r for r in raw["resources"] if r.get("type") in ("qemu", "lxc") and r.get("status") == "running"
    ]
    nodes = [r for r in raw["resources"] if r.get("type") == "node"]
    mem = {n["node"]: sum(g["mem"] for g in guests if g["node"] == n["node"]) for n in nodes}
    vcpus = {n["node"]: sum(g["maxcpu"] for g in guests if g["node"] == n["node"]) for n in nodes}
    for rank, n in enumerate(sorted(nodes, key=lambda n: -mem[n["node"]])):
        ratio = 3.0 + 3.0 * rank / max(1, len(nodes) - 1)
        n["maxcpu"] = max(2, round(vcpus[n["node"]] / ratio))
    return raw


def test_upstream_config_on_an_overcommitted_cluster_balances_like_upstream(tmp_path: Path) -> None:
    scn = parse_scenario(overcommitted())
    with running_simulator(scn, time_scale=0.0, sim_overrides={"noise": 0, "drift": 0}) as sim:
        config = upstream_config(sim.host, sim.port, sim.token_id, sim.token_secret)
        upstream = run_upstream(config, sim.ca_file, "-d", "-j")
        assert upstream.returncode == 0 and upstream.document is not None, upstream.stderr[-2000:]
        ours_cfg = tmp_path / "proxlb.yaml"
        config["proxmox_api"]["ca_file"] = sim.ca_file
        config["service"]["state_dir"] = str(tmp_path / "state")
        ours_cfg.write_text(yaml.safe_dump(config))
        ours_cfg.chmod(0o600)
        proc = subprocess.run(
            [sys.executable, "-m", "proxlb", "-c", str(ours_cfg), "-d", "-j"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = json.loads(proc.stdout)
    theirs_after = memory_spread(upstream.document["nodes"])
    ours_after = memory_spread(ours["nodes"])
    assert ours["plan"]["imbalance_before"] > 10
    # upstream's single pass ends at ~13 pp here; we must reach the target and do no worse than it
    assert ours_after <= 10.0 and ours_after <= theirs_after, (ours_after, theirs_after, ours["plan"])
