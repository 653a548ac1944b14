"""One cycle as a self-contained HTML page: nodes, charts, gain curve, plan, unmet rules, outcome. Pure.

The page has no script and loads nothing: CSS is inline, the charts are inline SVG (html_charts),
so it opens offline and can be mailed or archived. `proxlb.cli` and the daemon write it to disk.
Every text from the cluster (guest names, tags, reasons) is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from proxlb.domain import ClusterSnapshot, ConstraintSet, Plan, Resources
from proxlb.execute.model import ExecutionReport
from proxlb.planning.curve import CurvePoint, knee
from proxlb.planning.failover import FailoverReport
from proxlb.planning.policy import RESOURCES
from proxlb.report.html_charts import gain_curve_chart, node_bars
from proxlb.report.html_failover import failover_panel
from proxlb.report.sentences import stays_groups
from proxlb.report.state import node_accounts, percent

_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:14px;margin:16px 0 6px}
.meta{color:#666;font-size:13px} .card{background:#fff;border:1px solid #e3e3e3;border-radius:6px;
padding:12px 16px;margin:8px 0} table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6} td.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.charts svg{background:#fff;border:1px solid #e3e3e3}
.bad{color:#b00020} .good{color:#1b7f3b} .warn{color:#9a6700} .small{font-size:12px;color:#555}
"""


@dataclass(frozen=True)
class ReportInput:
    """What the page shows. `curve` comes from planning.curve.gain_curve on the same plan."""

    snapshot: ClusterSnapshot
    constraints: ConstraintSet
    plan: Plan
    curve: tuple[CurvePoint, ...]
    mode: str
    thresholds: Mapping[str, float | None] = field(default_factory=dict)
    reserve: Mapping[str, Resources] = field(default_factory=dict)
    execution: ExecutionReport | None = None
    applied: bool = False
    generated_at: float = 0.0
    max_migrations: int | None = None
    warnings: tuple[str, ...] = ()
    failover: tuple[FailoverReport, FailoverReport] | None = None  # now, after (failover_headroom)
    failover_mode: str = "off"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], table_id: str, num: set[int]) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in num else ''}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f'<table id="{table_id}"><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>'


