"""`make bench`: speed and quality figures on generated clusters, ours beside upstream 2.3.0.

For each size: planning time (in process, pure planner), one dry-run cycle of the real CLI
against the HTTPS simulator (wall time, API requests), migrations, GiB to copy and the memory
spread before/after; upstream ProxLB 2.3.0 on the same simulated cluster when `.venv-upstream`
exists. Then the CP-SAT planner at the same sizes (in process and as a dry run: plan found, moves, GiB,
spread, bound, gap, time) and the quality rows against an exact optimum on small clusters
(benchmarks/exact.py). Then: evacuating each node of a generated cluster in process on the simulator's virtual
clock, beside the lower bound of the simulator's migration model (the evacuation ratio, see
benchmarks/evacuation.py). Then plan stability: Jaccard similarity of 5 consecutive dry-run plans
per scenario on noisy simulated clusters (benchmarks/stability.py). Then the cost of failover
headroom prefer/require (benchmarks/failover.py). Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.evacuation import print_evacuations
from benchmarks.failover import print_failover_cost
from benchmarks.sim_bench import measure
from benchmarks.stability import print_table as print_stability
from benchmarks.upstream_harness import run_upstream, upstream_available, upstream_config
from proxlb.collect.snapshot import collect_snapshot
from proxlb.config.load import evaluate_mapping
from proxlb.config.model import ProxlbConfig
from proxlb.planning import PlanningProblem, plan_cycle, policy_from_config
from proxlb.rules.derive import derive_constraints
from proxlb_sim.cluster import SimCluster
from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import Scenario, parse_scenario
from proxlb_sim.testing import SimInfo, running_simulator

SIZES = ((5, 40), (8, 200), (16, 1000), (32, 4000), (64, 8000), (128, 16000))
SECTIONS = ("ours", "cpsat", "quality", "evacuation", "failover", "stability", "simulator")
UPSTREAM_MAX_GUESTS = 1000  # upstream makes ~3 calls per guest; beyond this it takes minutes
GIB = 1024**3


def _config(
    sim: SimInfo | None, state_dir: str, solver: dict[str, Any] | None = None, **balancing: Any
) -> dict[str, Any]:
    section: dict[str, Any] = {
        "enable": True,
        "balance_types": ["vm", "ct"],
        "parallel": True,
        "parallel_jobs": 5,
    }
    section.update(balancing)
    api: dict[str, Any] = {
        "hosts": ["127.0.0.1:8006"],
        "user": "root@pam",
        "token_id": "x",
        "token_secret": "y",
    }
    if sim is not None:
        api = {
            "hosts": [f"{sim.host}:{sim.port}"],
            "user": sim.user,
            "token_id": sim.token_id,
            "token_secret": sim.token_secret,
            "ca_file": sim.ca_file,
            "timeout": 60,
        }
    raw = {"proxmox_api": api, "balancing": section, "service": {"daemon": False, "state_dir": state_dir}}
    if solver is not None:
        raw["solver"] = solver
    return raw


def _parsed(raw: dict[str, Any]) -> ProxlbConfig:
    found = evaluate_mapping(raw, Path("bench.yaml"), {})
    assert found.config is not None, found.problems
    return found.config


def scenario(nodes: int, guests: int) -> Scenario:
    return parse_scenario(generate_scenario(GenerateOptions(nodes=nodes, guests=guests, seed=7, skew=0.6)))


def planning_seconds(scn: Scenario, repeat: int = 3) -> tuple[float, int]:
    """Median time of the pure planner (trigger → plan → sequence → validate) on one core."""
    cluster = SimCluster.from_scenario(scn, seed=7, time_scale=0.0)
    config = _parsed(_config(None, "/tmp"))
    snap = collect_snapshot(InProcessApi(cluster), config, time.time())
    constraints = derive_constraints(snap, config, frozenset())
    problem = PlanningProblem(snap, constraints, policy_from_config(config), {}, snap.taken_at)
    times, moves = [], 0
    for _ in range(repeat):
        t0 = time.process_time()
        plan = plan_cycle(problem)
        times.append(time.process_time() - t0)
        moves = len(plan.migrations)
    return statistics.median(times), moves


def memory_spread(nodes: dict[str, Any]) -> float:
    values = [n["memory"]["used_percent"] for n in nodes.values() if n["memory"]["total"]]
    return round(max(values) - min(values), 1) if values else 0.0


def spread_now(sim: SimInfo) -> float:
    entries = [
        n
        for n in InProcessApi(sim.cluster).get("/cluster/resources")
        if n.get("type") == "node" and n.get("maxmem")
    ]
    values = [100.0 * n["mem"] / n["maxmem"] for n in entries]
    return round(max(values) - min(values), 1)


def ours_dry_run(sim: SimInfo, tmp: str, solver: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg = Path(tmp) / "proxlb.yaml"
    cfg.write_text(yaml.safe_dump(_config(sim, f"{tmp}/state", solver)))
    cfg.chmod(0o600)
    sim.admin.clear_requests()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "proxlb", "-c", str(cfg), "-d", "-j"],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    doc = json.loads(proc.stdout)
    moves = doc["plan"]["migrations"]
    return {
        "wall_s": round(wall, 2),
        "requests": len(sim.admin.requests()),
        "migrations": len(moves),
        "gib": moved_memory_gib(doc),
        "copy_gib": round(sum(m["bytes_to_copy"] for m in moves) / GIB, 1),
        "spread_after": memory_spread(doc["nodes"]),
        "planner": doc["plan"].get("planner", ""),
    }


def moved_memory_gib(doc: dict[str, Any]) -> float:
    """Memory in use by the guests a plan moves, read the same way from ours and upstream's JSON."""
    moved = [g for g in doc["guests"].values() if g["node_target"] != g["node_current"]]
    return round(sum(g["memory"]["used"] for g in moved) / GIB, 1)


