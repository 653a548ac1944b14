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

from proxlb_sim.testing import SimInfo, proxlb_config_for, running_simulator


def write_config(tmp: Path, sim: SimInfo, **sections: dict[str, Any]) -> Path:
    """An upstream-style proxlb.yaml for `sim` (token auth, verified TLS), sections merged in."""
    path = tmp / "proxlb.yaml"
    path.write_text(yaml.safe_dump(proxlb_config_for(sim, tmp / "state", **sections)))
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
