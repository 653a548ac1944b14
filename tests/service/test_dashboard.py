"""packaging/grafana-dashboard.json is built on the metrics ProxLB exports, and on all of them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from proxlb.service.metrics import CycleMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "packaging" / "grafana-dashboard.json"


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def concrete(expr: str) -> str:
    """A dashboard query with Grafana's variables filled in, ready for Prometheus."""
    for var, value in (
        ("$instance", ".*"),
        ("$resource", "memory"),
        ("$__rate_interval", "1m"),
        ("$__range", "5m"),
    ):
        expr = expr.replace(var, value)
    return expr


def exported_families() -> set[str]:
    names = set()
    for family in CycleMetrics().registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def test_every_query_uses_exported_metrics_and_every_metric_is_shown() -> None:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    used = {m for q in dashboard_queries() for m in re.findall(r"proxlb_[a-z_]+", q)}
    used = {re.sub(r"_(bucket|count|sum)$", "", m) for m in used}
    exported = exported_families()
    assert used <= exported, used - exported
    assert exported <= used, f"not on the dashboard: {exported - used}"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in doc["panels"]:
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
    assert all("$" not in concrete(q) for q in dashboard_queries())
