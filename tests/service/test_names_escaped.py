"""Issue #19 item 8: a guest name with a newline and ESC codes is printed escaped.

PVE stores whatever name it was given; one holding "\\n" forged a log line, one holding ESC sent
raw terminal codes. The name now reaches the log and the plan table as visible escapes on one line.
"""

from __future__ import annotations

import io
import logging
import threading
from datetime import datetime

from rich.console import Console

from proxlb.report.text import plan_table
from proxlb.service.logging_setup import configure_logging
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from tests.service.simhelp import SimClock, client_for, config, sim

EVIL = "web\n2026-12-06 08:00:00 INFO proxlb: all fine\x1b[2J\x1b]0;owned\x07"


def test_a_hostile_guest_name_is_escaped_in_logs_and_tables() -> None:
    cluster, api = sim("evacuate.yaml")
    vmid = next(iter(sorted(cluster.guests)))
    cluster.guests[vmid].name = EVIL
    stream = io.StringIO()
    handler = configure_logging("INFO", "plain", (), env={}, stream=stream)
    try:
        deps = PipelineDeps(
            config=config(proxmox_cluster={"maintenance_nodes": ["pve4"]}),
            client=client_for(api),
            state=StateStore.in_memory(),
            clock=SimClock(cluster),
            stop_event=threading.Event(),
            local_now=lambda: datetime(2026, 11, 18, 12, 0),
            dry_run=True,
        )
        report = run_once(deps, apply=False)
    finally:
        logging.getLogger().removeHandler(handler)
    log_text = stream.getvalue()
    assert report.plan is not None and any(m.vmid == vmid for m in report.plan.migrations)
    assert "\x1b" not in log_text and "\x07" not in log_text
    forged = "2026-12-06 08:00:00 INFO proxlb: all fine"
    assert not any(line.startswith(forged) for line in log_text.splitlines())
    assert r"web\n2026-12-06 08:00:00 INFO proxlb: all fine\x1b[2J" in log_text
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(plan_table(report.plan))
    table = out.getvalue()
    assert "\x1b" not in table and "\x07" not in table and r"web\n2026" in table
