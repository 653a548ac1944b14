"""`proxlb explain VMID`: why a guest moves or stays, judged on the cycle's own planning problem."""

from __future__ import annotations

import json
import sys

from proxlb.cli.args import ExplainArgs
from proxlb.cli.context import load_for_command, one_dry_cycle
from proxlb.domain import VmId
from proxlb.report.explain import explain_guest


def run(args: ExplainArgs) -> int:
    loaded = load_for_command(args.common)
    report, problem = one_dry_cycle(loaded, read_first=(VmId(args.vmid),))
    assert report.plan is not None  # one_dry_cycle raises without one
    if problem.snapshot.guest(args.vmid) is None:
        print(f"guest {args.vmid} is not in the cluster (or on an ignored node)", file=sys.stderr)
        return 1
    text = explain_guest(report.plan, problem, args.vmid)
    if args.common.json:
        print(json.dumps({"vmid": args.vmid, "explanation": text.splitlines()}, indent=4))
    else:
        print(text)
    return 0
