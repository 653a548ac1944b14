"""How many times a dry run plans (#16: "one planning round per dry run in the usual case").

The pipeline plans, reads the configurations of the guests the plan moves, and plans again only
when a configuration shows a mover cannot move or copies local disks. On shared storage (the common
PVE setup) nothing there changes the plan: one planning round. With local disks on the movers the
re-plans are what keeps their copies out of the plan.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

from proxlb.service import pipeline
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.inprocess import InProcessApi
from tests.service.simhelp import SimClock, client_for, config, generated


def _dry_run(shared_only: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[int, Any, InProcessApi]:
    plans = 0
    plan_cycle = pipeline.plan_cycle

    def counted(*args: Any) -> Any:
        nonlocal plans
        plans += 1
        return plan_cycle(*args)

    monkeypatch.setattr(pipeline, "plan_cycle", counted)
    cluster, api = generated(shared_only=shared_only)
    deps = PipelineDeps(
        config=config(),
        client=client_for(api),
        state=StateStore.in_memory(),
        clock=SimClock(cluster),
        stop_event=threading.Event(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0),
    )
    report = run_once(deps, apply=False)
    return plans, report, api


def _config_reads(api: InProcessApi) -> list[str]:
    return [c[1] for c in api.calls if c[0] == "GET" and c[1].endswith("/config")]


def test_a_shared_storage_cluster_plans_once_per_dry_run(monkeypatch: pytest.MonkeyPatch) -> None:
    plans, report, api = _dry_run(True, monkeypatch)
    assert report.plan is not None and report.plan.migrations
    assert plans == 1
    reads = _config_reads(api)  # each mover's configuration is read once, nothing else
    assert len(reads) == len(set(reads)) == len(report.plan.migrations)


def test_movers_with_local_disks_make_the_dry_run_plan_again(monkeypatch: pytest.MonkeyPatch) -> None:
    plans, report, _ = _dry_run(False, monkeypatch)
    assert report.plan is not None
    assert plans > 1
