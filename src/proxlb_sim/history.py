"""Seeded task history: what a real cluster's task list shows for the days before the simulator starts.

A real cluster is never without tasks, and clients rely on that (pvecontrol's `task list` fails on an
empty list). `seed_history` registers finished tasks of the last `history.days` (default 3), each
consistent with the scenario: a daily `aptupdate` per node (pve-daily-update), one `vzdump` per
backup job run and node (with the archives it left on the job's storage, pruned to `keep-last`),
`qmstart`/`vzstart` for guests that booted inside the window, a few `qmigrate` of running VMs onto
the node they are on now, console sessions (`vncproxy`) and one failed console start. Deterministic
for (scenario, seed); nothing happens before a node's boot.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from proxlb_sim.jobs import included_vmids
from proxlb_sim.sections import BackupJob, parse_schedule
from proxlb_sim.simstate import ClusterView
from proxlb_sim.state import BackupArchive, SimGuest, local_resources, parse_disk
from proxlb_sim.tasks import stamp

DAY = 86_400
ROOT = "root@pam"


@dataclass(frozen=True)
class _Event:
    start: float
    end: float
    node: str
    type: str
    id: str
    log: tuple[str, ...]
    error: str | None = None


def _guest_disk_bytes(g: SimGuest) -> int:
    sizes = [d.size for k, v in g.config.items() if (d := parse_disk(k, v)) is not None and not d.cdrom]
    return sum(sizes) or g.maxdisk


def _backup_runs(c: ClusterView, job: BackupJob, window: tuple[float, float]) -> list[_Event]:
    parsed = parse_schedule(job.schedule)
    if not job.enabled or parsed is None:
        return []
    days, hour, minute = parsed
    vmids = included_vmids(c, job)
    out: list[_Event] = []
    first_day = int(window[0]) - int(window[0]) % DAY
    for day in range(first_day, int(window[1]) + DAY, DAY):
        begin = day + hour * 3600 + minute * 60
        if not (window[0] <= begin < window[1]) or time.gmtime(begin).tm_wday not in days:
            continue
        for node in c.nodes:
            guests = [c.guests[v] for v in vmids if c.guests[v].node == node]
            if guests:
                out.append(_vzdump_event(c, job, node, guests, begin))
    return out


def _vzdump_event(c: ClusterView, job: BackupJob, node: str, guests: list[SimGuest], begin: int) -> _Event:
    lines = [
        f"INFO: starting new backup job: vzdump {' '.join(str(g.vmid) for g in guests)} "
        f"--storage {job.storage} --mode {job.mode} --compress {job.compress} "
        "--notes-template '{{guestname}}'"
    ]
    t = float(begin)
    for g in guests:
        took = max(8.0, _guest_disk_bytes(g) * 0.3 / (180 * 1024**2))
        kind = "qemu" if g.kind == "qemu" else "lxc"
        ext = "vma.zst" if g.kind == "qemu" else "tar.zst"
        name = f"vzdump-{kind}-{g.vmid}-{time.strftime('%Y_%m_%d-%H_%M_%S', time.gmtime(t))}.{ext}"
        lines += [
            f"INFO: Starting Backup of VM {g.vmid} ({kind})",
            f"INFO: Backup started at {stamp(t)}",
            f"INFO: creating vzdump archive '/mnt/pve/{job.storage}/dump/{name}'",
            f"INFO: Finished Backup of VM {g.vmid} ({time.strftime('%H:%M:%S', time.gmtime(took))})",
        ]
        shared = c.is_shared(job.storage)
        c.backups.append(
            BackupArchive(
                job.storage,
                None if shared else node,
                f"{job.storage}:backup/{name}",
                g.vmid,
                kind,
                int(t),
                int(_guest_disk_bytes(g) * 0.18),
                g.name,
            )
        )
        t += took
    lines.append("INFO: Backup job finished successfully")
    return _Event(begin, t + 1, node, "vzdump", "", tuple(lines))


def _prune(c: ClusterView) -> None:
    """Keep the newest `keep-last` archives per (storage, node, vmid), like the job's prune setting."""
    keep = {job.storage: job.keep_last for job in c.scenario.backup.jobs}
    groups: dict[tuple[str, str | None, int], list[BackupArchive]] = {}
    for a in c.backups:
        groups.setdefault((a.storage, a.node, a.vmid), []).append(a)
    kept = []
    for key, archives in groups.items():
        kept.extend(sorted(archives, key=lambda a: a.ctime)[-keep.get(key[0], 3) :])
    c.backups[:] = sorted(kept, key=lambda a: (a.storage, a.volid))


