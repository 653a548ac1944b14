"""Admin endpoint, request log, request-level faults over HTTPS, and the `proxlb-sim` command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from proxmoxer import ProxmoxAPI

from proxlb_sim.scenario import load_scenario, parse_scenario
from proxlb_sim.testing import SimInfo, running_simulator
from tests.sim.conftest import small_scenario


@pytest.fixture
def sim() -> Iterator[SimInfo]:
    with running_simulator(parse_scenario(small_scenario()), time_scale=0.0, seed=3) as info:
        yield info


def admin(sim: SimInfo, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.request(method, f"{sim.url}/_sim/{path}", json=body, verify=sim.ca_file, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def api(sim: SimInfo, path: str) -> requests.Response:
    headers = {"Authorization": f"PVEAPIToken={sim.token}"}
    return requests.get(f"{sim.url}/api2/json{path}", headers=headers, verify=sim.ca_file, timeout=10)


def test_request_log_masks_secrets_and_shows_writes(sim: SimInfo) -> None:
    client = ProxmoxAPI(sim.host, port=sim.port, user=sim.user, password=sim.password, verify_ssl=sim.ca_file)
    client.nodes.get()
    log = admin(sim, "GET", "requests")
    login = next(e for e in log if e["path"] == "/access/ticket")
    assert login["params"]["password"] == "***" and sim.password not in json.dumps(log)
    assert log[-1]["path"] == "/nodes" and log[-1]["status"] == 200 and log[-1]["user"] == "root@pam"
    assert sim.admin.writes() == []
    client.nodes("pve2").qemu(103).migrate.post(target="pve1")
    assert [(w["method"], w["path"]) for w in sim.admin.writes()] == [
        ("POST", "/nodes/pve2/qemu/103/migrate")
    ]
    since = admin(sim, "GET", "requests")[-1]["index"]
    assert admin(sim, "GET", f"requests?since={since}")[0]["index"] == since
    admin(sim, "POST", "requests/clear")
    assert admin(sim, "GET", "requests") == []


def test_clock_and_state(sim: SimInfo) -> None:
    before = admin(sim, "GET", "clock")
    assert before["time_scale"] == 0.0
    after = admin(sim, "POST", "clock", {"advance": 120})
    assert after["now"] - before["now"] == pytest.approx(120, abs=0.01)
    state = admin(sim, "GET", "state")
    assert state["guests"]["100"]["node"] == "pve1" and state["running_tasks"] == []


def test_error_burst_then_recovery(sim: SimInfo) -> None:
    admin(sim, "POST", "faults", {"kind": "errors", "count": 2, "status": 503, "path": "/nodes"})
    assert [api(sim, "/nodes").status_code for _ in range(3)] == [503, 503, 200]
    assert api(sim, "/version").status_code == 200


def test_latency_fault(sim: SimInfo) -> None:
    admin(sim, "POST", "faults", {"kind": "latency", "ms": 150, "path": "/version"})
    started = time.perf_counter()
    assert api(sim, "/version").ok
    assert time.perf_counter() - started >= 0.15
    admin(sim, "POST", "faults/clear")
    assert admin(sim, "GET", "faults") == {"faults": []}


def test_refused_connections(sim: SimInfo) -> None:
    admin(sim, "POST", "faults", {"kind": "refuse_connections", "seconds": 0.5})
    with pytest.raises(requests.exceptions.ConnectionError):
        api(sim, "/version")
    time.sleep(0.6)
    assert api(sim, "/version").ok


def test_invalid_fault_is_rejected(sim: SimInfo) -> None:
    response = requests.post(
        f"{sim.url}/_sim/faults", json={"kind": "meteor"}, verify=sim.ca_file, timeout=10
    )
    assert response.status_code == 400


def test_scenario_faults_and_runtime_faults_agree(tmp_path: Path) -> None:
    raw = small_scenario(faults=[{"kind": "migration_fail", "vmid": 100}])
    with running_simulator(parse_scenario(raw), time_scale=1000.0) as info:
        client = ProxmoxAPI(
            info.host,
            port=info.port,
            user=info.user,
            token_name=info.token_id,
            token_value=info.token_secret,
            verify_ssl=info.ca_file,
        )
        upid = client.nodes("pve1").qemu(100).migrate.post(target="pve2", online=1)
        deadline = time.monotonic() + 10
        while client.nodes("pve1").tasks(upid).status.get()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.nodes("pve1").tasks(upid).status.get()["exitstatus"] == "migration aborted"


def test_cli_serve_prints_ready_line_and_stops_on_sigterm() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "proxlb_sim.cli",
        "serve",
        "--scenario",
        "demo",
        "--port",
        "0",
        "--time-scale",
        "10",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert set(ready) == {"url", "host", "port", "ca_file", "user", "password", "token"}
        assert ready["token"].startswith("root@pam!proxlb=")
        response = requests.get(
            f"{ready['url']}/api2/json/nodes",
            verify=ready["ca_file"],
            timeout=10,
            headers={"Authorization": f"PVEAPIToken={ready['token']}"},
        )
        assert len(response.json()["data"]) == 5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_generate_writes_a_loadable_scenario(tmp_path: Path) -> None:
    out = tmp_path / "big.yaml"
    cmd = [
        sys.executable,
        "-m",
        "proxlb_sim.cli",
        "generate",
        "--nodes",
        "4",
        "--guests",
        "30",
        "--seed",
        "2",
        "-o",
        str(out),
    ]
    subprocess.run(cmd, check=True, timeout=60)
    assert len(load_scenario(out).guests) == 30


def test_cli_reports_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources: []\n")
    cmd = [sys.executable, "-m", "proxlb_sim.cli", "serve", "--scenario", str(bad), "--port", "0"]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no entry of type 'node'" in done.stderr


def test_sim_overrides_can_freeze_the_metrics() -> None:
    from proxlb_sim.inprocess import InProcessApi

    with running_simulator("demo", time_scale=0.0, sim_overrides={"noise": 0, "drift": 0}) as info:
        api = InProcessApi(info.cluster)
        before = api.get("/cluster/resources", type="vm")
        info.admin.advance(3 * 3600)
        after = api.get("/cluster/resources", type="vm")
        assert [(g["cpu"], g["mem"]) for g in before] == [(g["cpu"], g["mem"]) for g in after]


def test_parallel_clients_are_served(sim: SimInfo) -> None:
    from concurrent.futures import ThreadPoolExecutor

    paths = ["/cluster/resources", "/nodes", "/nodes/pve1/qemu", "/cluster/ha/status/current"] * 10
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda p: api(sim, p).status_code, paths))
    assert codes == [200] * len(paths)
    assert len(sim.admin.requests()) == len(paths)


def test_state_dir_keeps_the_ca_across_restarts(tmp_path: Path) -> None:
    from proxlb_sim.testing import start_simulator

    first, info = start_simulator("demo", state_dir=tmp_path)
    ca = Path(info.ca_file).read_bytes()
    first.stop()
    second, again = start_simulator("demo", state_dir=tmp_path)
    second.start()
    try:
        assert Path(again.ca_file).read_bytes() == ca
        assert api(again, "/version").ok  # the kept CA still verifies the server
    finally:
        second.stop()
