"""Optional, with a real Prometheus (#20 item 3): the dashboard's `increase()` sees real events.

Labelled counters exist at 0 from the daemon's start, and a migration or a SIGHUP reload is counted
when it happens, so `increase(…[window])` over the window that holds the event is > 0 (before: the
series appeared with its first event at 1, and Prometheus' `increase()` read 0).
Skipped with a reason where Prometheus is not installed (`make test-tools` installs it)."""

from __future__ import annotations

import shutil
import signal
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb_sim.testing import proxlb_config_for, running_simulator
from tests.e2e.test_prometheus_scrape import free_port, get_json, process, wait_for

pytestmark = pytest.mark.timeout(240)


def test_increase_sees_one_applied_migration_and_one_reload(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Prometheus is not installed (Debian: apt-get install prometheus; `make test-tools`)")
    metrics_port, prom_port = free_port(), free_port()
    prom_cfg = tmp_path / "prometheus.yml"
    prom_cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: proxlb\n    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    prom_cmd = [
        binary, f"--config.file={prom_cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn",
    ]  # fmt: skip
    api = f"http://127.0.0.1:{prom_port}/api/v1"

    def value(query: str) -> float | None:
        doc = get_json(f"{api}/query?query={urllib.parse.quote(query)}")
        result: list[Any] = doc["data"]["result"] if doc.get("status") == "success" else []
        return float(result[0]["value"][1]) if result else None

    with running_simulator("demo", time_scale=200.0) as sim:
        service = {
            "daemon": True,
            "schedule": {"interval": 1, "format": "minutes"},
            "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        }
        cfg = tmp_path / "proxlb.yaml"

        def write(enable: bool) -> None:
            doc = proxlb_config_for(
                sim, tmp_path / "state", service=service, balancing={"enable": enable, "max_migrations": 1}
            )
            cfg.write_text(yaml.safe_dump(doc))
            cfg.chmod(0o600)

        write(enable=False)  # the first cycle migrates nothing: Prometheus sees the counters at 0 first
        proxlb_cmd = [sys.executable, "-m", "proxlb", "-c", str(cfg)]
        with (
            process(prom_cmd, tmp_path / "prometheus.log"),
            process(proxlb_cmd, tmp_path / "proxlb.log") as daemon,
        ):
            wait_for(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2),
                "/metrics",
            )
            for series in (
                'proxlb_migrations_applied_total{reason="balance"}',
                'proxlb_config_reloads_total{result="ok"}',
            ):
                wait_for(lambda s=series: value(s) == 0.0, f"Prometheus to store {series} at 0")
            write(enable=True)
            daemon.send_signal(signal.SIGHUP)  # reloaded now; the next cycle (≤ 60 s) applies one move
            reloads = 'increase(proxlb_config_reloads_total{result="ok"}[2m])'
            seen = wait_for(lambda: (value(reloads) or 0) > 0, reloads, seconds=30)
            print(f"measured: {reloads} = {value(reloads)}")
            assert seen
            applied = "sum(increase(proxlb_migrations_applied_total[3m]))"
            assert wait_for(lambda: (value(applied) or 0) > 0, applied, seconds=120)
            assert sim.admin.writes()
            print(f"measured: {reloads} = {value(reloads)}; {applied} = {value(applied)}")