def upstream_dry_run(sim: SimInfo, guests: int) -> dict[str, Any] | str:
    if not upstream_available():
        return "upstream venv absent"
    if guests > UPSTREAM_MAX_GUESTS:
        return f"skipped (> {UPSTREAM_MAX_GUESTS} guests: minutes of per-guest calls)"
    sim.admin.clear_requests()
    run = run_upstream(
        upstream_config(sim.host, sim.port, sim.token_id, sim.token_secret), sim.ca_file, "-d", "-j"
    )
    if run.returncode != 0 or run.document is None:
        return f"failed (exit {run.returncode})"
    moved = [g for g in run.document["guests"].values() if g["node_target"] != g["node_current"]]
    return {
        "wall_s": round(run.seconds, 2),
        "requests": len(sim.admin.requests()),
        "migrations": len(moved),
        "gib": moved_memory_gib(run.document),
        "spread_after": memory_spread(run.document["nodes"]),
    }


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split(","):
        n, g = part.strip().lower().split("x")
        out.append((int(n), int(g)))
    return tuple(out)


def print_ours(sizes: tuple[tuple[int, int], ...]) -> None:
    print(
        "| cluster | planning (1 core) | moves | our dry-run cycle | our requests | memory moved GiB "
        "| to copy GiB | spread before → after | upstream cycle | upstream requests | upstream moves "
        "| upstream memory moved GiB | upstream spread after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for nodes, guests in sizes:
        from benchmarks.planning import config as plan_config
        from benchmarks.planning import measure as plan_measure

        scn = scenario(nodes, guests)
        plan_s = plan_measure(nodes, guests, plan_config())["cpu_s"]  # a fresh problem per run
        with tempfile.TemporaryDirectory() as tmp, running_simulator(scn, time_scale=0.0) as sim:
            before = spread_now(sim)
            ours = ours_dry_run(sim, tmp)
            up = upstream_dry_run(sim, guests)
        if isinstance(up, dict):
            cols = (
                f"{up['wall_s']} s",
                up["requests"],
                up["migrations"],
                up["gib"],
                f"{up['spread_after']} pp",
            )
            up_cols = " | ".join(str(c) for c in cols)
        else:
            up_cols = f"{up} | | | |"
        print(
            f"| {nodes} × {guests} | {plan_s * 1000:.0f} ms | {ours['migrations']} | {ours['wall_s']} s "
            f"| {ours['requests']} | {ours['gib']} | {ours['copy_gib']} "
            f"| {before} → {ours['spread_after']} pp | {up_cols} |",
            flush=True,
        )


def print_cpsat(sizes: tuple[tuple[int, int], ...], timeout: float) -> None:
    """CP-SAT (active, `timeout` s) in process and as a dry run, beside greedy's figures."""
    from benchmarks.planning import config as plan_config
    from benchmarks.planning import measure

    print(
        f"\n## CP-SAT (solver.enable, mode active, timeout_seconds {timeout:g})\n\n"
        "| cluster | plan found | planner chosen | moves greedy → CP-SAT | GiB to copy greedy → CP-SAT "
        "| spread after greedy → CP-SAT | objective J greedy → CP-SAT (pp²) | bound (pp²) | gap "
        "| exact or LNS rounds (improved) | planning CPU | dry-run cycle greedy → CP-SAT "
        "| CP-SAT's share of the cycle |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    solver = {"enable": True, "mode": "active", "timeout_seconds": timeout}
    for nodes, guests in sizes:
        row = measure(nodes, guests, plan_config(solver), repeat=1)
        st = row["stats"]
        with (
            tempfile.TemporaryDirectory() as tmp,
            running_simulator(scenario(nodes, guests), time_scale=0.0) as sim,
        ):
            alone = ours_dry_run(sim, tmp)
            dry = ours_dry_run(sim, tmp, solver)
        found = "yes" if "cpsat_migrations" in st else "no"
        how = (
            "exact"
            if st.get("cpsat_exact")
            else f"LNS {st.get('lns_rounds', 0):.0f} ({st.get('lns_improved', 0):.0f})"
        )
        print(
            f"| {nodes} × {guests} | {found} | {row['planner']} "
            f"| {st.get('greedy_migrations', 0):.0f} → {st.get('cpsat_migrations', 0):.0f} "
            f"| {st.get('greedy_gib_to_copy', 0):.1f} → {st.get('cpsat_gib_to_copy', 0):.1f} "
            f"| {st.get('greedy_spread_after', 0):.2f} → {st.get('cpsat_spread_after', 0):.2f} pp "
            f"| {st.get('greedy_objective_pp2', 0):.1f} → {st.get('cpsat_objective_pp2', 0):.1f} "
            f"| {st.get('cpsat_bound_pp2', 0):.1f} | {100 * st.get('cpsat_gap', 0):.1f} % | {how} "
            f"| {row['cpu_s']:.1f} s | {alone['wall_s']} → {dry['wall_s']} s ({dry['planner']}, "
            f"{dry['migrations']} moves) | {dry['wall_s'] - alone['wall_s']:.1f} s of {timeout:g} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ProxLB benchmarks (Markdown on stdout)")
    ap.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_SIZES", ",".join(f"{n}x{g}" for n, g in SIZES)),
        help="clusters as NODESxGUESTS,… (env BENCH_SIZES; default: all six)",
    )
    ap.add_argument(
        "--sections",
        default=os.environ.get("BENCH_SECTIONS", ",".join(SECTIONS)),
        help=f"which tables, of {','.join(SECTIONS)} (env BENCH_SECTIONS)",
    )
    ap.add_argument(
        "--solver-timeout", type=float, default=float(os.environ.get("BENCH_SOLVER_TIMEOUT", "30"))
    )
    args = ap.parse_args(argv)
    sizes = _sizes(args.sizes)
    sections = {s.strip() for s in args.sections.split(",")}
    print("# ProxLB benchmarks\n")
    if "ours" in sections:
        print_ours(sizes)
    if "cpsat" in sections:
        print_cpsat(sizes, args.solver_timeout)
    if "quality" in sections:
        from benchmarks.planning import quality

        print("\n## Quality against an exact optimum (benchmarks/exact.py)\n")
        quality(args.solver_timeout)
    if "evacuation" in sections:
        print_evacuations()
    if "failover" in sections:
        print_failover_cost()
    if "stability" in sections:
        print("\n## Plan stability (5 consecutive dry runs, 2 virtual minutes apart, simulator noise on)\n")
        print_stability()
    if "simulator" in sections:
        print("\n## Simulator response times (32 nodes × 4000 guests, HTTPS, ms)\n")
        sim_figures = measure(nodes=32, guests=4000, repeat=10)
        for key, value in sim_figures.items():
            if isinstance(value, dict):
                print(f"- {key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
