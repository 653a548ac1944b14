"""`proxlb failover`: the per-failure table (now and after the plan), as text or a JSON document.

Pure rendering of two `FailoverReport`s (planning/failover.py); no I/O.
Invariants: one row per failure, in the order the prediction lists them (nodes, then domains).
"""

from __future__ import annotations

from typing import Any

from proxlb.domain import GIB
from proxlb.planning.failover import FailoverReport, FailureOutcome


def _row(f: FailureOutcome) -> dict[str, Any]:
    peak = f.peak
    return {
        "failure": f.name,
        "nodes": list(f.failed),
        "restarted": len(f.restarts),
        "not_fitting": [int(v) for v in f.not_fitting],
        "stay_down": len(f.stay_down),
        "peak_node": peak.node if peak else None,
        "peak_memory_percent": round(peak.percent, 1) if peak else None,
        "short_gib": round(f.overflow_bytes / GIB, 2),
        "headroom_gib": round(f.headroom_bytes / GIB, 2),
        "fits": f.fits,
        "restarts": [{"vmid": int(r.vmid), "target": r.target, "fits": r.fits} for r in f.restarts],
    }


def failover_document(now: FailoverReport, after: FailoverReport, mode: str, crs: str) -> dict[str, Any]:
    return {
        "mode": mode,
        "crs": crs,
        "scheduler": now.scheduler,
        "now": {"all_fit": now.all_fit, "failures": [_row(f) for f in now.failures]},
        "after_plan": {"all_fit": after.all_fit, "failures": [_row(f) for f in after.failures]},
    }


def _table(report: FailoverReport) -> list[str]:
    lines = [
        f"  {'failure':<16} {'restarted':>9} {'no room':>8} {'down':>5} "
        f"{'peak survivor':>22} {'headroom':>10}"
    ]
    for f in report.failures:
        peak = f.peak
        peak_text = f"{peak.node} {peak.percent:.1f} %" if peak else "-"
        lines.append(
            f"  {f.name:<16} {len(f.restarts):>9} {len(f.not_fitting):>8} {len(f.stay_down):>5} "
            f"{peak_text:>22} {f.headroom_bytes / GIB:>7.1f} GiB"
        )
        if f.not_fitting:
            lines.append(f"    no room for guests {', '.join(str(v) for v in f.not_fitting)}")
    lines.append("  every single failure fits" if report.all_fit else "  NOT every failure fits")
    return lines


def failover_text(now: FailoverReport, after: FailoverReport, mode: str, crs: str, moves: int) -> str:
    head = f"Failover headroom ({crs}; PVE HA recovery with the '{now.scheduler}' scheduler; mode {mode})"
    return "\n".join([head, "Now:", *_table(now), f"After the plan ({moves} migration(s)):", *_table(after)])
