"""#20 item 8: OR-Tools (the `solver` extra) and cryptography (the `sim` extra) are optional for pip.
Asking for what is not installed gives one line naming the extra, never a traceback. The missing
package is simulated by blocking its import in the child process (`sys.modules[name] = None`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proxlb.config.check import check_config


def _without(module: str, entry: str, *argv: str) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.modules[{module!r}] = None\nfrom {entry} import main\nmain({list(argv)!r})\n"
    argv_ = [sys.executable, "-c", code]
    return subprocess.run(argv_, capture_output=True, text=True, timeout=60, check=False)


def _config(tmp_path: Path, solver: bool) -> Path:
    cfg = tmp_path / "proxlb.yaml"
    cfg.write_text(
        "proxmox_api: {hosts: ['127.0.0.1:9'], user: root@pam, token_id: t, token_secret: s, timeout: 2}\n"
        f"solver: {{enable: {str(solver).lower()}}}\n"
        f"service: {{daemon: false, state_dir: '{tmp_path}/state'}}\n"
    )
    cfg.chmod(0o600)
    return cfg


def test_solver_asked_for_and_missing_is_one_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path, solver=True)
    for argv in (["config", "check", "-c", str(cfg)], ["--once", "-c", str(cfg)]):
        proc = _without("ortools", "proxlb.cli", *argv)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        out = proc.stdout + proc.stderr
        assert "solver.enable: true needs OR-Tools, which is not installed: pip install" in out
        assert "'proxlb[solver]'" in out
        assert "Traceback" not in out
    # not asked for: OR-Tools is not needed
    off = _config(tmp_path, False)
    assert _without("ortools", "proxlb.cli", "config", "check", "-c", str(off)).returncode == 0


def test_solver_present_is_accepted(tmp_path: Path) -> None:
    pytest.importorskip("ortools", reason="the solver extra is not installed here")
    assert check_config(_config(tmp_path, solver=True), {}).ok


def test_simulator_without_cryptography_is_one_line() -> None:
    proc = _without("cryptography", "proxlb_sim.cli", "serve", "--scenario", "demo", "--port", "0")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "proxlb-sim: needs cryptography, which is not installed: pip install 'proxlb[sim]'"
    )
    assert "Traceback" not in proc.stderr
