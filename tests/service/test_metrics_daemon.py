"""The daemon serves /metrics while it cycles on the simulator; every scrape matches that cycle's plan.

Also: the last cycle's HTML report is kept beside the state database.
"""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from proxlb.execute.model import Outcome
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import RunReport, run_once
from proxlb.service.state import StateStore
from tests.service.simhelp import SimClock, client_for, sim
from tests.service.test_daemon import write_config

CYCLES = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def test_metrics_during_daemon_cycles_match_the_plans(tmp_path: Path) -> None:
    cluster, api = sim("noisy.yaml")
    signals = DaemonSignals()
    clock = SimClock(cluster)
    port = free_port()
    scrapes: list[tuple[RunReport, dict[Any, float]]] = []

    def on_report(report: RunReport) -> None:
        scrapes.append((report, scrape(port)))  # the daemon is running: the endpoint answers now
        if len(scrapes) >= CYCLES:
            signals.request_stop()

    daemon = Daemon(
        write_config(
            tmp_path / "p.yaml",
            balancing={"method": "memory", "balanciness": 5, "parallel": True},
            service={
                "schedule": {"interval": 15, "format": "minutes"},
                "metrics": {"listen": f"127.0.0.1:{port}"},
            },
        ),
        signals=signals,
        clock=clock,
        connect=lambda config, stop: client_for(api),
        open_state=lambda config, one_shot: StateStore.open(tmp_path / "state"),
        run_cycle=run_once,
        on_report=on_report,
        configure_log=False,
    )
    assert daemon.run() == 0 and len(scrapes) == CYCLES
    planned = applied = 0
    requests = 0.0
    for i, (report, samples) in enumerate(scrapes, start=1):
        plan = report.plan
        assert plan is not None
        planned += len(plan.migrations)
        outcomes = report.execution.outcomes if report.execution else ()
        applied += sum(1 for o in outcomes if o.outcome is Outcome.DONE)
        assert total(samples, "proxlb_plan_migrations") == len(plan.migrations)
        assert total(samples, "proxlb_migrations_planned_total") == planned
        assert total(samples, "proxlb_migrations_applied_total") == applied
        assert samples[("proxlb_spread_pp", ())] == plan.imbalance_before
        assert samples[("proxlb_spread_planned_pp", ())] == plan.imbalance_after
        assert samples[("proxlb_cycles_total", (("result", "ok"),))] == i
        assert samples[("proxlb_cycle_duration_seconds_count", ())] == i
        assert samples[("proxlb_last_successful_cycle_timestamp_seconds", ())] == report.finished_at
        assert samples[("proxlb_leader", ())] == 1
        for node, row in plan.metrics_before.items():
            key = ("proxlb_node_load_percent", (("mode", "used"), ("node", node), ("resource", "memory")))
            assert samples[key] == row["memory"]
        now_requests = total(samples, "proxlb_api_requests_total")
        assert now_requests > requests  # every cycle reads the cluster through the client
        requests = now_requests
    assert scrapes[0][0].plan is not None and scrapes[0][0].plan.migrations, (
        "the noisy cluster needs balancing"
    )
    pages = list((tmp_path / "state").glob("last-report*.html"))
    identity = scrapes[-1][0].snapshot.identity  # type: ignore[union-attr]
    assert [p.name for p in pages] == [f"last-report-{identity.replace(':', '-')}.html"]
    info = ("proxlb_cluster_info", (("cluster", identity.split(":", 1)[1]), ("identity", identity)))
    assert samples[info] == 1
    page = pages[0].read_text()
    last = scrapes[-1][0]
    assert 'id="nodes"' in page and f"{last.plan.imbalance_before:.2f}" in page  # type: ignore[union-attr]
    # the endpoint is closed with the daemon
    try:
        scrape(port)
    except OSError:
        pass
    else:
        raise AssertionError("/metrics still answers after the daemon stopped")
