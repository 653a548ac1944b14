"""`proxlb [-d] [--once] [--repeat]` (upstream's run) and `proxlb plan`: cycles through the daemon loop.

A dry run is one cycle whatever `service.daemon` says (a preview returns); `--dry-run --repeat`
asks for the repeating dry run explicitly. A real run repeats when `service.daemon` is true unless
`--once` is given. Per cycle the `Printer` shows the plan and the outcome, then `plan --curve`,
`--html FILE` and `--metrics-file FILE` are written.
"""

from __future__ import annotations

import logging
from pathlib import Path

from proxlb.cli.args import RunArgs
from proxlb.cli.context import configure_stderr_logging, load
from proxlb.cli.output import Printer
from proxlb.report.curve_text import curve_table
from proxlb.service.daemon import Daemon, DaemonSignals, acting_state, default_state
from proxlb.service.metrics import CycleMetrics
from proxlb.service.pipeline import RunReport
from proxlb.service.report_files import curve_of, write_html

log = logging.getLogger("proxlb")


class _Extras:
    """After the printer: `plan --curve`, `--html FILE` and `--metrics-file FILE`, per cycle."""

    def __init__(self, args: RunArgs, printer: Printer, metrics: CycleMetrics) -> None:
        self.args, self.printer, self.metrics = args, printer, metrics

    def __call__(self, report: RunReport) -> None:
        self.printer(report)
        config = self.printer.config
        quiet = self.args.common.json or self.args.common.quiet
        if self.args.curve and not quiet and report.plan is not None:
            self.printer.console.print(curve_table(curve_of(report), config.balancing.max_migrations))
        if self.args.html and write_html(Path(self.args.html), config, report):
            self.printer.note(f"wrote {self.args.html}")
        self.write_metrics()

    def write_metrics(self) -> None:
        if self.args.metrics_file:
            self.metrics.write_textfile(Path(self.args.metrics_file))


def run(args: RunArgs) -> int:
    common = args.common
    one_cycle = args.once or (args.dry_run and not args.repeat)
    loaded = load(common, one_cycle=one_cycle)
    if common.json or common.quiet:  # stdout carries only the document (or nothing)
        configure_stderr_logging(loaded.config)
    signals = DaemonSignals()
    signals.install()
    metrics = CycleMetrics.from_config(loaded.config)
    printer = Printer(loaded.config, common.json, common.quiet)
    extras = _Extras(args, printer, metrics)
    daemon = Daemon(
        Path(common.config),
        signals=signals,
        apply=not args.dry_run,
        dry_run=args.dry_run,
        initial=loaded,
        # a dry run migrates nothing, so it may run beside the acting instance (no instance lock)
        open_state=default_state if args.dry_run else acting_state,
        on_report=extras,
        on_plan=printer.plan_ready,
        observer_for=printer.observer_for,
        configure_log=not (common.json or common.quiet),  # else already sent to stderr above
        metrics=metrics,
    )
    try:
        code = daemon.run()
        extras.write_metrics()  # also after a failed cycle
    finally:
        metrics.close()
        if printer.progress is not None:
            printer.progress.close()
    return code
