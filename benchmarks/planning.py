"""Planning figures on generated clusters, in process: CPU time, moves, GiB, spread, objective.

`python -m benchmarks.planning [--sizes 32x4000,128x16000] [--solver] [--golden FILE]
[--compare FILE]` prints one Markdown row per size. The golden file holds each size's plan (the
(vmid, target) moves and the figures); `--compare` reads an earlier golden and prints, per size,
whether the moves are the same and the figures before → after — the check that a faster planner
still plans the same (or better on the shared objective).

Planning CPU is `time.process_time()` around `plan_cycle` (one core; the state template built from
the snapshot is included), the median of `repeat` runs (1 above 10 000 guests).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from proxlb.collect.snapshot import collect_snapshot
from proxlb.config.load import evaluate_mapping
from proxlb.config.model import ProxlbConfig
from proxlb.planning import PlanningProblem, SolverBudget, Solving, plan_cycle, policy_from_config
from proxlb.rules.derive import derive_constraints
from proxlb_sim.cluster import SimCluster
from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import Scenario, parse_scenario

GIB = 1024**3
DEFAULT_SIZES = ((32, 4000), (64, 8000), (128, 16000))
START = 1_800_000_000.0  # a fixed virtual instant: the same metrics (noise, drift) on every run


def scenario(nodes: int, guests: int, seed: int = 7, start: float = START) -> Scenario:
    scn = parse_scenario(generate_scenario(GenerateOptions(nodes=nodes, guests=guests, seed=seed, skew=0.6)))
    return scn.model_copy(update={"sim": scn.sim.model_copy(update={"start_time": start})})


def config(
    solver: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None, **balancing: Any
) -> ProxlbConfig:
    section: dict[str, Any] = {"enable": True, "balance_types": ["vm", "ct"]}
    section.update(balancing)
    raw: dict[str, Any] = {
        "proxmox_api": {
            "hosts": ["127.0.0.1:8006"],
            "user": "root@pam",
            "token_id": "x",
            "token_secret": "y",
        },
        "balancing": section,
        "service": {"daemon": False, "state_dir": "/tmp"},
    }
    if solver is not None:
        raw["solver"] = solver
    if cluster is not None:
        raw["proxmox_cluster"] = cluster
    found = evaluate_mapping(raw, Path("bench.yaml"), {})
    assert found.config is not None, found.problems
    return found.config


def problem_for(scn: Scenario, cfg: ProxlbConfig) -> PlanningProblem:
    cluster = SimCluster.from_scenario(scn, seed=7, time_scale=0.0)
    snap = collect_snapshot(InProcessApi(cluster), cfg, START)
    constraints = derive_constraints(snap, cfg, frozenset())
    return PlanningProblem(snap, constraints, policy_from_config(cfg), {}, snap.taken_at)


def measure(nodes: int, guests: int, cfg: ProxlbConfig, repeat: int = 3) -> dict[str, Any]:
    """Plan the generated cluster `repeat` times (a fresh problem each time); figures of the last."""
    scn = scenario(nodes, guests)
    times: list[float] = []
    plan = None
    for _ in range(repeat if guests <= 10_000 else 1):
        problem = problem_for(scn, cfg)
        t0 = time.process_time()
        # with the solver: one run with the cycle's wall-clock budget, as the service gives it
        solving = (
            Solving(SolverBudget.starting(time.monotonic, cfg.solver.timeout_seconds, share=1.0))
            if cfg.solver.enable
            else Solving()
        )
        plan = plan_cycle(problem, solving)
        times.append(time.process_time() - t0)
    assert plan is not None
    stats = plan.stats
    return {
        "size": f"{nodes}x{guests}",
        "cpu_s": round(statistics.median(times), 3),
        "planner": plan.planner,
        "moves": len(plan.migrations),
        "gib": round(sum(m.bytes_to_copy for m in plan.migrations) / GIB, 1),
        "spread_before": round(plan.imbalance_before, 2),
        "spread_after": round(plan.imbalance_after, 2),
        "objective_after": stats.get("objective_after"),
        "unmet": len(plan.unmet),
        "stats": {k: v for k, v in stats.items() if k.startswith(("cpsat", "greedy", "lns", "solver"))},
        "plan": sorted([m.vmid, m.target] for m in plan.migrations),
    }


QUALITY_SIZES = ((5, 40), (6, 100), (8, 150))


def quality(
    timeout: float = 20.0, seconds: float = 60.0, sizes: tuple[tuple[int, int], ...] = QUALITY_SIZES
) -> None:
    """The quality rows: greedy's and CP-SAT's plan against the exact yardstick (benchmarks/exact.py)."""
    from benchmarks.exact import min_gib, min_spread

    print(
        "| cluster | planner | moves | GiB to copy | spread after | exact min GiB for that spread "
        "| GiB ÷ min | exact best spread for that GiB | spread − best | CP-SAT bound / gap | planning CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cfg_cp = config({"enable": True, "mode": "active", "timeout_seconds": timeout})
    for nodes, guests in sizes:
        scn = scenario(nodes, guests)
        for name, cfg in (("greedy", config()), ("cpsat", cfg_cp)):
            problem = problem_for(scn, cfg)
            t0 = time.process_time()
            plan = plan_cycle(problem)
            cpu = time.process_time() - t0
            gib = round(sum(m.bytes_to_copy for m in plan.migrations) / GIB, 1)
            spread = round(plan.imbalance_after, 2)
            low = min_gib(problem_for(scn, config()), spread, seconds)
            best = min_spread(problem_for(scn, config()), gib, seconds)
            ratio = f"{gib / low.value:.3f}" if low and low.value else "–"
            low_text = f"{low.value}{'' if low.optimal else ' (not proven)'}" if low else "none found"
            best_text = f"{best.value} pp{'' if best.optimal else ' (not proven)'}" if best else "none found"
            diff = f"{spread - best.value:+.2f} pp" if best else "–"
            bound = (
                f"{plan.stats['cpsat_bound_pp2']:.0f} / {100 * plan.stats['cpsat_gap']:.0f} %"
                if name == "cpsat" and "cpsat_gap" in plan.stats
                else ""
            )
            planner = plan.planner if name == "cpsat" else name
            print(
                f"| {nodes} × {guests} | {planner} | {len(plan.migrations)} | {gib} | {spread} pp "
                f"| {low_text} | {ratio} | {best_text} | {diff} | {bound} | {cpu:.1f} s |",
                flush=True,
            )


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        n, g = part.lower().split("x")
        out.append((int(n), int(g)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default=",".join(f"{n}x{g}" for n, g in DEFAULT_SIZES))
    ap.add_argument("--solver", action="store_true", help="solver.enable: true, mode active")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--golden", help="write the plans and figures to this JSON file")
    ap.add_argument("--compare", help="compare with an earlier golden JSON file")
    ap.add_argument("--quality", action="store_true", help="only the quality rows against the exact model")
    args = ap.parse_args(argv)
    if args.quality:
        quality(args.timeout)
        return 0
    solver = {"enable": True, "mode": "active", "timeout_seconds": args.timeout} if args.solver else None
    cfg = config(solver)
    rows = []
    earlier = json.loads(Path(args.compare).read_text()) if args.compare else {}
    print("| cluster | planner | planning CPU | moves | GiB to copy | spread before → after | objective |")
    print("|---|---|---|---|---|---|---|")
    for nodes, guests in _sizes(args.sizes):
        row = measure(nodes, guests, cfg, args.repeat)
        rows.append(row)
        print(
            f"| {nodes} × {guests} | {row['planner']} | {row['cpu_s'] * 1000:.0f} ms | {row['moves']} "
            f"| {row['gib']} | {row['spread_before']} → {row['spread_after']} pp "
            f"| {row['objective_after']} |",
            flush=True,
        )
        if row["stats"]:
            print(f"|   | stats: {json.dumps(row['stats'])} | | | | | |", flush=True)
        old = earlier.get(row["size"])
        if old is not None:
            same = old["plan"] == row["plan"]
            print(
                f"|   | vs golden: {'same moves' if same else 'DIFFERENT moves'}; cpu {old['cpu_s']} → "
                f"{row['cpu_s']} s; moves {old['moves']} → {row['moves']}; GiB {old['gib']} → {row['gib']}; "
                f"spread {old['spread_after']} → {row['spread_after']}; objective {old['objective_after']} → "
                f"{row['objective_after']} | | | | | |",
                flush=True,
            )
    if args.golden:
        Path(args.golden).write_text(json.dumps({r["size"]: r for r in rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
