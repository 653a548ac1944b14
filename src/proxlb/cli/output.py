"""What the CLI prints for each cycle (part of the CLI edge, with `proxlb.cli.run`).

The plan as soon as it is final, the live progress while it is applied (`proxlb.cli.progress`),
then the outcome; with --json one JSON document on stdout at the end; with --quiet nothing.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from proxlb.cli.progress import LiveProgress
from proxlb.config.model import ProxlbConfig
from proxlb.domain import ClusterSnapshot, ConstraintSet, Plan, Resources
from proxlb.report.text import ExecutionRow, render_cycle, render_outcome, render_plan
from proxlb.report.upstream_json import build_json
from proxlb.service.pipeline import RunReport


def json_text(doc: dict[str, Any], terminal: bool) -> str:
    """The `-j` document: indented like upstream (4 spaces) on a terminal; piped, each top-level
    key on one line between a line `{` and a line `}` — the same JSON, still cut out the way
    upstream's consumers do (from the line `{` to the last `}`), but written by the C encoder
    (indentation forces Python's slow one: 15 % of a 32 × 4 000 dry run)."""
    if terminal or not doc:
        return json.dumps(doc, indent=4)
    lines = [f"    {json.dumps(str(k))}: {json.dumps(v)}" for k, v in doc.items()]
    return "{\n" + ",\n".join(lines) + "\n}"


def reserve(config: ProxlbConfig, report: RunReport) -> dict[str, Resources]:
    return _reserve_for(config, report.snapshot)


def _reserve_for(config: ProxlbConfig, snapshot: ClusterSnapshot | None) -> dict[str, Resources]:
    nodes = snapshot.node_names if snapshot else ()
    return {n: config.balancing.reserve_for(n) for n in nodes}


def _execution_summary(report: RunReport) -> str:
    ex = report.execution
    assert ex is not None
    counts = ", ".join(f"{n} {state}" for state, n in ex.totals.items() if n)
    verb = "Dry run" if ex.dry_run else "Applied"
    return f"{verb}: {counts or 'nothing'} in {ex.seconds:.0f} s"


def _execution_rows(report: RunReport) -> list[ExecutionRow]:
    if report.execution is None:
        return []
    return [
        ExecutionRow(
            int(o.vmid), o.name, o.source, o.target, o.outcome.value, o.seconds, o.exitstatus or o.detail
        )
        for o in report.execution.outcomes
    ]


def _execution_json(report: RunReport) -> dict[str, Any] | None:
    ex = report.execution
    if ex is None:
        return None
    return {
        "dry_run": ex.dry_run,
        "seconds": round(ex.seconds, 1),
        "totals": ex.totals,
        "max_concurrent": ex.max_concurrent,
        "max_node_outgoing": dict(ex.max_node_outgoing),
        "max_node_incoming": dict(ex.max_node_incoming),
        "outcomes": [
            {
                "vmid": int(o.vmid),
                "name": o.name,
                "source": o.source,
                "target": o.target,
                "reason": o.reason,
                "outcome": o.outcome.value,
                "detail": o.detail,
                "upid": o.upid,
                "exitstatus": o.exitstatus,
                "seconds": round(o.seconds, 1),
                "final_node": o.final_node,
            }
            for o in ex.outcomes
        ],
    }


class Printer:
    """Prints each cycle: the plan as soon as it is final, live progress while it is applied, then
    the outcome. JSON on stdout with --json (once, at the end); nothing on stdout with --quiet."""

    def __init__(self, config: ProxlbConfig, as_json: bool, quiet: bool = False) -> None:
        self.config = config
        self.as_json = as_json
        self.quiet = quiet
        # Piped output (journald, files) gets a wide fixed width instead of rich's 80 columns.
        self.console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
        self.plan_shown = False
        self.progress: LiveProgress | None = None

    def note(self, text: str) -> None:
        """A one-line result about a file written (`wrote …`), on stderr so stdout stays the tables or
        the JSON document; nothing with --quiet."""
        if not self.quiet:
            print(text, file=sys.stderr)

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal and not self.as_json and not self.quiet

    def observer_for(self, client: Any) -> LiveProgress:
        """A fresh progress observer for this cycle's execution."""
        if self.progress is not None:
            self.progress.close()
        self.progress = LiveProgress(client, self.console if self.interactive else None)
        return self.progress

    def plan_ready(self, snapshot: ClusterSnapshot, constraints: ConstraintSet, plan: Plan) -> None:
        """The plan, before anything is executed."""
        if self.progress is not None:
            self.progress.begin(plan.migrations)
        if self.as_json or self.quiet:
            return
        self.console.print(render_plan(snapshot, constraints, plan, _reserve_for(self.config, snapshot)))
        self.plan_shown = True

    def __call__(self, report: RunReport) -> None:
        if self.progress is not None:
            self.progress.close()
        shown, self.plan_shown = self.plan_shown, False
        if self.quiet:
            return
        if report.standby is not None:
            if not self.as_json:
                self.console.print(f"standby: {report.standby}")
            return
        if report.snapshot is None or report.constraints is None or report.plan is None:
            return
        if not self.as_json and shown:
            self.console.print(render_outcome(report.snapshot, report.constraints, _execution_rows(report)))
            if report.execution is not None:
                self.console.print(_execution_summary(report))
            return
        if self.as_json:
            doc = build_json(
                report.snapshot,
                report.constraints,
                report.plan,
                reserve(self.config, report),
                _execution_json(report),
            )
            sys.stdout.write(json_text(doc, sys.stdout.isatty()) + "\n")
            sys.stdout.flush()
        else:
            self.console.print(
                render_cycle(
                    report.snapshot,
                    report.constraints,
                    report.plan,
                    reserve(self.config, report),
                    _execution_rows(report),
                )
            )
