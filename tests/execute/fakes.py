"""A fake clock and a scripted in-memory cluster speaking the executor's client protocol."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from proxlb.api.tasks import Precondition, TaskStatus
from proxlb.domain import GuestKind, Migration, MigrationReason, VmId
from proxlb.errors import ApiError

GIB = 1024**3


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self.on_sleep: list[Any] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float, stop_event: threading.Event) -> bool:
        if stop_event.is_set():
            return True
        self.sleeps.append(seconds)
        assert len(self.sleeps) < 100_000, "executor loop does not terminate"
        self.t += max(seconds, 0.001)
        for hook in list(self.on_sleep):
            hook(self.t)
        return stop_event.is_set()


@dataclass
class G:
    node: str
    kind: str = "qemu"
    status: str = "running"
    mem: int = 2 * GIB
    lock: str | None = None
    ha: bool = False


@dataclass
class N:
    maxmem: int = 64 * GIB
    base_mem: int = 4 * GIB
    online: bool = True
    version: tuple[int, int, int] = (9, 1, 0)


@dataclass
class Task:
    upid: str
    node: str
    vmid: int
    kind: str
    target: str
    start: float
    end: float | None  # None = hangs
    exitstatus: str = "OK"
    followup_delay: float = 3.0


@dataclass
class FakeCluster:
    clock: FakeClock
    nodes: dict[str, N]
    guests: dict[int, G]
    durations: dict[int, float] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    hangs: set[int] = field(default_factory=set)
    refuse: dict[int, str] = field(default_factory=dict)
    precondition_refuse: dict[int, str] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    writes: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    active: list[tuple[str, str]] = field(default_factory=list)
    max_mem_ratio: dict[str, float] = field(default_factory=dict)
    down: bool = False
    seq: int = 0

    # -- state ---------------------------------------------------------------------------------
    def node_mem(self, name: str) -> int:
        n = self.nodes[name]
        used = sum(g.mem for g in self.guests.values() if g.node == name and g.status == "running")
        incoming = sum(
            self.guests[t.vmid].mem
            for t in self.tasks.values()
            if t.target == name
            and t.end is not None
            and t.kind in ("qmigrate", "vzmigrate")
            and t.start <= self.clock.t < t.end
        )
        return n.base_mem + used + incoming

    def advance(self, now: float) -> None:
        for task in list(self.tasks.values()):
            if task.end is None or task.end > now or getattr(task, "applied", False):
                continue
            task.applied = True  # type: ignore[attr-defined]
            g = self.guests[task.vmid]
            if task.kind == "hamigrate":
                self._spawn(
                    task.node,
                    task.vmid,
                    "qmigrate" if g.kind == "qemu" else "vzmigrate",
                    task.target,
                    task.end + task.followup_delay,
                )
                continue
            g.lock = None
            if task.exitstatus == "OK":
                g.node = task.target
        for name in self.nodes:
            ratio = self.node_mem(name) / self.nodes[name].maxmem
            self.max_mem_ratio[name] = max(self.max_mem_ratio.get(name, 0.0), ratio)

    def _spawn(self, node: str, vmid: int, kind: str, target: str, start: float) -> str:
        self.seq += 1
        upid = f"UPID:{node}:{self.seq:08X}:00000000:{int(start):08X}:{kind}:{vmid}:root@pam:"
        dur = self.durations.get(vmid, 10.0)
        end = (
            None
            if (vmid in self.hangs and kind != "hamigrate")
            else start + (1.0 if kind == "hamigrate" else dur)
        )
        status = "OK" if kind == "hamigrate" else self.failures.get(vmid, "OK")
        self.tasks[upid] = Task(upid, node, vmid, kind, target, start, end, status)
        if kind != "hamigrate":
            self.guests[vmid].lock = "migrate"
        return upid

    # -- client protocol -------------------------------------------------------------------------
    def _check(self) -> None:
        if self.down:
            raise ApiError("no Proxmox API host answered", 0, "/")

    def get(self, path: str, **params: Any) -> Any:
        self._check()
        self.reads.append(path)
        if path == "/cluster/status":
            online = sum(1 for n in self.nodes.values() if n.online)
            return [{"type": "cluster", "name": "fake", "quorate": int(online * 2 > len(self.nodes))}]
        assert path == "/cluster/resources"
        out: list[dict[str, Any]] = []
        for vmid, g in self.guests.items():
            out.append(
                {
                    "type": g.kind,
                    "vmid": vmid,
                    "node": g.node,
                    "status": g.status,
                    "mem": g.mem,
                    "maxmem": g.mem * 2,
                    **({"lock": g.lock} if g.lock else {}),
                }
            )
        for name, n in self.nodes.items():
            out.append(
                {
                    "type": "node",
                    "node": name,
                    "status": "online" if n.online else "offline",
                    "mem": self.node_mem(name),
                    "maxmem": n.maxmem,
                }
            )
        return out

    def _migrate(self, node: str, vmid: int, target: str, kind: str, params: dict[str, Any]) -> str:
        self._check()
        self.writes.append((node, vmid, {"target": target, **params}))
        if vmid in self.refuse:
            raise ApiError(self.refuse[vmid], 500, f"/nodes/{node}/{kind}/{vmid}/migrate")
        g = self.guests[vmid]
        assert g.node == node and not g.lock, "migration started for a guest not on its source or locked"
        t = "hamigrate" if g.ha else ("qmigrate" if kind == "qemu" else "vzmigrate")
        return self._spawn(node, vmid, t, target, self.clock.t)

    def migrate_qemu(
        self,
        node: str,
        vmid: int,
        target: str,
        *,
        online: bool,
        with_local_disks: bool,
        with_conntrack_state: bool = False,
    ) -> str:
        return self._migrate(
            node,
            vmid,
            target,
            "qemu",
            {"online": online, "with_local_disks": with_local_disks, "conntrack": with_conntrack_state},
        )

    def migrate_lxc(self, node: str, vmid: int, target: str, *, restart: bool = True) -> str:
        return self._migrate(node, vmid, target, "lxc", {"restart": restart})

    def task_status(self, node: str, upid: str) -> TaskStatus:
        self._check()
        t = self.tasks[upid]
        assert node == t.node
        running = t.end is None or self.clock.t < t.end
        return TaskStatus(upid, node, t.kind, running, None if running else t.exitstatus, int(t.start))

    def find_ha_followup_task(self, node: str, vmid: int, kind: str, since: float) -> str | None:
        self._check()
        want = "qmigrate" if kind == "qemu" else "vzmigrate"
        for t in self.tasks.values():
            if t.kind == want and t.vmid == vmid and t.start >= since and t.start <= self.clock.t:
                return t.upid
        return None

    def migrate_precondition(
        self, node: str, kind: str, vmid: int, target: str, with_local_disks: bool = True
    ) -> Precondition:
        self._check()
        if vmid in self.precondition_refuse:
            return Precondition(False, self.precondition_refuse[vmid])
        return Precondition(True)

    def node_versions(self) -> dict[str, tuple[int, int, int] | None]:
        return {k: v.version for k, v in self.nodes.items()}

    def guest_location(self, vmid: int) -> tuple[str, str | None] | None:
        g = self.guests.get(vmid)
        return None if g is None else (g.node, g.lock)


def mig(
    vmid: int,
    source: str,
    target: str,
    *,
    kind: GuestKind = GuestKind.QEMU,
    step: int = 0,
    depends_on: tuple[int, ...] = (),
    reason: MigrationReason = MigrationReason.DRAIN,
) -> Migration:
    return Migration(
        vmid=VmId(vmid),
        name=f"g{vmid}",
        kind=kind,
        source=source,
        target=target,
        reason=reason,
        detail="test",
        step=step,
        depends_on=tuple(VmId(d) for d in depends_on),
    )


@dataclass(frozen=True)
class Peaks:
    """The most migrations the fake cluster saw running at once: overall, per source, per target."""

    total: int
    outgoing: dict[str, int]
    incoming: dict[str, int]


def observed_peaks(fc: FakeCluster) -> Peaks:
    """Concurrency as the cluster saw it, from its own task timeline (not the executor's counters).

    A task runs over [start, end); one that never ended runs until the clock's current time.
    """
    moves = [t for t in fc.tasks.values() if t.kind in ("qmigrate", "vzmigrate", "hamigrate")]
    instants = sorted({t.start for t in moves})
    total, outgoing, incoming = 0, dict[str, int](), dict[str, int]()
    for at in instants:
        running = [t for t in moves if t.start <= at < (t.end if t.end is not None else fc.clock.t + 1)]
        total = max(total, len(running))
        for key, table in ((lambda t: t.node, outgoing), (lambda t: t.target, incoming)):
            counts: dict[str, int] = {}
            for t in running:
                counts[key(t)] = counts.get(key(t), 0) + 1
            for node, n in counts.items():
                table[node] = max(table.get(node, 0), n)
    return Peaks(total, outgoing, incoming)
