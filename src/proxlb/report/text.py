"""Terminal view of one cycle with rich: nodes before → after, the ordered plan, unmet rules. Pure.

Functions return rich renderables; `proxlb.cli` decides where to print them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from proxlb.domain import GIB, ClusterSnapshot, ConstraintSet, Plan, Resources
from proxlb.report.escape import printable
from proxlb.report.sentences import stop_summary
from proxlb.report.state import node_accounts, percent


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """One executed (or skipped) migration, as the executor reports it."""

    vmid: int
    name: str
    source: str
    target: str
    outcome: str
    seconds: float
    note: str


def gib(n_bytes: int) -> str:
    return f"{n_bytes / GIB:.1f} GiB"


def _pct_change(before: float, after: float) -> Text:
    if abs(after - before) < 0.05:
        return Text(f"{before:5.1f}%")
    style = "green" if after < before else "yellow"
    return Text.assemble(f"{before:5.1f}% → ", (f"{after:5.1f}%", style))


def _count_change(before: float, after: float, capacity: float) -> Text:
    """'12/16' or '12 → 8/16' (vCPUs assigned of cores), styled like the percentage columns."""
    if round(before) == round(after):
        return Text(f"{before:.0f}/{capacity:.0f}")
    style = "green" if after < before else "yellow"
    return Text.assemble(f"{before:.0f} → ", (f"{after:.0f}", style), f"/{capacity:.0f}")


def nodes_table(
    snapshot: ClusterSnapshot,
    constraints: ConstraintSet,
    plan: Plan | None,
    reserve: Mapping[str, Resources] | None = None,
) -> Table:
    before = node_accounts(snapshot, None, reserve)
    after = node_accounts(snapshot, plan, reserve)
    drained = constraints.drained_nodes()
    table = Table(title="Nodes (before → after the plan)", title_justify="left")
    # vCPU assigned: vCPUs of the guests on the node / its cores, before → after like the others
    for col in ("node", "state", "guests", "memory used", "cpu used", "memory assigned", "vCPU assigned"):
        table.add_column(col, justify="left" if col in ("node", "state") else "right")
    for n in snapshot.nodes:
        b, a = before[n.name], after[n.name]
        state = "online" if n.online else "offline"
        if n.name in drained:
            state += ", maintenance"
        version = ".".join(map(str, n.pve_version[:2])) if n.pve_version else "?"
        table.add_row(
            n.name,
            f"{state} (PVE {version})",
            f"{b.guests} → {a.guests}" if a.guests != b.guests else str(b.guests),
            _pct_change(
                percent(b.used.mem_bytes, b.capacity.mem_bytes),
                percent(a.used.mem_bytes, a.capacity.mem_bytes),
            ),
            _pct_change(
                percent(b.used.cpu_milli, b.capacity.cpu_milli),
                percent(a.used.cpu_milli, a.capacity.cpu_milli),
            ),
            _pct_change(
                percent(b.assigned.mem_bytes, b.capacity.mem_bytes),
                percent(a.assigned.mem_bytes, a.capacity.mem_bytes),
            ),
            _count_change(
                b.assigned.cpu_milli / 1000, a.assigned.cpu_milli / 1000, b.capacity.cpu_milli / 1000
            ),
        )
    return table


def plan_table(plan: Plan) -> Table:
    table = Table(
        title=f"Plan: {len(plan.migrations)} migration(s), {gib(plan.bytes_to_copy)} to copy",
        title_justify="left",
    )
    for col in ("step", "vmid", "name", "from → to", "reason", "why"):
        table.add_column(col, justify="right" if col in ("step", "vmid") else "left", overflow="fold")
    for m in plan.migrations:
        table.add_row(
            str(m.step + 1),
            str(m.vmid),
            shown(m.name),
            f"{m.source} → {m.target}",
            m.reason.value,
            shown(m.detail),
        )
    return table


def summary_text(plan: Plan) -> Text:
    lines = Text()
    if plan.triggered:
        lines.append(f"Rebalancing triggered: {plan.trigger_reason}\n", style="bold")
    else:
        lines.append(
            f"No rebalancing needed: {plan.trigger_reason or 'cluster within its limits'}\n", style="bold"
        )
    lines.append(
        f"Imbalance {plan.imbalance_before:.2f} → {plan.imbalance_after:.2f} (planner: {plan.planner})\n"
    )
    if plan.stopped_by:
        lines.append(
            f"Stopped above balanciness, held back by: {stop_summary(plan.stopped_by)}\n", style="yellow"
        )
        for c in plan.stopped_by:
            lines.append(f"  {c.rule}: {c.detail}\n", style="yellow")
    for u in plan.unmet:
        lines.append(f"Could not satisfy {u.rule}: {u.why}\n", style="red")
    return lines


def shown(text: str) -> Text:
    """A table cell for text from the API: control characters escaped, no rich markup read."""
    return Text(printable(text))


def execution_table(rows: Sequence[ExecutionRow]) -> Table:
    table = Table(title="Execution", title_justify="left")
    for col in ("vmid", "name", "from → to", "outcome", "seconds", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = {"DONE": "green", "FAILED": "red", "TIMEOUT": "red"}.get(r.outcome.upper(), "yellow")
        table.add_row(
            str(r.vmid),
            shown(r.name),
            f"{r.source} → {r.target}",
            Text(r.outcome, style=style),
            f"{r.seconds:.0f}",
            shown(r.note),
        )
    return table


def render_plan(
    snapshot: ClusterSnapshot,
    constraints: ConstraintSet,
    plan: Plan,
    reserve: Mapping[str, Resources] | None = None,
) -> RenderableType:
    """What is shown before anything is executed: nodes before → after, the trigger, the plan."""
    parts: list[RenderableType] = [nodes_table(snapshot, constraints, plan, reserve), summary_text(plan)]
    if plan.migrations:
        parts.append(plan_table(plan))
    return Group(*parts)


def render_outcome(
    snapshot: ClusterSnapshot,
    constraints: ConstraintSet,
    execution: Sequence[ExecutionRow] = (),
    warnings: Sequence[str] = (),
) -> RenderableType:
    """What is shown once the plan was carried out: the execution table and the notes."""
    parts: list[RenderableType] = []
    if execution:
        parts.append(execution_table(execution))
    notes = [*snapshot.warnings, *constraints.warnings, *warnings]
    if notes:
        parts.append(Text("\n".join(f"note: {w}" for w in notes), style="dim"))
    return Group(*parts)


def render_cycle(
    snapshot: ClusterSnapshot,
    constraints: ConstraintSet,
    plan: Plan,
    reserve: Mapping[str, Resources] | None = None,
    execution: Sequence[ExecutionRow] = (),
    warnings: Sequence[str] = (),
) -> RenderableType:
    """Everything an administrator wants to see after one cycle, in reading order."""
    return Group(
        render_plan(snapshot, constraints, plan, reserve),
        render_outcome(snapshot, constraints, execution, warnings),
    )
