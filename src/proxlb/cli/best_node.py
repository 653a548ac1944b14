"""`proxlb best-node` / upstream's `proxlb -b`: the node a new guest of a given size should go to.

Judged on the same planning problem the run plans on (one dry cycle); with --after-plan, on the
cluster as it will be once the current plan is carried out. Exit 0 with a node, 1 without.
"""

from __future__ import annotations

import json
import sys

from proxlb.cli.args import BestNodeArgs
from proxlb.cli.context import load_for_command, one_dry_cycle
from proxlb.domain import GuestKind
from proxlb.planning.best_node import GuestRequest, best_node
from proxlb.report.sentences import best_node_doc, best_node_reason


def run(args: BestNodeArgs) -> int:
    loaded = load_for_command(args.common)
    report, problem = one_dry_cycle(loaded)
    planned = report.plan.migrations if args.after_plan and report.plan is not None else ()
    request = GuestRequest(
        memory_bytes=args.memory_bytes,
        cores=args.cores,
        disk_bytes=args.disk_bytes,
        tags=args.tags,
        kind=GuestKind.LXC if args.guest_type == "ct" else GuestKind.QEMU,
    )
    answer = best_node(problem, request, planned)
    if args.common.json:
        print(json.dumps(best_node_doc(answer, args.after_plan), indent=4))
    elif answer.node is None:
        print(best_node_reason(answer), file=sys.stderr)
    else:
        print(answer.node)
    return 0 if answer.node else 1
