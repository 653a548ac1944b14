"""What only the run can check (issue #12, findings 8 and 11): a node reserve against the node's
real capacity, and the modes of the state files ProxLB creates itself (outside systemd)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.service.state import StateStore
from proxlb_sim.testing import proxlb_config_for, running_simulator

pytestmark = pytest.mark.timeout(120)


def _once(tmp: Path, **sections: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], Any]:
    with running_simulator("demo", time_scale=200.0) as sim:
        path = tmp / "proxlb.yaml"
        path.write_text(yaml.safe_dump(proxlb_config_for(sim, tmp / "state", **sections)))
        path.chmod(0o600)
        check = subprocess.run(
            [sys.executable, "-m", "proxlb", "config", "check", "-c", str(path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout  # the file alone cannot know a node's size
        proc = subprocess.run(
            [sys.executable, "-m", "proxlb", "--once", "-c", str(path)],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        return proc, sim.admin.writes()


def test_reserve_at_or_above_a_nodes_capacity_is_an_error_naming_the_node(tmp_path: Path) -> None:
    # 131072 (MiB meant, GiB read) on pve1 (128 GiB of memory): before, silently ignored
    proc, writes = _once(tmp_path, balancing={"node_resource_reserve": {"pve1": {"memory": 131072}}})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if " ERROR " in line]
    assert len(errors) == 1, proc.stdout + proc.stderr
    assert "balancing.node_resource_reserve: pve1 reserves 131072 GiB of memory, not less than its " \
        "capacity of 128 GiB" in errors[0]  # fmt: skip
    assert writes == []  # nothing was migrated on a plan made with a wrong reserve


def test_cpu_reserve_from_defaults_names_every_node_it_swallows(tmp_path: Path) -> None:
    proc, writes = _once(tmp_path, balancing={"node_resource_reserve": {"defaults": {"cpu": 4096}}})
    assert proc.returncode == 1 and writes == []
    for node in ("pve1", "pve2", "pve3"):
        assert f"{node} reserves 4096 cores of cpu" in proc.stdout + proc.stderr


def test_a_reserve_below_capacity_still_runs(tmp_path: Path) -> None:
    proc, _ = _once(tmp_path, balancing={"node_resource_reserve": {"defaults": {"memory": 2, "cpu": 1}}})
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_state_dir_0700_and_files_0600_when_proxlb_creates_them(tmp_path: Path, umask_022: None) -> None:
    state_dir = tmp_path / "var" / "lib" / "proxlb"
    store = StateStore.open(state_dir, cluster="c1")
    store.record_run({"planned": 0}, 1.0, 2.0)  # writes: WAL and shared-memory files appear
    try:
        assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
        files = sorted(state_dir.iterdir())
        assert [f.name for f in files][:1] == ["proxlb.sqlite3"] and len(files) >= 2
        for f in files:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    finally:
        store.close()


def test_existing_state_dir_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    # systemd's StateDirectory= creates it (StateDirectoryMode=0750): ProxLB does not change it
    state_dir = tmp_path / "proxlb"
    state_dir.mkdir(mode=0o750)
    StateStore.open(state_dir, cluster="c1").close()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE((state_dir / "proxlb.sqlite3").stat().st_mode) == 0o600
