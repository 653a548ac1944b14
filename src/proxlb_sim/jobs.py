"""Scheduled jobs of the simulated cluster: vzdump backup jobs and storage replication jobs.

Backup jobs follow pve-manager `PVE/API2/Backup.pm` (index with `next-run`) and
`PVE/API2/Cluster/BackupInfo.pm` (guests covered by no job, enabled or not, like
`get_included_vmids`); replication follows `PVE/API2/ReplicationConfig.pm` (cluster job list) and
`PVE/API2/Replication.pm` (per-node status: jobs whose guest lives on that node). Pure functions of
the cluster state and the virtual time; callers hold the cluster lock.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from proxlb_sim.pveerror import PveError
from proxlb_sim.sections import BackupJob, ReplicationJob, parse_schedule
from proxlb_sim.simstate import ClusterView

REPLICATION_PERIOD_S = 900


def backup_job_id(job: BackupJob, index: int) -> str:
    """The job's id, or a stable PVE-style `backup-xxxxxxxx-xxxx` one."""
    if job.id:
        return job.id
    digest = hashlib.sha1(f"backup-job-{index}".encode()).hexdigest()
    return f"backup-{digest[:8]}-{digest[8:12]}"


def next_run(schedule: str, t: float) -> int:
    """The next start of a `[dow] HH:MM` calendar event after `t` (UTC)."""
    parsed = parse_schedule(schedule)
    assert parsed is not None  # validated with the scenario
    days, hour, minute = parsed
    day0 = int(t) - int(t) % 86_400
    for offset in range(8):
        start = day0 + offset * 86_400 + hour * 3600 + minute * 60
        weekday = time.gmtime(start).tm_wday
        if start > t and weekday in days:
            return start
    return day0 + 8 * 86_400  # unreachable: some weekday always matches within a week


def included_vmids(c: ClusterView, job: BackupJob) -> list[int]:
    """Guests a vzdump job selects (like PVE::VZDump::get_included_guests)."""
    guests = sorted(c.guests.values(), key=lambda g: g.vmid)
    if job.node is not None:
        guests = [g for g in guests if g.node == job.node]
    if job.pool is not None:
        pool = c.pools.get(job.pool)
        members = set(pool.members) if pool else set()
        return [g.vmid for g in guests if str(g.vmid) in members]
    if job.all:
        excluded = set((job.exclude or "").split(","))
        return [g.vmid for g in guests if str(g.vmid) not in excluded]
    wanted = set((job.vmid or "").split(","))
    return [g.vmid for g in guests if str(g.vmid) in wanted]


def backup_jobs(c: ClusterView, t: float) -> list[dict[str, Any]]:
    """`GET /cluster/backup`."""
    out = []
    for index, job in enumerate(c.scenario.backup.jobs):
        entry: dict[str, Any] = {
            "id": backup_job_id(job, index),
            "type": "vzdump",
            "schedule": job.schedule,
            "storage": job.storage,
            "mode": job.mode,
            "compress": job.compress,
            "enabled": job.enabled,
            "notes-template": "{{guestname}}",
            "prune-backups": f"keep-last={job.keep_last}",
            "fleecing": "enabled=0",
        }
        if job.all:
            entry["all"] = 1
        for key in ("vmid", "exclude", "pool", "node", "comment"):
            value = getattr(job, key)
            if value is not None:
                entry[key] = value
        if job.enabled:
            entry["next-run"] = next_run(job.schedule, t)
        out.append(entry)
    return out


def backup_job(c: ClusterView, jobid: str, t: float) -> dict[str, Any]:
    """`GET /cluster/backup/{id}` (without the computed `next-run`)."""
    for entry in backup_jobs(c, t):
        if entry["id"] == jobid:
            entry.pop("next-run", None)
            return entry
    raise PveError(500, f"job '{jobid}' does not exist")


def not_backed_up(c: ClusterView) -> list[dict[str, Any]]:
    """`GET /cluster/backup-info/not-backed-up`: guests no vzdump job selects (name from the config)."""
    covered = {v for job in c.scenario.backup.jobs for v in included_vmids(c, job)}
    out = []
    for g in sorted(c.guests.values(), key=lambda g: g.vmid):
        if g.vmid in covered:
            continue
        entry: dict[str, Any] = {"vmid": g.vmid, "type": g.kind}
        name = g.config.get("name" if g.kind == "qemu" else "hostname")
        if name is not None:
            entry["name"] = str(name)
        out.append(entry)
    return out


def _job_id(job: ReplicationJob) -> str:
    return f"{job.guest}-{job.jobnum}"


def replication_config(c: ClusterView) -> list[dict[str, Any]]:
    """`GET /cluster/replication`: job configurations."""
    return [_job_entry(c, job) for job in c.scenario.replication]


def _job_entry(c: ClusterView, job: ReplicationJob) -> dict[str, Any]:
    """A job's configuration as PVE lists it; `source` is the guest's current node (when known)."""
    entry: dict[str, Any] = {
        "id": _job_id(job),
        "type": "local",
        "target": job.target,
        "guest": job.guest,
        "jobnum": job.jobnum,
        "schedule": job.schedule,
    }
    for key in ("rate", "comment", "disable"):
        value = getattr(job, key)
        if value is not None:
            entry[key] = value
    g = c.guests.get(job.guest)
    if g is not None:
        entry["source"] = g.node
    return entry


def _job_state(c: ClusterView, job: ReplicationJob, t: float) -> dict[str, Any]:
    """A job's state: synced every 15 minutes, the last sync in the current period (seeded offset)."""
    g = c.guests[job.guest]
    digest = hashlib.blake2b(f"{c.seed}:repl:{_job_id(job)}".encode(), digest_size=4).digest()
    offset = int.from_bytes(digest, "big") % REPLICATION_PERIOD_S
    last_try = int((t - offset) // REPLICATION_PERIOD_S * REPLICATION_PERIOD_S + offset)
    duration = round(1.5 + g.maxdisk / 1024**4 * 20 + offset % 7 / 3, 6)
    state = _job_entry(c, job)
    state |= {
        "vmtype": g.kind,
        "last_try": last_try,
        "last_sync": last_try if not job.fail_count else last_try - job.fail_count * REPLICATION_PERIOD_S,
        "fail_count": job.fail_count,
        "duration": duration,
        "next_sync": last_try + REPLICATION_PERIOD_S,
    }
    if job.fail_count:
        state["error"] = job.error or "command 'zfs snapshot' failed: got timeout"
    if job.disable:
        state.pop("next_sync")
    return state


def replication_status(c: ClusterView, node: str, t: float, guest: int | None) -> list[dict[str, Any]]:
    """`GET /nodes/{node}/replication`: jobs of the guests on that node, sorted by id."""
    jobs = [
        j
        for j in c.scenario.replication
        if j.guest in c.guests and c.guests[j.guest].node == node and guest in (None, j.guest)
    ]
    return [_job_state(c, j, t) for j in sorted(jobs, key=_job_id)]


def replication_job_status(c: ClusterView, node: str, jobid: str, t: float) -> dict[str, Any]:
    """`GET /nodes/{node}/replication/{id}/status`."""
    for state in replication_status(c, node, t, None):
        if state["id"] == jobid:
            return state
    raise PveError(500, f"no such replication job '{jobid}'")
