"""Every connection or credential problem ends as one actionable line, against the real simulator.

Each test runs `python -m proxlb --once` (one-shot: it must never promise a retry) and checks the
line names what was tried, what PVE answered and what to change; no secret, no traceback, no repr.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb_sim.testing import SimInfo, proxlb_config_for, running_simulator
from tests.e2e.conftest import run_cli

WRONG_SECRET = "00000000-dead-beef-0000-000000000000"
WRONG_PASSWORD = "not-the-password-42"


@pytest.fixture(scope="module")
def sim() -> Any:
    with running_simulator("demo", time_scale=200.0, sim_overrides={"auth_failure_delay_s": 0}) as info:
        yield info


def _config(tmp: Path, sim: SimInfo, **api: Any) -> Path:
    doc = proxlb_config_for(sim, tmp / "state")
    doc["proxmox_api"].update(api)
    for key in [k for k, v in doc["proxmox_api"].items() if v is None]:
        del doc["proxmox_api"][key]
    path = tmp / "proxlb.yaml"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def _once(cfg: Path, *secrets: str) -> str:
    proc = run_cli("-c", str(cfg), "--once")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    assert "retry" not in out.lower(), out  # one-shot never promises a retry
    assert "{'" not in out and "b''" not in out, out  # no Python reprs
    for secret in secrets:
        assert secret not in out
    errors = [line for line in out.splitlines() if " ERROR " in line or line.startswith("error:")]
    assert len(errors) == 1, out
    return errors[0]


def test_wrong_token_secret_names_user_realm_token_and_fix(tmp_path: Path, sim: SimInfo) -> None:
    line = _once(_config(tmp_path, sim, token_secret=WRONG_SECRET), WRONG_SECRET, sim.token_secret)
    assert "authentication failed" in line
    assert "API token root@pam!proxlb" in line and "realm pam" in line and "token id proxlb" in line
    assert "PVE answered 'HTTP 401 Authentication failed!'" in line
    assert "token_secret" in line and "expired" in line


def test_wrong_password_says_password_login_and_what_to_check(tmp_path: Path, sim: SimInfo) -> None:
    cfg = _config(tmp_path, sim, token_id=None, token_secret=None, password=WRONG_PASSWORD)
    line = _once(cfg, WRONG_PASSWORD, sim.password)
    assert "password login of user root (realm pam)" in line
    assert "PVE answered 'HTTP 401" in line and "check the password" in line


def test_wrong_realm_is_named_with_a_hint(tmp_path: Path, sim: SimInfo) -> None:
    cfg = _config(tmp_path, sim, user="root@pve", token_id=None, token_secret=None, password=sim.password)
    line = _once(cfg, sim.password)
    assert "user root (realm pve)" in line
    assert "realm 'pve' is for users created in Proxmox VE" in line


def test_self_signed_certificate_without_ca_file(tmp_path: Path, sim: SimInfo) -> None:
    line = _once(_config(tmp_path, sim, ca_file=None), sim.token_secret)
    host = f"{sim.host}:{sim.port}"
    assert f"certificate verify failed for {host}" in line
    assert "set proxmox_api.ca_file" in line and "ssl_verification: false for a lab" in line


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_host_down_is_one_summary_line(tmp_path: Path, sim: SimInfo) -> None:
    hosts = [f"127.0.0.1:{_dead_port()}", f"127.0.0.1:{_dead_port()}"]
    line = _once(_config(tmp_path, sim, hosts=hosts, timeout=2, wait_time=0), sim.token_secret)
    assert "no Proxmox API host answered" in line and "(2 tried)" in line
    for host in hosts:
        assert f"{host}: connection refused" in line
    assert "port 8006" in line


def test_debug_shows_requests_stages_and_move_inputs_never_a_secret(tmp_path: Path, sim: SimInfo) -> None:
    cfg = _config(tmp_path, sim)
    proc = run_cli("-c", str(cfg), "--dry-run", "--log-level", "DEBUG")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert sim.token_secret not in out
    requests = [line for line in out.splitlines() if "proxlb.api.request" in line]
    assert any(
        "GET /cluster/resources → 200 in " in line and " bytes (127.0.0.1:" in line for line in requests
    )
    for stage in ("collect", "derive", "plan"):
        assert f"stage {stage}: " in out
    assert "planned move inputs: " in out and "mem used " in out

    pw_cfg = _config(tmp_path, sim, token_id=None, token_secret=None, password=sim.password)
    proc = run_cli("-c", str(pw_cfg), "--dry-run", "--log-level", "DEBUG")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "POST /access/ticket (password login of root@pam) → ok" in out
    assert sim.password not in out and "PVEAuthCookie" not in out and "PVE:root@pam:" not in out
