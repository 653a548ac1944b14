"""`proxlb failover`: what losing each node (and each failure domain) would do, now and after the plan.

A dry run: the cycle is planned as `plan` would, nothing migrates. The table comes from
planning/headroom.py (PVE HA's recovery replayed under the cluster's CRS mode) and is rendered by
report/failover.py, as text or, with `-j`, as one JSON document.
"""

from __future__ import annotations

import json

from proxlb.cli.args import FailoverArgs
from proxlb.cli.context import load_for_command, one_dry_cycle
from proxlb.planning.cycle import state_after
from proxlb.planning.headroom import report_of
from proxlb.planning.metrics import LoadState
from proxlb.report.failover import failover_document, failover_text


def run(args: FailoverArgs) -> int:
    loaded = load_for_command(args.common)
    report, problem = one_dry_cycle(loaded)
    assert report.plan is not None  # one_dry_cycle raises without one
    now = report_of(problem, LoadState.of(problem))
    after = report_of(problem, state_after(problem, report.plan.migrations))
    mode = problem.policy.failover.mode
    crs = problem.snapshot.crs.describe()
    if args.common.json:
        print(json.dumps(failover_document(now, after, mode, crs), indent=4))
    else:
        print(failover_text(now, after, mode, crs, len(report.plan.migrations)))
    return 0
