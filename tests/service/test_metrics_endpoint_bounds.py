"""Issue #19 item 8: the metrics endpoint — a busy port, and idle connections.

A busy `service.metrics.listen` port ended the daemon with exit 2 although it may free up (a
restart would have helped); now the daemon cycles on and binds the port once it is free. The
endpoint kept one thread per idle connection (300 idle connections → 302 threads); now at most
`MAX_CONNECTIONS` are served at once. Checked by scraping, and by the process's thread count.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.request
from pathlib import Path

from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.metrics import CycleMetrics
from proxlb.service.metrics_server import MAX_CONNECTIONS
from proxlb.service.pipeline import RunReport, run_once
from proxlb.service.state import StateStore
from tests.service.simhelp import SimClock, client_for, sim
from tests.service.test_daemon import write_config
from tests.service.test_metrics_daemon import free_port


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def test_a_busy_metrics_port_does_not_end_the_daemon(tmp_path: Path) -> None:
    cluster, api = sim("noisy.yaml")
    signals = DaemonSignals()
    port = free_port()
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)
    scraped: list[str] = []

    def on_report(report: RunReport) -> None:
        if squatter.fileno() != -1:
            squatter.close()  # the other program lets the port go
        else:
            scraped.append(_scrape(port))
            signals.request_stop()

    daemon = Daemon(
        write_config(
            tmp_path / "p.yaml",
            service={
                "schedule": {"interval": 15, "format": "minutes"},
                "metrics": {"listen": f"127.0.0.1:{port}"},
            },
        ),
        signals=signals,
        clock=SimClock(cluster),
        connect=lambda config, stop: client_for(api),
        open_state=lambda config, one_shot: StateStore.in_memory(),
        run_cycle=run_once,
        on_report=on_report,
        configure_log=False,
    )
    assert daemon.run() == ExitCode.OK
    assert scraped and "proxlb_cycles_total" in scraped[0]


def test_idle_connections_do_not_hold_a_thread_each() -> None:
    metrics = CycleMetrics()
    port = metrics.serve("127.0.0.1", 0)
    idle: list[socket.socket] = []
    try:
        before = threading.active_count()
        for _ in range(40):
            conn = socket.create_connection(("127.0.0.1", port))
            idle.append(conn)
        for conn in idle:  # each accepted (or refused) by now: a request on it is answered or closed
            conn.settimeout(0.1)
            with contextlib.suppress(TimeoutError):
                conn.recv(1)
        assert threading.active_count() - before <= MAX_CONNECTIONS, threading.active_count() - before
    finally:
        for conn in idle:
            conn.close()
    assert "proxlb_cycles_total" in _scrape(port)  # slots freed as the idle clients left
    metrics.close()
