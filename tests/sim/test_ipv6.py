"""IPv6 listening: `proxlb-sim serve --host ::1` and `--host ::` (dual stack) answer over HTTPS."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import requests

from proxlb_sim.testing import running_simulator


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")


def _version(url: str, ca_file: str, token: str) -> dict[str, str]:
    answer = requests.get(
        f"{url}/api2/json/version",
        headers={"Authorization": f"PVEAPIToken={token}"},
        verify=ca_file,
        timeout=10,
    )
    answer.raise_for_status()
    data: dict[str, str] = answer.json()["data"]
    return data


def test_cli_serves_on_ipv6_loopback() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxlb_sim.cli",
            "serve",
            "--scenario",
            "demo",
            "--host",
            "::1",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no ready line"
        ready = json.loads(line)
        assert ready["host"] == "::1" and ready["url"] == f"https://[::1]:{ready['port']}"
        assert _version(ready["url"], ready["ca_file"], ready["token"])["release"] == "9.2"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_any_address_accepts_both_families() -> None:
    with running_simulator("demo", host="::") as sim:
        for host in ("[::1]", "127.0.0.1"):
            assert _version(f"https://{host}:{sim.port}", sim.ca_file, sim.token)["version"]
