"""`proxlb report -o FILE`: plan once (a dry run) and write the HTML report (and metrics textfile)."""

from __future__ import annotations

import sys
from pathlib import Path

from proxlb.cli.args import ReportArgs
from proxlb.cli.context import load_for_command, one_dry_cycle
from proxlb.service.metrics import CycleMetrics
from proxlb.service.report_files import write_html


def run(args: ReportArgs) -> int:
    loaded = load_for_command(args.common)
    report, _ = one_dry_cycle(loaded)
    write_html(Path(args.output), loaded.config, report)
    if args.metrics_file:
        metrics = CycleMetrics()
        metrics.cycle_done(loaded.config, report)
        metrics.write_textfile(Path(args.metrics_file))
    plan = report.plan
    assert plan is not None  # one_dry_cycle raises without one
    print(
        f"wrote {args.output}: {len(plan.migrations)} migration(s) planned, "
        f"spread {plan.imbalance_before:.1f} → {plan.imbalance_after:.1f} pp",
        file=sys.stderr,
    )
    return 0