def node_load(data: ReportInput) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Per node and resource, load % before and after: the planner's measure (its mode) for balanced
    nodes; measured usage of usable capacity for the others (drained, offline)."""
    acc_b = node_accounts(data.snapshot, None, data.reserve)
    acc_a = node_accounts(data.snapshot, data.plan, data.reserve)
    before: dict[str, dict[str, float]] = {}
    after: dict[str, dict[str, float]] = {}
    for node in data.snapshot.node_names:
        for out, planned, acc in (
            (before, data.plan.metrics_before, acc_b),
            (after, data.plan.metrics_after, acc_a),
        ):
            if node in planned:
                out[node] = {r: float(planned[node].get(r, 0.0)) for r in RESOURCES}
            else:
                a = acc[node]
                out[node] = {
                    "memory": percent(a.used.mem_bytes, a.capacity.mem_bytes),
                    "cpu": percent(a.used.cpu_milli, a.capacity.cpu_milli),
                    "disk": percent(a.used.disk_bytes, a.capacity.disk_bytes),
                }
    return before, after


def _nodes_section(
    data: ReportInput, before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> str:
    accounts = node_accounts(data.snapshot, None, data.reserve)
    after_acc = node_accounts(data.snapshot, data.plan, data.reserve)
    drained = data.constraints.drained_nodes()
    rows = []
    for n in data.snapshot.nodes:
        state = "online" if n.online else "offline"
        if n.name in drained:
            state += ", maintenance"
        cap = accounts[n.name].capacity
        cells = [_e(n.name), _e(state), f"{accounts[n.name].guests} → {after_acc[n.name].guests}"]
        for r in RESOURCES:
            b, a = before[n.name][r], after[n.name][r]
            cls = "good" if a < b - 0.05 else "warn" if a > b + 0.05 else ""
            cells.append(f'{b:.1f} → <span class="{cls}">{a:.1f}</span>')
        cells += [
            f"{cap.mem_bytes / 2**30:.1f} GiB",
            f"{cap.cpu_milli / 1000:.0f}",
            f"{cap.disk_bytes / 2**30:.0f} GiB",
        ]
        rows.append(cells)
    head = [
        "node",
        "state",
        "guests",
        "memory %",
        "cpu %",
        "local disk %",
        "memory usable",
        "cores",
        "disk usable",
    ]
    return _table(head, rows, "nodes", {2, 3, 4, 5, 6, 7, 8})


def _curve_section(data: ReportInput) -> str:
    points = data.curve
    if len(points) < 2:
        return '<p id="curve-none">No migration planned: the curve is a single point.</p>' + gain_curve_chart(
            points
        )
    best = knee(points)
    rows = [
        [str(p.k), _e(p.vmid or "—"), _e(p.reason or "start"),
         f"{p.spread:.2f}", f"{p.objective:.1f}", f"{p.gib_copied:.1f}"]
        for p in points
    ]  # fmt: skip
    budget = (
        f" <code>max_migrations</code> is {data.max_migrations}." if data.max_migrations is not None else ""
    )
    return (
        f"<p>{best} of {len(points) - 1} moves reach 90 % of the plan's spread reduction "
        f"({points[0].spread:.1f} → {points[-1].spread:.1f} pp).{budget}</p>"
        f'<div class="charts"><div id="gain-curve">{gain_curve_chart(points, best)}</div>'
        + _table(["k", "vmid", "reason", "spread pp", "objective", "GiB copied"], rows, "curve", {0, 3, 4, 5})
        + "</div>"
    )


def _plan_section(plan: Plan) -> str:
    if not plan.migrations:
        return '<p id="plan-empty">No migration planned.</p>'
    rows = [
        [str(m.step + 1), _e(m.vmid), _e(m.name), _e(m.kind.value), f"{_e(m.source)} → {_e(m.target)}",
         _e(m.reason.value), f"{m.bytes_to_copy / 2**30:.1f}", _e(", ".join(map(str, m.depends_on))),
         _e(m.detail)]
        for m in plan.migrations
    ]  # fmt: skip
    head = ["step", "vmid", "name", "type", "from → to", "reason", "GiB", "waits for", "why"]
    return _table(head, rows, "plan", {0, 1, 6})


def _why_section(plan: Plan, warnings: Sequence[str]) -> str:
    parts = []
    if plan.stopped_by:
        rows = [(_e(c.rule), str(c.guests), _e(c.detail)) for c in plan.stopped_by]
        parts.append(
            '<div id="stopped-by" class="warn">'
            "<p><b>Balancing stopped above balanciness</b>, held back by:</p>"
            + _table(["rule or cap", "guests blocked", "example"], rows, "stopped-by-table", {1})
            + "</div>"
        )
    if plan.unmet:
        items = "".join(f"<li><b>{_e(u.rule)}</b>: {_e(u.why)}</li>" for u in plan.unmet)
        parts.append(f'<ul id="unmet" class="bad">{items}</ul>')
    else:
        parts.append('<p id="unmet-none" class="good">Every rule is met.</p>')
    parts.append(_stays_table(plan))
    if warnings:
        parts.append('<ul class="warn">' + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>")
    return "".join(parts)


STAYS_SHOWN = 8


def _stays_table(plan: Plan) -> str:
    """Why the guests that do not move stay, grouped by the planner's sentence, most common first."""
    ranked = stays_groups(plan)
    if not ranked:
        return ""
    rows = [
        [str(len(vmids)), _e(", ".join(map(str, vmids[:6])) + (" …" if len(vmids) > 6 else "")), _e(why)]
        for why, vmids in ranked[:STAYS_SHOWN]
    ]
    rest = sum(len(v) for _, v in ranked[STAYS_SHOWN:])
    more = f'<p class="small">… and {rest} more guests with other reasons.</p>' if rest else ""
    hint = '<p class="small">Per guest: <code>proxlb explain VMID</code>.</p>'
    return (
        "<h3>Why the other guests stay</h3>"
        + _table(["guests", "vmids", "why"], rows, "stays", {0})
        + more
        + hint
    )


