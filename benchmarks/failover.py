"""`make bench`, failover headroom: what prefer/require cost on the generated clusters.

The generated clusters are made HA clusters (every running guest an HA resource) and scaled to
65 % of their memory in use (`dense`), so that some single failure does not fit to begin with.
For each size, the pure planner runs with `balancing.failover_headroom.mode` off, prefer and require
(same snapshot, in process): migrations, GiB to copy (memory + local disks), memory spread after,
and the failover outcome after the plan — failures (of single nodes) that do not fit and the memory
PVE HA could not place, summed over them. "Extra" columns are against mode off. CPU time on one core.
"""

from __future__ import annotations

import time
from typing import Any

from proxlb.collect.snapshot import collect_snapshot
from proxlb.config.load import evaluate_mapping
from proxlb.planning import PlanningProblem, plan_cycle, policy_from_config
from proxlb.planning.cycle import state_after
from proxlb.planning.headroom import report_of
from proxlb.rules.derive import derive_constraints
from proxlb_sim.cluster import SimCluster
from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import parse_scenario

SIZES = ((5, 40), (8, 200), (16, 1000))
MODES = ("off", "prefer", "require")
GIB = 1024**3
START = 1_800_000_000.0  # fixed virtual start: metric noise depends on the clock


def _config(mode: str) -> Any:
    raw = {
        "proxmox_api": {
            "hosts": ["127.0.0.1:8006"],
            "user": "root@pam",
            "token_id": "x",
            "token_secret": "y",
        },
        "balancing": {
            "enable": True,
            "balance_types": ["vm", "ct"],
            "failover_headroom": {"mode": mode},
        },
        "service": {"daemon": False, "state_dir": "/tmp"},
    }
    found = evaluate_mapping(raw, __import__("pathlib").Path("bench.yaml"), {})
    assert found.config is not None, found.problems
    return found.config


def all_ha(raw: dict[str, Any]) -> dict[str, Any]:
    """The generated scenario with every running guest an HA resource (a production HA cluster)."""
    sids = [
        f"{'vm' if r['type'] == 'qemu' else 'ct'}:{r['vmid']}"
        for r in raw["resources"]
        if r.get("type") in ("qemu", "lxc")
        and r.get("status", "running") == "running"
        and not r.get("template")
    ]
    return {**raw, "ha": {**raw.get("ha", {}), "resources": [{"sid": s, "state": "started"} for s in sids]}}


FILL = 0.65  # memory in use ÷ cluster memory: the generated clusters are scaled up to this


def dense(raw: dict[str, Any], fill: float = FILL) -> dict[str, Any]:
    """Scale the running guests' memory so the cluster uses `fill` of its memory: the generated
    clusters use about a third, where every failure fits trivially and headroom costs nothing."""
    resources = raw["resources"]
    size = {r["node"]: int(r["maxmem"]) for r in resources if r.get("type") == "node"}
    running = [r for r in resources if r.get("type") in ("qemu", "lxc") and r.get("status") == "running"]
    per_node: dict[str, int] = {}
    for r in running:
        per_node[r["node"]] = per_node.get(r["node"], 0) + int(r.get("mem", 0))
    used = sum(per_node.values())
    factor = fill * sum(size.values()) / used if used else 1.0
    # no node past 92 % of its memory: an overloaded node is not what this measures
    factor = min([factor, *(0.92 * size[n] / m for n, m in per_node.items() if m > 0)])
    scaled = [
        {**r, "mem": int(int(r["mem"]) * factor), "maxmem": int(int(r["maxmem"]) * factor)}
        if r in running
        else r
        for r in resources
    ]
    return {**raw, "resources": scaled}


def measure(nodes: int, guests: int) -> list[dict[str, Any]]:
    generated = generate_scenario(GenerateOptions(nodes=nodes, guests=guests, seed=7, skew=0.6))
    raw = all_ha(dense(generated))
    raw["sim"] = {**raw.get("sim", {}), "start_time": START}  # the same metrics every run
    scn = parse_scenario(raw)
    cluster = SimCluster.from_scenario(scn, seed=7, time_scale=0.0)
    rows = []
    for mode in MODES:
        config = _config(mode)
        snap = collect_snapshot(InProcessApi(cluster), config, cluster.clock.now())
        problem = PlanningProblem(
            snap, derive_constraints(snap, config, frozenset()), policy_from_config(config), {}, snap.taken_at
        )
        t0 = time.process_time()
        plan = plan_cycle(problem)
        seconds = time.process_time() - t0
        before = report_of(problem, state_after(problem, []))
        after = report_of(problem, state_after(problem, plan.migrations))
        rows.append(
            {
                "mode": mode,
                "seconds": seconds,
                "moves": len(plan.migrations),
                "gib": plan.bytes_to_copy / GIB,
                "spread": plan.imbalance_after,
                "spread_before": plan.imbalance_before,
                "bad_before": sum(not f.fits for f in before.failures),
                "bad_after": sum(not f.fits for f in after.failures),
                "short_after": after.overflow_bytes / GIB,
                "short_before": before.overflow_bytes / GIB,
                "ha": sum(1 for g in snap.guests if g.ha_state),
            }
        )
    return rows


def print_failover_cost() -> None:
    print(
        "\n## Failover headroom: cost of prefer / require (pure planner, generated clusters, all running "
        "guests HA, 65 % memory in use)\n"
    )
    print(
        "| cluster | HA guests | mode | planning | moves | GiB to copy (extra) | spread before → after "
        "| failures not fitting before → after | HA memory without room before → after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for nodes, guests in SIZES:
        rows = measure(nodes, guests)
        base = rows[0]
        for r in rows:
            extra = r["gib"] - base["gib"]
            print(
                f"| {nodes} × {guests} | {r['ha']} | {r['mode']} | {r['seconds'] * 1000:.0f} ms "
                f"| {r['moves']} | {r['gib']:.1f} ({extra:+.1f}) "
                f"| {r['spread_before']:.1f} → {r['spread']:.1f} pp | {r['bad_before']} → {r['bad_after']} "
                f"| {r['short_before']:.1f} → {r['short_after']:.1f} GiB |",
                flush=True,
            )


if __name__ == "__main__":
    print_failover_cost()
