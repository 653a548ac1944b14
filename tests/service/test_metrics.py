"""CycleMetrics: values from a cycle's report, the textfile format, the HTTP endpoint, API counts."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from proxlb.config.model import ProxlbConfig
from proxlb.errors import ApiError, ConfigError
from proxlb.execute.model import ExecutionReport, MigrationOutcome, Outcome
from proxlb.planning import plan_cycle
from proxlb.service.metrics import CycleMetrics
from proxlb.service.pipeline import RunReport
from tests.planning.builders import cluster, guest, node, problem

CONFIG = ProxlbConfig.model_validate({"proxmox_api": {"hosts": ["127.0.0.1"], "user": "u@pve", "pass": "x"}})


def _report(executed: bool = False) -> RunReport:
    pb = problem(cluster([node("pve1"), node("pve2")], [guest(100 + i, on="pve1") for i in range(6)]))
    plan = plan_cycle(pb)
    execution = None
    if executed:
        first, *rest = plan.migrations
        outcomes = [
            MigrationOutcome(
                first.vmid, first.name, first.kind, first.source, first.target, "balance", Outcome.DONE
            )
        ]
        outcomes += [
            MigrationOutcome(m.vmid, m.name, m.kind, m.source, m.target, "balance", Outcome.FAILED)
            for m in rest
        ]
        execution = ExecutionReport(outcomes=tuple(outcomes), started_at=10.0, finished_at=20.0)
    return RunReport(
        100.0, 112.5, pb.snapshot, pb.constraints, frozenset(), plan, execution, applied=executed
    )


def value(m: CycleMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_cycle_values_follow_the_plan() -> None:
    m = CycleMetrics()
    report = _report()
    assert report.plan is not None and len(report.plan.migrations) >= 2
    m.cycle_done(CONFIG, report)
    m.cycle_done(CONFIG, report)
    n = len(report.plan.migrations)
    assert value(m, "proxlb_plan_migrations", reason="balance") == n
    assert value(m, "proxlb_migrations_planned_total", reason="balance") == 2 * n
    assert value(m, "proxlb_spread_pp") == report.plan.imbalance_before
    assert value(m, "proxlb_spread_planned_pp") == report.plan.imbalance_after
    for node_name, row in report.plan.metrics_before.items():
        assert (
            value(m, "proxlb_node_load_percent", node=node_name, resource="memory", mode="used")
            == row["memory"]
        )
    assert value(m, "proxlb_cycle_duration_seconds_count") == 2
    assert value(m, "proxlb_cycle_duration_seconds_sum") == 25.0
    assert value(m, "proxlb_last_successful_cycle_timestamp_seconds") == 112.5
    assert value(m, "proxlb_leader") == 1
    assert value(m, "proxlb_plan_copy_bytes") == report.plan.bytes_to_copy


def test_outcomes_count_by_kind_and_copied_bytes() -> None:
    m = CycleMetrics()
    report = _report(executed=True)
    assert report.plan is not None
    m.cycle_done(CONFIG, report)
    n = len(report.plan.migrations)
    assert value(m, "proxlb_migrations_applied_total", reason="balance") == 1
    assert value(m, "proxlb_migrations_failed_total", reason="balance") == n - 1
    assert value(m, "proxlb_copied_bytes_total") == report.plan.migrations[0].bytes_to_copy
    assert value(m, "proxlb_cycles_total", result="failed") == 1  # a failed migration fails the cycle
    assert value(m, "proxlb_last_successful_cycle_timestamp_seconds") in (None, 0.0)


def test_standby_failure_reload_and_api_counts() -> None:
    m = CycleMetrics()
    m.cycle_done(CONFIG, RunReport(0.0, 1.0, None, None, frozenset(), None, standby="not the HA master"))
    assert value(m, "proxlb_leader") == 0 and value(m, "proxlb_cycles_total", result="standby") == 1
    m.cycle_failed(3.0)
    assert value(m, "proxlb_cycles_total", result="failed") == 1
    m.reloaded(ok=True)
    m.reloaded(ok=False)
    assert value(m, "proxlb_config_reloads_total", result="ok") == 1
    assert value(m, "proxlb_config_reloads_total", result="rejected") == 1

    class Client:
        observer = None

    client = Client()
    m.before_cycle(client)
    assert client.observer is not None
    client.observer("GET", 200)
    client.observer("GET", 500)
    client.observer("POST", 0)
    assert value(m, "proxlb_api_requests_total", method="GET", status="200") == 1
    assert value(m, "proxlb_api_errors_total", status="500") == 1
    assert value(m, "proxlb_api_errors_total", status="0") == 1
    assert value(m, "proxlb_api_errors_total", status="200") is None


def test_proxmox_client_reports_each_request() -> None:
    from proxlb.api.client import ProxmoxClient
    from proxlb.api.settings import settings_from_config

    class Transport:
        def __init__(self, *_: object) -> None:
            pass

        def request(self, method: str, path: str, params: object) -> object:
            if path == "/bad":
                raise ApiError("no", 403, path)
            return {"ok": 1}

    seen: list[tuple[str, int]] = []
    client = ProxmoxClient(settings_from_config(CONFIG.proxmox_api), transport_factory=Transport)
    client.observer = lambda method, status: seen.append((method, status))
    client.get("/version")
    with pytest.raises(ApiError):
        client.get("/bad")
    assert seen == [("GET", 200), ("GET", 403)]


def test_textfile_and_http_endpoint(tmp_path: Path) -> None:
    m = CycleMetrics()
    m.cycle_done(CONFIG, _report())
    out = tmp_path / "proxlb.prom"
    m.write_textfile(out)
    text = out.read_text()
    assert "# TYPE proxlb_migrations_planned_total counter" in text
    assert 'proxlb_plan_migrations{reason="balance"}' in text
    port = m.serve("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert "proxlb_spread_pp" in body and "proxlb_cycle_duration_seconds_bucket" in body
    finally:
        m.close()


def test_listen_setting_is_checked_and_a_busy_port_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="host:port"):
        ProxlbConfig.model_validate(
            {
                "proxmox_api": {"hosts": ["h"], "user": "u@pve", "pass": "x"},
                "service": {"metrics": {"listen": "9810"}},
            }
        )
    cfg = ProxlbConfig.model_validate(
        {
            "proxmox_api": {"hosts": ["h"], "user": "u@pve", "pass": "x"},
            "service": {"metrics": {"listen": "[::1]:9810"}},
        }
    )
    assert cfg.service.metrics.address() == ("::1", 9810)
    assert CONFIG.service.metrics.address() is None  # off by default
    first = CycleMetrics()
    port = first.serve("127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            CycleMetrics().serve("127.0.0.1", port)
    finally:
        first.close()


def test_only_a_daemon_binds_the_listen_address() -> None:
    raw = {
        "proxmox_api": {"hosts": ["h"], "user": "u@pve", "pass": "x"},
        "service": {"daemon": False, "metrics": {"listen": "127.0.0.1:1"}},  # port 1: binding would fail
    }
    one_shot = CycleMetrics.from_config(ProxlbConfig.model_validate(raw))
    assert one_shot._server is None
    raw["service"] = {"daemon": True, "metrics": {"listen": "127.0.0.1:0"}}
    with pytest.raises(ValueError, match="host:port"):
        ProxlbConfig.model_validate(raw)
