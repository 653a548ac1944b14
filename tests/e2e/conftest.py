"""End-to-end fixtures: a simulator over HTTPS and a ProxLB config pointing at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.sim.testing import SimInfo, running_simulator


def write_config(tmp: Path, sim: SimInfo, **sections: dict[str, Any]) -> Path:
    """An upstream-style proxlb.yaml for `sim` (token auth, verified TLS), sections merged in."""
    doc: dict[str, Any] = {
        "proxmox_api": {
            "hosts": [f"{sim.host}:{sim.port}"],
            "user": sim.user,
            "token_id": sim.token_id,
            "token_secret": sim.token_secret,
            "ssl_verification": True,
            "ca_file": sim.ca_file,
            "timeout": 10,
        },
        "balancing": {"enable": True, "balance_types": ["vm", "ct"], "parallel": True, "parallel_jobs": 4},
        "service": {"daemon": False, "state_dir": str(tmp / "state")},
    }
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    path = tmp / "proxlb.yaml"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m proxlb ARGS` in a subprocess, exactly as an administrator runs it."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "proxlb", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def json_out(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


@pytest.fixture
def demo_sim() -> Iterator[SimInfo]:
    with running_simulator("demo", time_scale=200.0) as sim:
        yield sim


@pytest.fixture
def configured(tmp_path: Path) -> Callable[..., Path]:
    def make(sim: SimInfo, **sections: dict[str, Any]) -> Path:
        return write_config(tmp_path, sim, **sections)

    return make
