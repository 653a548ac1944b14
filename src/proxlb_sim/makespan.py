"""A lower bound on how long a set of migrations takes under the simulator's model. Pure.

The model (engine.py, migrate.py): a migration runs a fixed setup, copies its local disks (at most
`disk_bandwidth_mib`) and, for a live VM migration, its memory over the links of its source and its
target, which every concurrent transfer touching a node shares; then a fixed finish. Containers
restart-migrate and offline guests copy no memory; an HA-managed guest first waits for the HA
stack. Whatever the order, the migrations cannot all end before the largest of:

- the busiest link: bytes through one node ÷ link bandwidth;
- the longest single migration, running alone;
- the lanes: Σ durations-alone ÷ the concurrency allowed (globally, per source, per target).

`make bench` divides the simulated duration of an evacuation by this bound (the evacuation ratio),
and tests use it to check that the executor keeps its lanes busy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from proxlb_sim.cluster import SimCluster
from proxlb_sim.state import SimGuest, parse_disk

MIB = 1024**2


@dataclass(frozen=True, slots=True)
class Transfer:
    """One migration as the bound sees it."""

    source: str
    target: str
    link_bytes: float  # bytes through the source's and the target's link
    alone_s: float  # duration when nothing else runs


@dataclass(frozen=True, slots=True)
class Lanes:
    """The executor's concurrency limits (parallel_jobs, max_node_outflow, max_node_inflow)."""

    jobs: int
    outflow: int
    inflow: int


def transfer(cluster: SimCluster, guest: SimGuest, source: str, target: str) -> Transfer:
    """`guest` (in its state before the move) migrating from `source` to `target`."""
    s = cluster.settings
    link = s.link_bandwidth_mib * MIB
    disk_rate = min(s.disk_bandwidth_mib * MIB, link)
    disks = 0.0
    for key, value in guest.config.items():
        disk = parse_disk(key, value)
        if disk and not disk.cdrom and not cluster.is_shared(disk.storage):
            disks += disk.size
    live = guest.kind == "qemu" and guest.running
    if live:
        fixed = s.migration_overhead_s
    elif guest.kind == "lxc" and guest.running:
        fixed = s.ct_shutdown_s + s.ct_start_s
    else:
        fixed = s.offline_overhead_s
    if guest.sid in cluster.ha_resources:  # the hamigrate task, then the CRM's delay
        fixed += s.hamigrate_s + s.ha_delay_s
    memory = float(guest.mem) if live else 0.0
    return Transfer(source, target, disks + memory, fixed + disks / disk_rate + memory / link)


def lower_bound(cluster: SimCluster, transfers: Iterable[Transfer], lanes: Lanes) -> float:
    """Seconds that no schedule of `transfers` within `lanes` can beat (0 when there are none)."""
    jobs = list(transfers)
    if not jobs:
        return 0.0
    link = cluster.settings.link_bandwidth_mib * MIB
    through: dict[str, float] = {}
    out: dict[str, float] = {}
    into: dict[str, float] = {}
    for j in jobs:
        through[j.source] = through.get(j.source, 0.0) + j.link_bytes
        through[j.target] = through.get(j.target, 0.0) + j.link_bytes
        out[j.source] = out.get(j.source, 0.0) + j.alone_s
        into[j.target] = into.get(j.target, 0.0) + j.alone_s
    width = max(1, lanes.jobs)
    bounds = [
        max(through.values()) / link,
        sum(j.alone_s for j in jobs) / width,
        max(out.values()) / min(max(1, lanes.outflow), width),
        max(into.values()) / min(max(1, lanes.inflow), width),
    ]
    bounds.extend(j.alone_s for j in jobs)
    return max(bounds)
