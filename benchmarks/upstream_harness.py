"""Run upstream ProxLB 2.3.0, unmodified, from its own virtualenv against a simulator endpoint.

Upstream is not a dependency: it lives in `.venv-upstream` (`make upstream-env`). Its code is
executed as is; only `time.sleep` is shortened for pauses of at most 5 s (its per-call 0.1 s
pauses and 5 s poll rounds) so side-by-side runs take seconds, not minutes. Long sleeps (the
daemon schedule) are untouched, and we always run it with `service.daemon: false`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_PYTHON = Path(os.environ.get("PROXLB_UPSTREAM_PYTHON", ROOT / ".venv-upstream" / "bin" / "python"))

# Executed inside the upstream interpreter: patch short sleeps, then start `python -m proxlb`.
_LAUNCHER = """
import runpy, sys, time
_sleep = time.sleep
time.sleep = lambda s: _sleep(min(s, 0.01)) if s <= 5 else _sleep(s)
sys.argv = ["proxlb"] + sys.argv[1:]
runpy.run_module("proxlb", run_name="__main__", alter_sys=True)
"""


def upstream_env(**extra: str) -> dict[str, str]:
    """The environment upstream runs in: ours, minus anything that could make `import proxlb` find
    our package instead of upstream's (PYTHONPATH, PYTHONHOME, a virtualenv's activation)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def upstream_available() -> bool:
    """True when upstream ProxLB imports from its own virtualenv (and not from our checkout)."""
    if not UPSTREAM_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(UPSTREAM_PYTHON), "-c", "import proxlb, proxmoxer; print(proxlb.__file__)"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=upstream_env(),
    )
    venv = UPSTREAM_PYTHON.parent.parent.resolve()
    return probe.returncode == 0 and Path(probe.stdout.strip()).resolve().is_relative_to(venv)


@dataclass(frozen=True)
class UpstreamRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    document: dict[str, Any] | None  # the --json output, when one was printed


def upstream_config(
    host: str, port: int, token_id: str, token_secret: str, password: str | None = None, **balancing: Any
) -> dict[str, Any]:
    """A config in upstream's own format for a simulator endpoint (verified TLS).

    Token auth, or password (ticket) auth when `password` is given.
    """
    section = {
        "enable": True,
        "balance_types": ["vm", "ct"],
        "balanciness": 10,
        "method": "memory",
        "mode": "used",
    }
    section.update(balancing)
    auth = {"pass": password} if password else {"token_id": token_id, "token_secret": token_secret}
    return {
        "proxmox_api": {
            "hosts": [f"{host}:{port}"],
            "user": "root@pam",
            **auth,
            "ssl_verification": True,
            "timeout": 30,
        },
        "balancing": section,
        "service": {"daemon": False, "log_level": "INFO"},
    }


def extract_json(stdout: str) -> dict[str, Any] | None:
    """Upstream prints logs and JSON to the same stdout: take the first line '{' to the last '}'."""
    lines = stdout.splitlines()
    try:
        start = lines.index("{")
    except ValueError:
        return None
    end = max(i for i, line in enumerate(lines) if line == "}")
    parsed: dict[str, Any] = json.loads("\n".join(lines[start : end + 1]))
    return parsed


def run_upstream(config: dict[str, Any], ca_file: str, *args: str, timeout: float = 600) -> UpstreamRun:
    """Run upstream once with `config`; `args` are its CLI flags (e.g. "-d", "-j")."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "proxlb.yaml"
        cfg.write_text(yaml.safe_dump(config))
        env = upstream_env(REQUESTS_CA_BUNDLE=ca_file)
        started = time.monotonic()
        proc = subprocess.run(
            [str(UPSTREAM_PYTHON), "-c", _LAUNCHER, "-c", str(cfg), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
    doc = extract_json(proc.stdout) if "-j" in args or "--json" in args else None
    return UpstreamRun(proc.returncode, proc.stdout, proc.stderr, seconds, doc)


if __name__ == "__main__":  # manual use: python benchmarks/upstream_harness.py HOST PORT TOKEN_ID SECRET CA
    h, p, tid, sec, ca = sys.argv[1:6]
    result = run_upstream(upstream_config(h, int(p), tid, sec), ca, "-d", "-j")
    print(result.stdout[-3000:], result.stderr[-2000:], f"rc={result.returncode} {result.seconds:.1f}s")