def _outcome_section(data: ReportInput) -> str:
    ex = data.execution
    if ex is None:
        text = "Nothing to migrate." if data.applied else "Dry run: nothing was migrated."
        return f'<p id="outcome-none">{text}</p>'
    totals = ", ".join(f"{k} {v}" for k, v in ex.totals.items() if v)
    rows = [
        [_e(o.vmid), _e(o.name), f"{_e(o.source)} → {_e(o.target)}", _e(o.reason),
         f'<span class="{"good" if o.outcome.value == "done" else "bad"}">{_e(o.outcome.value)}</span>',
         f"{o.seconds:.0f}", _e(o.exitstatus or o.detail)]
        for o in ex.outcomes
    ]  # fmt: skip
    head = ["vmid", "name", "from → to", "reason", "outcome", "seconds", "note"]
    title = "Dry run" if ex.dry_run else "Applied"
    return f"<p>{title}: {_e(totals or 'nothing')} in {ex.seconds:.0f} s.</p>" + _table(
        head, rows, "outcome", {0, 5}
    )


def render_html(data: ReportInput) -> str:
    """The whole page as one string."""
    plan, snap = data.plan, data.snapshot
    before, after = node_load(data)
    names = list(snap.node_names)
    charts = "".join(
        node_bars(r if r != "disk" else "local disk", names, {n: before[n][r] for n in names},
                  {n: after[n][r] for n in names}, data.thresholds.get(r))
        for r in RESOURCES
    )  # fmt: skip
    when = datetime.fromtimestamp(data.generated_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    trigger = plan.trigger_reason or ("triggered" if plan.triggered else "no rebalancing needed")
    cluster = snap.cluster_name or "Proxmox VE cluster"
    headline = "Rebalancing triggered" if plan.triggered else "No rebalancing needed"
    summary = (
        f"<p><b>{headline}</b>: {_e(trigger)}<br>"
        f"Spread {plan.imbalance_before:.2f} → {plan.imbalance_after:.2f} pp · "
        f"{len(plan.migrations)} migration(s), {plan.bytes_to_copy / 2**30:.1f} GiB to copy · "
        f"planner {_e(plan.planner)} · mode {_e(data.mode)}</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>ProxLB report: {_e(cluster)}</title><style>{_CSS}</style></head><body>"
        f"<h1>ProxLB plan report: {_e(cluster)}</h1>"
        f'<div class="meta">{_e(when)} · {len(names)} nodes · {len(snap.guests)} guests</div>'
        f'<div class="card" id="summary">{summary}</div>'
        f"<h2>Nodes before → after</h2>{_nodes_section(data, before, after)}"
        f'<div class="charts" id="node-charts">{charts}</div>'
        f"<h2>Gain curve</h2>{_curve_section(data)}"
        f"<h2>Plan</h2>{_plan_section(plan)}"
        + (
            f"<h2>Failover headroom</h2>{failover_panel(*data.failover, data.failover_mode)}"
            if data.failover is not None
            else ""
        )
        + f"<h2>Rules and limits</h2>{_why_section(plan, data.warnings)}"
        f"<h2>Outcome</h2>{_outcome_section(data)}"
        '<p class="small">Generated by ProxLB. Load % is of each node\'s usable capacity '
        "(capacity − reserve); spread is the largest per-resource gap between the most and the least "
        "loaded balanced node.</p>"
        "</body></html>\n"
    )
