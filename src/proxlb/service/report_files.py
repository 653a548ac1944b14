"""Files a cycle leaves behind: the HTML report (and its gain curve). The I/O edge of report/html.

`write_html` writes atomically (temporary file + rename), so a browser or a web server never sees a
half-written page; the daemon keeps the last cycle's page as `<state_dir>/last-report-<cluster>.html`
(one file per cluster identity, so two clusters sharing a state_dir never overwrite each other).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

from proxlb.config.model import ProxlbConfig
from proxlb.planning import policy_from_config
from proxlb.planning.curve import CurvePoint, gain_curve
from proxlb.planning.headroom import failover_now_and_after
from proxlb.report.html import ReportInput, render_html
from proxlb.service.ownership import adopt_directory_owner
from proxlb.service.pipeline import RunReport

log = logging.getLogger(__name__)

LAST_REPORT_PREFIX = "last-report-"


def last_report_name(identity: str) -> str:
    """`cluster:prod` → `last-report-cluster-prod.html`;
    `nodes:pve1,pve2` → `last-report-nodes-pve1-pve2.html`."""
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", identity).strip("-.") or "cluster"
    return f"{LAST_REPORT_PREFIX}{slug[:120]}.html"


def curve_of(report: RunReport) -> tuple[CurvePoint, ...]:
    """The plan's gain curve, measured on the cycle's own planning problem."""
    if report.problem is None or report.plan is None:
        return ()
    return gain_curve(report.problem, report.plan)


def report_input(config: ProxlbConfig, report: RunReport) -> ReportInput | None:
    """What the HTML page shows for this cycle (None for a standby cycle: nothing was planned)."""
    if report.snapshot is None or report.constraints is None or report.plan is None:
        return None
    if report.problem is None:
        return None
    bal = config.balancing
    policy = policy_from_config(config)
    return ReportInput(
        snapshot=report.snapshot,
        constraints=report.constraints,
        plan=report.plan,
        curve=curve_of(report),
        mode=policy.mode.value,
        thresholds={r: policy.threshold(r) for r in ("memory", "cpu", "disk")},
        reserve={n: bal.reserve_for(n) for n in report.snapshot.node_names},
        execution=report.execution,
        applied=report.applied,
        generated_at=report.finished_at,
        max_migrations=bal.max_migrations,
        warnings=tuple(dict.fromkeys((*report.warnings, *report.plan.warnings))),
        failover=failover_now_and_after(report.problem, report.plan.migrations),
        failover_mode=policy.failover.mode,
    )


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and a rename."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_html(path: Path, config: ProxlbConfig, report: RunReport) -> bool:
    """Write the cycle's report to `path`; False (nothing written) for a standby cycle."""
    data = report_input(config, report)
    if data is None:
        return False
    atomic_write(path, render_html(data))
    return True


def keep_last_report(config: ProxlbConfig, report: RunReport, state_location: str) -> None:
    """Daemon: keep the last cycle's page beside the state database (`state_location`, the store's
    file); nothing for a state kept in memory. A failure is logged, not fatal."""
    if state_location == ":memory:" or report.snapshot is None:
        return
    path = Path(state_location).parent / last_report_name(report.snapshot.identity)
    try:
        if write_html(path, config, report):
            adopt_directory_owner(path.parent, path.name)
            log.debug("report written to %s", path)
    except OSError as exc:
        log.warning("could not write the HTML report %s: %s", path, exc)
