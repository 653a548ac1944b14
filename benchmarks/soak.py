"""Soak: does a long-running daemon's memory stay flat? (issue #19 item 1; `make soak`, not `make test`)

A real `Daemon` runs N dry-run cycles in this process against the in-process simulator (a
generated cluster of G guests, noise on), with a real state directory, metrics and the schedule
on a virtual clock, so cycles follow each other without waiting. After each cycle the resident
set size (RSS, /proc/self/statm) is sampled after a garbage collection; the simulator's own
request log is emptied so only the daemon's growth is measured. Reported: the RSS slope in kB
per cycle after the warm-up (least squares), the state database size, and the seconds taken.

    python -m benchmarks.soak --guests 150 --cycles 1000 --warmup 100
    python -m benchmarks.soak --guests 4000 --cycles 150 --warmup 30
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from proxlb.config.model import ProxlbConfig
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import PipelineClient
from proxlb_sim.cluster import SimCluster
from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import parse_scenario
from proxlb_sim.testing import VirtualTimeClock, inprocess_client

PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024


def rss_kb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_KB


def slope(values: list[float]) -> float:
    """Least-squares slope of values over their index (per cycle)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def soak(guests: int, cycles: int, warmup: int, nodes: int) -> dict[str, Any]:
    scenario = parse_scenario(
        generate_scenario(GenerateOptions(nodes=nodes, guests=guests, seed=7, skew=0.6))
    )
    cluster = SimCluster.from_scenario(scenario, seed=7, time_scale=0.0)
    api = InProcessApi(cluster)
    client = inprocess_client(api)
    clock = VirtualTimeClock(cluster)
    signals = DaemonSignals()
    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="proxlb-soak-") as tmp:
        doc = {
            "proxmox_api": {"hosts": ["sim"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
            "balancing": {"enable": True, "balance_types": ["vm", "ct"]},
            "service": {
                "daemon": True,
                "state_dir": tmp,
                "schedule": {"interval": 1, "format": "minutes"},
                "log_level": "ERROR",
            },
        }
        path = Path(tmp) / "proxlb.yaml"
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)

        def after_cycle(_clock: VirtualTimeClock) -> None:
            api.calls.clear()  # the simulator's request log is not the daemon's memory
            gc.collect()
            samples.append(rss_kb())
            if len(samples) >= cycles:
                signals.request_stop()

        clock.hooks.append(after_cycle)

        def connect(config: ProxlbConfig, stop: threading.Event) -> PipelineClient:
            return client

        daemon = Daemon(path, signals=signals, clock=clock, apply=False, dry_run=True, connect=connect)
        started = time.perf_counter()
        daemon.run()
        seconds = time.perf_counter() - started
        db = Path(tmp) / "proxlb.sqlite3"
        db_kb = (
            sum(p.stat().st_size for p in Path(tmp).glob("proxlb.sqlite3*")) / 1024 if db.exists() else 0.0
        )
    steady = samples[warmup:]
    return {
        "guests": guests,
        "cycles": len(samples),
        "kb_per_cycle": slope(steady),
        "rss_start_mb": samples[warmup] / 1024 if len(samples) > warmup else 0.0,
        "rss_end_mb": samples[-1] / 1024 if samples else 0.0,
        "db_kb": db_kb,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, nargs="+", default=[150, 4000])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=8)
    args = parser.parse_args(argv)
    print("| guests | cycles | kB/cycle after warm-up | RSS after warm-up → end | state DB | seconds |")
    print("|---|---|---|---|---|---|")
    for guests in args.guests:
        cycles = args.cycles if guests <= 1000 else max(args.warmup + 20, args.cycles // 4)
        r = soak(guests, cycles, min(args.warmup, cycles // 2), args.nodes)
        print(
            f"| {r['guests']} | {r['cycles']} | {r['kb_per_cycle']:.1f} | "
            f"{r['rss_start_mb']:.0f} → {r['rss_end_mb']:.0f} MB | {r['db_kb']:.0f} kB | "
            f"{r['seconds']:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
