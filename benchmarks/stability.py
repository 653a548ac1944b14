"""Plan stability: how much consecutive dry-run plans agree on a noisy simulated cluster.

For each bundled scenario and two generated clusters, five dry-run cycles run in process against
the simulator (noise and drift on, as shipped), two virtual minutes apart, sharing one state
directory as a daemon would. A plan is the set of (vmid, target) moves; two plans agree by their
Jaccard similarity (|A ∩ B| / |A ∪ B|, 1.0 when both are empty). Reports the median and the
minimum over the four consecutive pairs, the moves per plan and the memory spread reached.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxlb.config.load import evaluate_mapping
from proxlb.config.model import ProxlbConfig
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import Scenario, load_scenario, parse_scenario
from proxlb_sim.testing import VirtualTimeClock, inprocess_client

BUNDLED = ("demo", "heterogeneous", "ha-rules-pve9", "maintenance", "pve8", "rules")
GENERATED = ((4, 56), (16, 1000))
RUNS = 5
GAP_SECONDS = 120.0
START = 1_790_000_000.0  # a fixed virtual start, so every run (and before/after) sees the same noise


@dataclass(frozen=True)
class Stability:
    name: str
    median: float
    minimum: float
    moves: tuple[int, ...]
    spread_after: float


def jaccard(a: frozenset[tuple[int, str]], b: frozenset[tuple[int, str]]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _config(state_dir: str, **balancing: Any) -> ProxlbConfig:
    raw: dict[str, Any] = {
        "proxmox_api": {"hosts": ["sim"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
        "balancing": {"enable": True, "balance_types": ["vm", "ct"], "parallel": True, **balancing},
        "service": {"daemon": False, "state_dir": state_dir},
    }
    found = evaluate_mapping(raw, Path("stability.yaml"), {})
    assert found.config is not None, found.problems
    return found.config


def measure(name: str, scn: Scenario, runs: int = RUNS, **balancing: Any) -> Stability:
    """`runs` dry-run cycles `GAP_SECONDS` apart on one simulated cluster and one state store."""
    scn = scn.model_copy(update={"sim": scn.sim.model_copy(update={"start_time": START})})
    cluster = SimCluster.from_scenario(scn, seed=scn.sim.seed, time_scale=0.0)
    client = inprocess_client(InProcessApi(cluster))
    clock = VirtualTimeClock(cluster)
    plans: list[frozenset[tuple[int, str]]] = []
    spread = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        config = _config(tmp, **balancing)
        state = StateStore.open(tmp)
        try:
            for index in range(runs):
                if index:
                    cluster.clock.advance(GAP_SECONDS)
                report = run_once(PipelineDeps(config, client, state, clock, dry_run=True), apply=False)
                assert report.plan is not None
                plans.append(frozenset((int(m.vmid), m.target) for m in report.plan.migrations))
                spread = report.plan.imbalance_after
        finally:
            state.close()
    pairs = [jaccard(a, b) for a, b in itertools.pairwise(plans)]
    return Stability(
        name, statistics.median(pairs), min(pairs), tuple(len(p) for p in plans), round(spread, 1)
    )


def scenarios() -> list[tuple[str, Scenario]]:
    found = [(name, load_scenario(name)) for name in BUNDLED]
    for nodes, guests in GENERATED:
        options = GenerateOptions(nodes=nodes, guests=guests, seed=7, skew=0.6)
        found.append((f"generated {nodes} × {guests}", parse_scenario(generate_scenario(options))))
    return found


def print_table() -> None:
    """The Markdown table `make bench` prints (every bundled scenario and the generated clusters)."""
    print("| scenario | median Jaccard | min Jaccard | moves per plan | imbalance after (last plan) |")
    print("|---|---|---|---|---|")
    for name, scn in scenarios():
        s = measure(name, scn)
        moves = ", ".join(map(str, s.moves))
        print(f"| {s.name} | {s.median:.2f} | {s.minimum:.2f} | {moves} | {s.spread_after} pp |", flush=True)


def main() -> int:
    print_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
