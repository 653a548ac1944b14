"""The HTML report's failover panel: survivor memory per failure, now and after the plan. Pure.

One row per failure (each node, then each failure domain): HA guests PVE would restart, those
without room, the survivor with the most memory in use and its %, the smallest free memory left —
before and after the plan. Every text is HTML-escaped by the caller's `_e`-style escaping here.
"""

from __future__ import annotations

from html import escape

from proxlb.domain import GIB
from proxlb.planning.failover import FailoverReport, FailureOutcome


def _cell(f: FailureOutcome | None) -> tuple[str, str, str]:
    if f is None:
        return "-", "-", "-"
    peak = f.peak
    peak_text = f"{escape(peak.node)} {peak.percent:.1f} %" if peak else "-"
    css = "good" if f.fits else "bad"
    no_room = ", ".join(str(v) for v in f.not_fitting) or "none"
    return f'<span class="{css}">{escape(no_room)}</span>', peak_text, f"{f.headroom_bytes / GIB:.1f} GiB"


def failover_panel(now: FailoverReport, after: FailoverReport, mode: str) -> str:
    """The `<table id="failover">` with a one-line verdict above it."""
    head = [
        "failure",
        "HA guests restarted",
        "no room now",
        "peak survivor now",
        "headroom now",
        "no room after",
        "peak survivor after",
        "headroom after",
    ]
    rows = []
    for f in now.failures:
        n_room, n_peak, n_head = _cell(f)
        a_room, a_peak, a_head = _cell(after.failure(f.name))
        rows.append(
            f"<tr><td>{escape(f.name)}</td><td class=num>{len(f.restarts)}</td><td>{n_room}</td>"
            f"<td class=num>{n_peak}</td><td class=num>{n_head}</td><td>{a_room}</td>"
            f"<td class=num>{a_peak}</td><td class=num>{a_head}</td></tr>"
        )
    verdict = (
        '<span class="good">every single failure fits after the plan</span>'
        if after.all_fit
        else '<span class="bad">some failure does not fit after the plan</span>'
    )
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (
        f"<p>Mode {escape(mode)}, PVE HA scheduler {escape(now.scheduler)}: {verdict}</p>"
        f'<table id="failover"><thead><tr>{cells}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
