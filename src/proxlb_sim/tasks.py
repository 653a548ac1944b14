"""Tasks of the simulated cluster: UPIDs, logs, status, and the task list with PVE's filters.

Invariants: a UPID is `UPID:node:%08X:%08X:%08X:type:id:user:` (upper hex, trailing colon); a task
is `running` until `finish()` sets `stopped` with `exitstatus` = 'OK' or the error text; log lines are
only appended, stamped with virtual time, and end with `TASK OK` / `TASK ERROR: <msg>`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from proxlb_sim.pveerror import PveError

UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):"
    r"([^:\s/]+):([^:\s/]*):([^:\s/]+):$"
)


def whole_seconds(t: float) -> int:
    """`t` truncated to a second, tolerant of float noise: the same instant reached through a
    different split of engine steps may be 11.99999 instead of 12.0 and must show the same second."""
    return int(t + 1e-4)


def stamp(t: float) -> str:
    """PVE's log timestamp for virtual time `t` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole_seconds(t)))


@dataclass
class Task:
    upid: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str  # may include '!tokenid'
    status: str = "running"
    exitstatus: str | None = None
    endtime: int | None = None
    log: list[str] = field(default_factory=list)

    def add(self, t: float, text: str) -> None:
        self.log.append(f"{stamp(t)} {text}")

    def finish(self, t: float, error: str | None = None) -> None:
        """Stop the task: OK, or with `error` as exit status."""
        self.log.append("TASK OK" if error is None else f"TASK ERROR: {error}")
        self.status = "stopped"
        self.exitstatus = "OK" if error is None else error
        self.endtime = whole_seconds(t)

    def _who(self) -> dict[str, Any]:
        user, _, token = self.user.partition("!")
        return {"user": user, "tokenid": token} if token else {"user": user}

    def _base(self, with_process: bool) -> dict[str, Any]:
        """Fields every task view shares, in PVE's order (pid/pstart only where PVE shows them)."""
        out: dict[str, Any] = {"upid": self.upid, "node": self.node}
        if with_process:
            out.update(pid=self.pid, pstart=self.pstart)
        out.update(starttime=self.starttime, type=self.type, id=self.id)
        out.update(self._who())
        return out

    def status_view(self) -> dict[str, Any]:
        """`GET /nodes/{node}/tasks/{upid}/status`."""
        out = self._base(with_process=True)
        out["status"] = self.status
        if self.status == "stopped":
            out["exitstatus"] = self.exitstatus
        return out

    def list_view(self) -> dict[str, Any]:
        """Entry of `GET /nodes/{node}/tasks`."""
        out = self._base(with_process=True)
        if self.status == "running":
            out["status"] = "RUNNING"
        else:
            out["endtime"] = self.endtime
            out["status"] = self.exitstatus
        return out

    def cluster_view(self) -> dict[str, Any]:
        """Entry of `GET /cluster/tasks` (no pstart; running: pid, finished: endtime/status/saved)."""
        out = self._base(with_process=False)
        if self.status == "running":
            out.update(pid=self.pid, saved=0)
        else:
            out.update(endtime=self.endtime, status=self.exitstatus, saved="1")
        return out


def _status_class(task: Task) -> str:
    """PVE::Tools::upid_normalize_status_type: no status (running) and 'unexpected status' are unknown."""
    if not task.exitstatus or task.exitstatus == "unexpected status":
        return "unknown"
    if task.exitstatus == "OK":
        return "ok"
    if task.exitstatus and task.exitstatus.startswith("WARNINGS"):
        return "warning"
    return "error"


def _filter_user(task: Task) -> str:
    """The user a task filter sees: archived tasks without their token id (PVE splits it off)."""
    return task.user if task.status == "running" else task.user.partition("!")[0]


