"""Optional: a real Prometheus server (Debian's `prometheus`) scrapes a running `proxlb` daemon and
answers a query on one of its series. Skipped with a clear message where Prometheus is missing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from proxlb_sim.testing import SimInfo
from tests.service.test_dashboard import concrete, dashboard_queries

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read().decode())


def wait_for(check: Callable[[], Any], what: str, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@contextmanager
def process(args: list[str], log: Path, stdout: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` (stderr to `log`, stdout to `stdout` or the log); SIGTERM and reap it at the end."""
    with log.open("wb") as err, (stdout or log).open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_prometheus_scrapes_proxlb(
    demo_sim: SimInfo, configured: Callable[..., Path], tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Prometheus is not installed (Debian: apt-get install prometheus; `make test-tools`)")
    metrics_port, prom_port = free_port(), free_port()
    cfg = configured(
        demo_sim,
        service={
            "daemon": True,
            "schedule": {"interval": 1, "format": "hours"},
            "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        },
        balancing={"enable": False},  # plan every cycle, migrate nothing
    )
    prom_cfg = tmp_path / "prometheus.yml"
    prom_cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: proxlb\n    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    proxlb_cmd = [sys.executable, "-m", "proxlb", "-c", str(cfg), "--json"]
    prom_cmd = [
        binary, f"--config.file={prom_cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn",
    ]  # fmt: skip
    api = f"http://127.0.0.1:{prom_port}/api/v1"
    with (
        process(proxlb_cmd, tmp_path / "proxlb.log", tmp_path / "proxlb.json"),
        process(prom_cmd, tmp_path / "prometheus.log"),
    ):
        wait_for(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2), "/metrics"
        )

        def planned() -> list[Any]:
            query = urllib.parse.quote('sum(proxlb_plan_migrations{job="proxlb"})')
            doc = get_json(f"{api}/query?query={query}")
            return list(doc["data"]["result"]) if doc.get("status") == "success" else []

        result = wait_for(planned, "Prometheus to answer a query on proxlb_plan_migrations")
        up = get_json(f"{api}/query?query=" + urllib.parse.quote('up{job="proxlb"}'))["data"]["result"]
        assert up and up[0]["value"][1] == "1"

        # the same count as the plan of the daemon's (only) cycle, from its --json output
        def printed() -> Any:
            try:
                return json.loads((tmp_path / "proxlb.json").read_text())
            except ValueError:  # not written (completely) yet
                return None

        cycle = wait_for(printed, "the daemon's --json output of its cycle")
        assert float(result[0]["value"][1]) == len(cycle["plan"]["migrations"]) > 0
        # every query of the Grafana dashboard is valid PromQL for this Prometheus
        for expr in dashboard_queries():
            doc = get_json(f"{api}/query?query=" + urllib.parse.quote(concrete(expr)))
            assert doc["status"] == "success", (expr, doc)
