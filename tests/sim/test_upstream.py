"""Fidelity check: unmodified upstream ProxLB 2.3.0 runs against the simulator (dry run and real run).

Optional: needs `make upstream-env` (a separate virtualenv `.venv-upstream` with `proxlb==2.3.0`) or
`PROXLB_UPSTREAM_PYTHON` pointing at such an interpreter; skipped otherwise. Upstream sleeps 0.1 s per
call and 5 s per task poll; a small wrapper shortens sleeps of up to 5 s (the package is not modified).
TLS is verified (`ssl_verification: True`) with the simulator's CA through `REQUESTS_CA_BUNDLE`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from proxlb.sim.testing import SimInfo, running_simulator

pytestmark = pytest.mark.upstream

ROOT = Path(__file__).resolve().parents[2]
PYTHON = Path(os.environ.get("PROXLB_UPSTREAM_PYTHON", ROOT / ".venv-upstream" / "bin" / "python"))
WRAPPER = """
import runpy, sys, time
_sleep = time.sleep
time.sleep = lambda s: _sleep(0.01) if s <= 5 else _sleep(s)
sys.argv = ["proxlb"] + sys.argv[1:]
runpy.run_module("proxlb", run_name="__main__", alter_sys=True)
"""


def _upstream_available() -> bool:
    if not PYTHON.exists():
        return False
    probe = subprocess.run([str(PYTHON), "-c", "import proxlb"], check=False, capture_output=True, timeout=60)
    return probe.returncode == 0


requires_upstream = pytest.mark.skipif(not _upstream_available(), reason="upstream ProxLB 2.3.0 env absent")


def _run(sim: SimInfo, tmp: Path, args: list[str], token: bool) -> subprocess.CompletedProcess[str]:
    auth = (
        f"  token_id: {sim.token_id}\n  token_secret: {sim.token_secret}\n"
        if token
        else f"  pass: {sim.password}\n"
    )
    config = tmp / "proxlb.yaml"
    config.write_text(
        "proxmox_api:\n"
        f"  hosts: ['127.0.0.1:{sim.port}']\n  user: {sim.user}\n{auth}"
        "  ssl_verification: True\n  timeout: 10\n"
        "balancing:\n  enable: True\n  balance_types: ['vm', 'ct']\n  balanciness: 10\n"
        "  method: memory\n  mode: used\n"
        "service:\n  daemon: False\n  log_level: INFO\n"
    )
    wrapper = tmp / "run_upstream.py"
    wrapper.write_text(WRAPPER)
    env = dict(os.environ, REQUESTS_CA_BUNDLE=sim.ca_file)
    cmd = [str(PYTHON), str(wrapper), "-c", str(config), *args]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=240, env=env)


@requires_upstream
def test_upstream_dry_run_reads_everything_and_writes_nothing(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=50.0) as sim:
        done = _run(sim, tmp_path, ["-d", "-j"], token=True)
        assert done.returncode == 0, done.stderr[-2000:]
        out = done.stdout
        decisions = json.loads(out[out.index("{") : out.rindex("}") + 1])
        assert set(decisions["nodes"]) == {"pve1", "pve2", "pve3", "pve4", "pve5"}
        assert sim.admin.writes() == []
        assert all(e["status"] < 400 for e in sim.admin.requests())


@requires_upstream
def test_upstream_real_run_migrates_and_the_moves_show(tmp_path: Path) -> None:
    with running_simulator("demo", time_scale=50.0) as sim:
        before = {g: v["node"] for g, v in sim.admin.state()["guests"].items()}
        done = _run(sim, tmp_path, [], token=False)
        assert done.returncode == 0, done.stderr[-2000:]
        posts = [w for w in sim.admin.writes() if w["path"].endswith("/migrate")]
        assert posts, "upstream decided no migration on the unbalanced demo"
        after = {g: v["node"] for g, v in sim.admin.state()["guests"].items()}
        moved = {g for g in before if before[g] != after[g]}
        assert moved
        assert all(e["status"] < 400 for e in sim.admin.requests())
        assert sim.admin.state()["running_tasks"] == []