def _migration_event(c: ClusterView, g: SimGuest, source: str, at: float) -> _Event:
    target = c.nodes[g.node]
    took = 6.0 + g.mem / (900 * 1024**2)
    lines = (
        f"{stamp(at)} starting migration of VM {g.vmid} to node '{target.name}' ({target.ip})",
        f"{stamp(at + 1)} starting VM {g.vmid} on remote node '{target.name}'",
        f"{stamp(at + 3)} start migrate command to unix:/run/qemu-server/{g.vmid}.migrate",
        f"{stamp(at + took - 1)} migration status: completed",
        f"{stamp(at + took)} migration finished successfully "
        f"(duration {time.strftime('%H:%M:%S', time.gmtime(took))})",
    )
    return _Event(at, at + took, source, "qmigrate", str(g.vmid), lines)


def _events(c: ClusterView, rng: random.Random, window: tuple[float, float]) -> list[_Event]:
    lo, hi = window
    events: list[_Event] = []
    for node in c.nodes.values():
        for day in range(int(lo) - int(lo) % DAY, int(hi), DAY):
            at = day + 4 * 3600 + rng.randrange(3600)
            if lo <= at < hi:
                events.append(_Event(at, at + 4 + rng.random() * 8, node.name, "aptupdate", "", ()))
    for job in c.scenario.backup.jobs:
        events.extend(_backup_runs(c, job, window))
    guests = sorted(c.guests.values(), key=lambda g: g.vmid)
    for g in guests:
        if g.running and lo <= g.started_at < hi:
            kind = "qmstart" if g.kind == "qemu" else "vzstart"
            events.append(_Event(g.started_at - 2, g.started_at, g.node, kind, str(g.vmid), ()))
    movable = [
        g
        for g in guests
        if g.kind == "qemu" and g.running and not g.template and not local_resources(g.config)
    ]
    others = {g.vmid: [n for n in c.nodes if n != g.node] for g in movable}
    for g in rng.sample(movable, k=min(len(movable), max(1, len(movable) // 8))):
        if others[g.vmid]:
            moved = max(lo, g.started_at) + rng.random() * (hi - max(lo, g.started_at)) * 0.9
            events.append(_migration_event(c, g, rng.choice(others[g.vmid]), moved))
    running = [g for g in guests if g.running]
    for i, g in enumerate(rng.sample(running, k=min(len(running), max(1, len(guests) // 6)))):
        opened = lo + rng.random() * (hi - lo) * 0.95
        error = "Failed to run vncproxy." if i == 0 else None
        kind = "vncproxy" if g.kind == "qemu" else "vncshell"
        closed = opened + (2 if error else 60 + rng.random() * 900)
        events.append(_Event(opened, closed, g.node, kind, str(g.vmid), (), error))
    return events


def seed_history(c: ClusterView) -> None:
    """Register the finished tasks (and backup archives) of the days before the clock's start."""
    hi = c.clock.start - 60
    lo = hi - c.scenario.history.days * DAY
    if hi <= lo:
        return
    rng = random.Random(f"history:{c.seed}")
    events = _events(c, rng, (lo, hi))
    _prune(c)
    for e in sorted(events, key=lambda e: (e.start, e.node, e.type, e.id)):
        node = c.nodes[e.node]
        boot = c.clock.start - node.uptime0
        if e.start < boot or e.end >= c.clock.start:
            continue
        c.tasks.record(e.node, boot, e.start, e.end, (e.type, e.id, ROOT), list(e.log), e.error)
