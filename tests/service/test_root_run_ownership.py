"""A preview as root does not break the service (#20 item 2).

README step 4 runs `proxlb --dry-run` as root; the service then runs as the `proxlb` user with the
same state_dir. Files a root run creates there belong to the directory's owner; a state file the
service user cannot open is refused with the exact fix (`chown -R USER: DIR`), exit 2.
Needs root and `setpriv` (util-linux) to act as another user; skipped otherwise."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from proxlb_sim.testing import SimInfo, proxlb_config_for, running_simulator

SERVICE_UID = 65534  # nobody: stands in for the proxlb user


@pytest.fixture
def base() -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run proxlb as another user")
    probe = _as_service([sys.executable, "-c", "import proxlb"])
    if probe.returncode != 0:
        pytest.skip(f"the service user cannot import proxlb from this checkout: {probe.stderr.strip()}")
    directory = Path(tempfile.mkdtemp(prefix="proxlb-owner-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _as_service(argv: list[str]) -> subprocess.CompletedProcess[str]:
    ids = [f"--reuid={SERVICE_UID}", f"--regid={SERVICE_UID}", "--clear-groups"]
    return subprocess.run(
        ["setpriv", *ids, *argv], capture_output=True, text=True, timeout=120, check=False, cwd="/"
    )


def _config(base: Path, sim: SimInfo) -> Path:
    ca = base / "ca.pem"
    shutil.copyfile(sim.ca_file, ca)
    ca.chmod(0o644)
    doc = proxlb_config_for(sim, base / "state")
    doc["proxmox_api"]["ca_file"] = str(ca)
    cfg = base / "proxlb.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    os.chown(cfg, SERVICE_UID, SERVICE_UID)
    cfg.chmod(0o600)
    return cfg


def _state_dir(base: Path) -> Path:
    state = base / "state"
    state.mkdir(mode=0o750)
    os.chown(state, SERVICE_UID, SERVICE_UID)  # as the package's postinst leaves /var/lib/proxlb
    return state


def test_root_run_leaves_files_the_service_user_can_use(base: Path) -> None:
    state = _state_dir(base)
    with running_simulator("demo", time_scale=500.0) as sim:
        cfg = _config(base, sim)
        for args in (["--dry-run"], ["--once", "--dry-run", "--html", str(base / "r.html")]):
            root_run = subprocess.run(
                [sys.executable, "-m", "proxlb", "-c", str(cfg), *args],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert root_run.returncode == 0, root_run.stderr
        owners = {p.name: p.stat().st_uid for p in state.iterdir()}
        assert owners and set(owners.values()) == {SERVICE_UID}, owners
        service = _as_service([sys.executable, "-m", "proxlb", "-c", str(cfg), "--once"])
        assert service.returncode == 0, service.stderr
        assert "not usable" not in service.stderr


def test_state_file_the_service_user_cannot_open_names_the_fix(base: Path) -> None:
    state = _state_dir(base)
    sqlite3.connect(state / "proxlb.sqlite3").close()  # root-owned, as an older root run left it
    (state / "proxlb.sqlite3").chmod(0o600)
    with running_simulator("demo", time_scale=0.0) as sim:
        cfg = _config(base, sim)
        doc = yaml.safe_load(cfg.read_text())
        doc["service"]["daemon"] = True
        cfg.write_text(yaml.safe_dump(doc))
        service = _as_service([sys.executable, "-m", "proxlb", "-c", str(cfg)])
    assert service.returncode == 2
    assert f"chown -R nobody: {state}" in service.stderr + service.stdout
    assert "Traceback" not in service.stderr
