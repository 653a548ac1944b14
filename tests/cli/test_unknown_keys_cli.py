"""#20 item 5, as an admin sees it: a misspelled key fails `config check` (exit 1) and the run refuses
the file the same way, naming the key, the right spelling and how to accept unknown keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = (
    "proxmox_api: {hosts: ['127.0.0.1:9'], user: root@pam, token_id: t, token_secret: s3cr3t, timeout: 2}\n"
    "servce: {daemon: false}\n"
    "balancing: {ignore_nodes: [pve9]}\n"
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxlb", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_config_check_and_the_run_refuse_unknown_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "proxlb.yaml"
    cfg.write_text(CONFIG + f"service: {{state_dir: '{tmp_path}/state'}}\n")
    cfg.chmod(0o600)
    check = _cli("config", "check", "-c", str(cfg))
    assert check.returncode == 1, check.stdout
    assert "unknown key 'servce' refused — did you mean 'service'?" in check.stdout
    assert "did you mean 'proxmox_cluster.ignore_nodes'?" in check.stdout
    run = _cli("--once", "-c", str(cfg))
    assert run.returncode == 1
    assert "unknown key 'servce' refused" in run.stderr and "lenient_config" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout and "s3cr3t" not in run.stderr + run.stdout


def test_lenient_keeps_todays_behaviour(tmp_path: Path) -> None:
    cfg = tmp_path / "proxlb.yaml"
    cfg.write_text(CONFIG)
    cfg.chmod(0o600)
    lenient = _cli("config", "check", "--lenient", "-c", str(cfg))
    assert lenient.returncode == 0, lenient.stdout
    assert "warning: unknown key 'servce' ignored — did you mean 'service'?" in lenient.stdout
    by_option = tmp_path / "lenient.yaml"
    by_option.write_text(CONFIG + "service: {lenient_config: true}\n")
    by_option.chmod(0o600)
    assert _cli("config", "check", "-c", str(by_option)).returncode == 0