class TaskStore:
    """All tasks, newest last; UPIDs are unique."""

    def __init__(self, seed: int) -> None:
        self._tasks: list[Task] = []
        self._by_upid: dict[str, Task] = {}
        self._pid = 100_000 + (seed * 7919) % 500_000

    def new(self, node: str, boot_time: float, now: float, type_: str, id_: str, user: str) -> Task:
        """Create and register a running task on `node` started at virtual time `now`."""
        self._pid += 1 + (self._pid % 7)
        pstart = int(max(0.0, now - boot_time) * 100)
        start = int(now)
        upid = f"UPID:{node}:{self._pid:08X}:{pstart:08X}:{start:08X}:{type_}:{id_}:{user}:"
        task = Task(upid, node, self._pid, pstart, start, type_, id_, user)
        self._tasks.append(task)
        self._by_upid[upid] = task
        return task

    def get(self, node: str, upid: str) -> Task:
        """The task, or PVE's 400 errors for unparsable / unknown UPIDs."""
        if not UPID_RE.match(upid):
            raise PveError.params({"upid": "unable to parse worker upid"})
        task = self._by_upid.get(upid)
        if task is None or task.node != node:
            raise PveError.params({"upid": "no such task"})
        return task

    def running(self) -> list[Task]:
        return [t for t in self._tasks if t.status == "running"]

    def all(self) -> list[Task]:
        return list(self._tasks)

    def record(
        self,
        node: str,
        boot_time: float,
        start: float,
        end: float,
        what: tuple[str, str, str],
        log: list[str],
        error: str | None = None,
    ) -> Task:
        """Register a task that already ran from `start` to `end` (seeded history); `what` is
        (type, id, user) and `log` its lines before the final `TASK OK` / `TASK ERROR`."""
        task = self.new(node, boot_time, start, *what)
        task.log.extend(log)
        task.finish(end, error)
        return task

    def node_list(self, node: str, p: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        """(total, page) for `GET /nodes/{node}/tasks` with PVE's filters (PVE/API2/Tasks.pm):
        `errors=1` drops only OK tasks and overrides `statusfilter`; a running task counts as
        `unknown`; `userfilter` is a case-insensitive substring of the user (without token id for
        archived tasks, as the index stores them)."""
        source = p.get("source", "archive")
        tasks = [t for t in reversed(self._tasks) if t.node == node]
        if source == "active":
            tasks = [t for t in tasks if t.status == "running"]
        elif source == "archive":
            tasks = [t for t in tasks if t.status != "running"]
        if p.get("userfilter"):
            wanted_user = str(p["userfilter"]).lower()
            tasks = [t for t in tasks if wanted_user in _filter_user(t).lower()]
        if p.get("typefilter"):
            tasks = [t for t in tasks if t.type == p["typefilter"]]
        if p.get("vmid"):
            tasks = [t for t in tasks if t.id == str(p["vmid"])]
        if "since" in p:
            tasks = [t for t in tasks if t.starttime >= p["since"]]
        if "until" in p:
            tasks = [t for t in tasks if t.starttime <= p["until"]]
        allowed = {"ok", "warning", "error", "unknown"}
        if p.get("errors"):
            allowed.discard("ok")
        elif "statusfilter" in p:
            allowed = {s.strip().lower() for s in str(p["statusfilter"]).split(",") if s.strip()}
        tasks = [t for t in tasks if _status_class(t) in allowed]
        # active tasks first, like PVE
        tasks.sort(key=lambda t: t.status != "running")
        start, limit = int(p.get("start", 0)), int(p.get("limit", 50))
        return len(tasks), [t.list_view() for t in tasks[start : start + limit]]

    def cluster_list(self) -> list[dict[str, Any]]:
        """`GET /cluster/tasks`: all running plus the last 25 finished per node."""
        out: list[dict[str, Any]] = []
        finished: dict[str, int] = {}
        for t in reversed(self._tasks):
            if t.status != "running":
                finished[t.node] = finished.get(t.node, 0) + 1
                if finished[t.node] > 25:
                    continue
            out.append(t.cluster_view())
        return out


def log_view(task: Task, start: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """(total, lines) of `GET .../tasks/{upid}/log`; limit 0 = all."""
    lines = task.log or ["no content"]
    chosen = lines[start:] if limit == 0 else lines[start : start + limit]
    return len(lines), [{"n": start + i + 1, "t": text} for i, text in enumerate(chosen)]
