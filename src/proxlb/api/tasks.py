"""Typed views of PVE task, precondition, version and permission JSON. Pure; no I/O.

Invariants: odd or missing fields never raise — they give conservative values (a task we cannot
read is still 'running' until the caller's timeout; a precondition we cannot read allows the move
and lets PVE itself refuse).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REQUIRED_PRIVILEGES: tuple[str, ...] = ("Datastore.Audit", "Sys.Audit", "VM.Audit", "VM.Migrate")
OPTIONAL_PRIVILEGES: tuple[str, ...] = ("Pool.Audit",)

_VERSION_RE = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?")
# QemuMigrate/LXC Migrate log line naming the destination; HA's request line names it too
_DESTINATION_RE = re.compile(
    r"(?:starting migration of (?:VM|CT) \d+ to node '([^']+)'"
    r"|Requesting HA (?:migration|relocate) for (?:VM|CT) \d+ to node (\S+))"
)
MIGRATE_TASK_TYPES = frozenset({"qmigrate", "vzmigrate", "hamigrate"})


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """A PVE task: running, or stopped with `exitstatus` ('OK' means success; anything else failed)."""

    upid: str
    node: str
    task_type: str
    running: bool
    exitstatus: str | None = None
    starttime: int = 0

    @property
    def ok(self) -> bool:
        return not self.running and self.exitstatus == "OK"


@dataclass(frozen=True, slots=True)
class Precondition:
    """PVE's answer to 'may this guest migrate to target?' plus a human reason when not."""

    allowed: bool
    reason: str = ""
    running: bool | None = None
    local_disks: bool = False


def parse_task_status(upid: str, node: str, data: Any) -> TaskStatus:
    if not isinstance(data, Mapping):
        return TaskStatus(upid=upid, node=node, task_type=upid_type(upid), running=True)
    status = str(data.get("status", "running"))
    exitstatus = data.get("exitstatus")
    return TaskStatus(
        upid=upid,
        node=node,
        task_type=str(data.get("type") or upid_type(upid)),
        running=status == "running",
        exitstatus=None if exitstatus is None else str(exitstatus),
        starttime=_int(data.get("starttime")),
    )


def upid_type(upid: str) -> str:
    parts = upid.split(":")
    return parts[5] if len(parts) >= 9 else ""


def upid_node(upid: str) -> str:
    parts = upid.split(":")
    return parts[1] if len(parts) >= 9 else ""


def upid_starttime(upid: str) -> int:
    parts = upid.split(":")
    try:
        return int(parts[4], 16) if len(parts) >= 9 else 0
    except ValueError:
        return 0


def pick_followup_task(tasks: Any, vmid: int, task_type: str, since: float) -> str | None:
    """The newest task of `task_type` for `vmid` started at or after `since` (epoch seconds)."""
    best: tuple[int, str] | None = None
    for entry in tasks if isinstance(tasks, list) else []:
        if not isinstance(entry, Mapping):
            continue
        if str(entry.get("type")) != task_type or str(entry.get("id")) != str(vmid):
            continue
        start = _int(entry.get("starttime"))
        upid = entry.get("upid")
        if start + 1 < since or not isinstance(upid, str):
            continue
        if best is None or start > best[0]:
            best = (start, upid)
    return None if best is None else best[1]


def running_migration_task(tasks: Any, vmid: int) -> tuple[str, str] | None:
    """(upid, node) of the newest still-running migrate task of `vmid` in a task list.

    Accepts `GET /cluster/tasks` (running entries have no `endtime`) and `GET /nodes/{node}/tasks`
    (running entries have `status: RUNNING`). Any actor's task counts: ours, another tool's, HA's.
    """
    best: tuple[int, str, str] | None = None
    for entry in tasks if isinstance(tasks, list) else []:
        if not isinstance(entry, Mapping) or str(entry.get("id")) != str(vmid):
            continue
        upid = entry.get("upid")
        if str(entry.get("type")) not in MIGRATE_TASK_TYPES or not isinstance(upid, str):
            continue
        status = entry.get("status")
        if entry.get("endtime") is not None or (status is not None and str(status).upper() != "RUNNING"):
            continue
        start = _int(entry.get("starttime"))
        if best is None or start > best[0]:
            best = (start, upid, str(entry.get("node") or upid_node(upid)))
    return None if best is None else (best[1], best[2])


def migration_destination(log: Any) -> str | None:
    """The destination node named in a migrate task's log (`GET .../tasks/{upid}/log` lines)."""
    for entry in log if isinstance(log, list) else []:
        text = entry.get("t") if isinstance(entry, Mapping) else entry
        match = _DESTINATION_RE.search(str(text))
        if match:
            return match.group(1) or match.group(2)
    return None


def parse_precondition(kind: str, target: str, data: Any, with_local_disks: bool) -> Precondition:
    """Interpret GET .../{qemu|lxc}/{vmid}/migrate for one target (qemu uses `_`, lxc `-` keys)."""
    if not isinstance(data, Mapping):
        return Precondition(True)
    sep = "_" if kind == "qemu" else "-"
    running_raw = data.get("running")
    running = None if running_raw is None else bool(_int(running_raw))
    allowed_nodes = data.get(f"allowed{sep}nodes")
    not_allowed = data.get(f"not{sep}allowed{sep}nodes")
    local_disks = [d for d in data.get("local_disks") or [] if isinstance(d, Mapping)]
    has_local = any(not _int(d.get("cdrom")) and not _int(d.get("is_unused")) for d in local_disks)
    if isinstance(not_allowed, Mapping) and isinstance(not_allowed.get(target), Mapping):
        why = not_allowed[target]
        parts: list[str] = []
        for key, value in sorted(why.items()):
            if value:
                parts.append(f"{key}: {_describe(value)}")
        if parts:
            return Precondition(False, "PVE refuses target: " + "; ".join(parts), running, has_local)
    listed_elsewhere = isinstance(not_allowed, Mapping) and target in not_allowed
    if (
        isinstance(allowed_nodes, list)
        and allowed_nodes
        and target not in allowed_nodes
        and not listed_elsewhere
    ):
        return Precondition(False, f"PVE does not list {target} among allowed nodes", running, has_local)
    local_resources = [str(r) for r in data.get("local_resources") or []]
    if local_resources:
        return Precondition(
            False, "local resources pin it: " + ", ".join(sorted(local_resources)), running, has_local
        )
    if has_local and running and not with_local_disks:
        return Precondition(False, "running VM has local disks and with_local_disks is off", running, True)
    return Precondition(True, "", running, has_local)


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v.get("sid", v)) if isinstance(v, Mapping) else str(v) for v in value)
    return str(value)


def parse_version(data: Any) -> tuple[int, int, int] | None:
    """'9.2.11' → (9, 2, 11); None when unreadable."""
    text = data.get("version") if isinstance(data, Mapping) else data
    if not isinstance(text, str):
        return None
    match = _VERSION_RE.match(text.strip())
    if not match:
        return None
    return (int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0))


def missing_privileges(data: Any) -> tuple[str, ...]:
    """Required privileges absent from every path of GET /access/permissions."""
    granted: set[str] = set()
    if isinstance(data, Mapping):
        for privs in data.values():
            if isinstance(privs, Mapping):
                granted.update(str(p) for p in privs)
    return tuple(p for p in REQUIRED_PRIVILEGES if p not in granted)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
