"""Discrete-event engine of the simulator: migration tasks progressing in virtual time, and timed events.

Model: a migration runs `setup` (fixed overhead) → `transfer` (local disk bytes, then memory bytes) →
`finish` (fixed overhead). During `transfer` every migration touching a node shares that node's link
bandwidth equally; a migration's rate is the smaller of its source and target shares (disk bytes are
further capped by the disk bandwidth). Rates are recomputed whenever a migration enters or leaves the
transfer phase, so the engine integrates piecewise-constant rates between events. Deterministic: the
state after `advance(t)` depends only on the events and `t`, not on how often `advance` was called.
The guest keeps lock `migrate` until the task ends; it moves to the target only when it ends OK.
While bytes flow, the task log gets a progress line every `PROGRESS_EVERY_S` virtual seconds, in
qemu-server's wording: `drive-scsi0: transferred 1.0 GiB of 32.0 GiB (3.12%) in 5s` per local disk
(disks are copied one after the other), then `migration active, transferred 1.1 GiB of 8.0 GiB
VM-state, 1.0 GiB/s` for the memory of a live migration. Lines sit at fixed virtual instants with
values interpolated inside the constant-rate segment, so they too do not depend on read frequency.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from proxlb_sim.scenario import SimSettings
from proxlb_sim.state import SimGuest
from proxlb_sim.tasks import Task

MIB = 1024**2
GIB = 1024**3
_EPS = 1e-6
PROGRESS_EVERY_S = 1.0
_SNAP_S = 4e-6  # seconds of transfer treated as done (a few float ulps of an epoch time)


def human(n: float) -> str:
    """PVE's size rendering in migration logs (e.g. '1.1 GiB')."""
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class Migration:
    task: Task
    guest: SimGuest
    source: str
    target: str
    live: bool
    restart: bool
    setup_s: float
    finish_s: float
    disk_left: float
    mem_left: float
    started: float
    phase: str = "setup"
    phase_end: float = 0.0
    rate: float = 0.0
    hang: bool = False
    fail: bool = False
    total_disk: float = 0.0
    total_mem: float = 0.0
    transfer_started: float = 0.0
    on_end: Callable[[bool], None] | None = None
    incoming_mem: int = 0
    disks: list[str] = field(default_factory=list)
    disk_sizes: list[tuple[str, float]] = field(default_factory=list)  # (drive key, bytes), copy order
    next_log: float = 0.0
    bwlimit: float | None = None  # bytes/s (the API's `bwlimit` is KiB/s)


class EngineHost(Protocol):
    """What the engine may touch of the cluster it runs in: its settings, the state version and
    guests' run state. `SimCluster` is one; nothing here imports it (no import cycle)."""

    @property
    def settings(self) -> SimSettings: ...

    def bump(self) -> None: ...

    def set_running(self, g: SimGuest, running: bool, t: float) -> None: ...


class Engine:
    """Owns running migrations and the timed-event queue of one `SimCluster`."""

    def __init__(self, cluster: EngineHost, start: float) -> None:
        self.c = cluster
        self.t = start
        self.active: list[Migration] = []
        # What an outside observer of the cluster would see: the most migrations running at once,
        # overall and per source and target node (tests check the executor's limits against these).
        self.peak_total = 0
        self.peak_outgoing: dict[str, int] = {}
        self.peak_incoming: dict[str, int] = {}
        self._events: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    # -- events -------------------------------------------------------------------------------
    def schedule(self, at: float, action: Callable[[float], None]) -> None:
        """Run `action(t)` when virtual time reaches `at`."""
        heapq.heappush(self._events, (at, next(self._seq), action))

    def _link(self, node: str) -> float:
        return self.c.settings.link_bandwidth_mib * MIB

    def _recompute_rates(self) -> None:
        flows = [m for m in self.active if m.phase == "transfer" and not m.hang]
        count: dict[str, int] = {}
        for m in flows:
            count[m.source] = count.get(m.source, 0) + 1
            count[m.target] = count.get(m.target, 0) + 1
        disk_bw = self.c.settings.disk_bandwidth_mib * MIB
        for m in self.active:
            if m in flows:
                share = min(self._link(m.source) / count[m.source], self._link(m.target) / count[m.target])
                m.rate = min(share, disk_bw) if m.disk_left > _EPS else share
                if m.bwlimit:
                    m.rate = min(m.rate, m.bwlimit)
            else:
                m.rate = 0.0

    def _next_time(self) -> float:
        times = [e[0] for e in self._events[:1]]
        for m in self.active:
            if m.phase in ("setup", "finish"):
                times.append(m.phase_end)
            elif m.rate > 0:
                left = m.disk_left if m.disk_left > _EPS else m.mem_left
                times.append(self.t + left / m.rate)
        return min(times, default=float("inf"))

    def _log_progress(self, m: Migration, dt: float) -> None:
        """Progress lines at every `PROGRESS_EVERY_S` instant inside (t, t + dt] (constant rate)."""
        in_disk = m.disk_left > _EPS
        while m.next_log <= self.t + dt + _EPS:
            at = m.next_log
            m.next_log += PROGRESS_EVERY_S
            moved = m.rate * max(0.0, at - self.t)
            elapsed = round(at - m.transfer_started)
            if in_disk:
                done = min(m.total_disk, m.total_disk - m.disk_left + moved)
                m.task.add(at, self._disk_line(m, done, elapsed))
            elif m.live:
                done = min(m.total_mem, m.total_mem - m.mem_left + moved)
                m.task.add(
                    at,
                    f"migration active, transferred {human(done)} of {human(m.total_mem)} VM-state, "
                    f"{human(m.rate)}/s",
                )

    @staticmethod
    def _disk_line(m: Migration, done: float, elapsed: int) -> str:
        sizes = m.disk_sizes or [("disk", m.total_disk)]
        before = 0.0
        for i, (key, size) in enumerate(sizes):
            if done < before + size or i == len(sizes) - 1:
                own = max(0.0, min(size, done - before))
                pct = 100.0 * own / size if size else 100.0
                name = f"drive-{key}" if m.live else key
                return f"{name}: transferred {human(own)} of {human(size)} ({pct:.2f}%) in {elapsed}s"
            before += size
        return ""  # pragma: no cover - the loop always returns

    def _integrate(self, dt: float) -> None:
        if dt <= 0:
            return
        for m in self.active:
            if m.rate <= 0:
                continue
            if m.phase == "transfer":
                self._log_progress(m, dt)
            moved = m.rate * dt
            # a remainder worth less than a few microseconds is done: epoch floats (ulp ~0.24 µs at
            # 1.8e9 s) cannot resolve it; kept this small so where the clock was read does not matter
            if m.disk_left > _EPS:
                m.disk_left = max(0.0, m.disk_left - moved)
                if m.disk_left <= m.rate * _SNAP_S:
                    m.disk_left = 0.0
            else:
                m.mem_left = max(0.0, m.mem_left - moved)
                if m.mem_left <= m.rate * _SNAP_S:
                    m.mem_left = 0.0

    def advance(self, until: float) -> None:
        """Bring every migration and event up to virtual time `until`."""
        guard = 0
        while True:
            self._recompute_rates()
            nxt = self._next_time()
            if nxt > until:
                self._integrate(until - self.t)
                self.t = max(self.t, until)
                return
            self._integrate(max(nxt - self.t, _SNAP_S if nxt > self.t else 0.0))
            self.t = max(self.t, nxt)
            self._fire_due()
            guard += 1
            if guard > 1_000_000:  # pragma: no cover - a bug, not a state
                raise RuntimeError("simulation engine did not converge")

    def _fire_due(self) -> None:
        while self._events and self._events[0][0] <= self.t + _EPS:
            _, _, action = heapq.heappop(self._events)
            action(self.t)
        for m in list(self.active):
            if m.phase == "setup" and m.phase_end <= self.t + _EPS:
                self._enter_transfer(m)
            elif m.phase == "transfer" and m.disk_left <= _EPS and m.mem_left <= _EPS and not m.hang:
                self._leave_transfer(m)
            elif m.phase == "finish" and m.phase_end <= self.t + _EPS:
                self._complete(m)

    # -- migration life cycle --------------------------------------------------------------------
    def start(self, m: Migration) -> None:
        """Register a migration whose task and setup log lines already exist."""
        m.phase_end = self.t + m.setup_s
        m.total_disk, m.total_mem = m.disk_left, m.mem_left
        m.guest.lock = "migrate"
        self.active.append(m)
        self._observe_peaks()
        self.c.bump()

    def _observe_peaks(self) -> None:
        self.peak_total = max(self.peak_total, len(self.active))
        for node, count in Counter(a.source for a in self.active).items():
            self.peak_outgoing[node] = max(self.peak_outgoing.get(node, 0), count)
        for node, count in Counter(a.target for a in self.active).items():
            self.peak_incoming[node] = max(self.peak_incoming.get(node, 0), count)

    def _enter_transfer(self, m: Migration) -> None:
        m.phase = "transfer"
        m.transfer_started = self.t
        m.next_log = self.t + PROGRESS_EVERY_S
        t = self.t
        if m.restart and m.guest.running:
            self.c.set_running(m.guest, False, t)
            m.task.add(
                t, f"shutdown CT {m.guest.vmid}" if m.guest.kind == "lxc" else f"stopping VM {m.guest.vmid}"
            )
        if m.live:
            m.incoming_mem = m.guest.mem
            m.task.add(t, f"starting VM {m.guest.vmid} on remote node '{m.target}'")
            m.task.add(t, "start remote tunnel")
            m.task.add(t, "ssh tunnel ver 1")
        if m.disk_left > 0:
            m.task.add(t, "starting storage migration" if m.live else "copying local disk images")
            for d in m.disks:
                m.task.add(t, f"found local disk '{d}' (attached)")
        if m.live:
            m.task.add(t, f"starting online/live migration on unix:/run/qemu-server/{m.guest.vmid}.migrate")
            m.task.add(t, "migration downtime limit: 100 ms")
            m.task.add(t, f"start migrate command to unix:/run/qemu-server/{m.guest.vmid}.migrate")
        self.c.bump()

    def _leave_transfer(self, m: Migration) -> None:
        t = self.t
        spent = max(t - m.transfer_started, 1e-9)
        if m.live:
            speed = (m.total_mem + m.total_disk) / spent
            m.task.add(t, f"average migration speed: {human(speed)}/s - downtime 45 ms")
            m.task.add(t, f"migration completed, transferred {human(m.total_mem)} VM-state")
            m.task.add(t, "migration status: completed")
        if m.fail:
            self._abort(m, "online migrate failure - simulated failure (fault injection)", "phase 2")
            return
        m.phase = "finish"
        m.phase_end = t + m.finish_s
        self.c.bump()

    def _complete(self, m: Migration) -> None:
        t = self.t
        g = m.guest
        g.node = m.target
        g.lock = None
        if m.restart and g.status == "stopped":
            self.c.set_running(g, True, t)
            m.task.add(t, f"start {'container' if g.kind == 'lxc' else 'VM'} on target node '{m.target}'")
        m.task.add(t, f"migration finished successfully (duration {duration(t - m.started)})")
        m.task.finish(t)
        self.active.remove(m)
        self.c.bump()
        if m.on_end:
            m.on_end(True)

    def _abort(self, m: Migration, reason: str, phase: str) -> None:
        t = self.t
        g = m.guest
        m.task.add(t, f"ERROR: {reason}")
        m.task.add(t, f"aborting {phase} - cleanup resources")
        m.task.add(t, f"ERROR: migration aborted (duration {duration(t - m.started)}): {reason}")
        m.task.finish(t, "migration aborted")
        g.lock = None
        if m.restart and g.status == "stopped":
            self.c.set_running(g, True, t)
        self.active.remove(m)
        self.c.bump()
        if m.on_end:
            m.on_end(False)

    def abort_involving(self, node: str, reason: str) -> None:
        """Fail every migration from or to `node` (it went offline)."""
        for m in [m for m in self.active if node in (m.source, m.target)]:
            self._abort(m, reason, "phase 2" if m.phase != "setup" else "phase 1")

    def release_hang(self, vmid: int | None = None) -> None:
        """Let hung migrations continue (fault cleared)."""
        for m in self.active:
            if vmid is None or m.guest.vmid == vmid:
                m.hang = False

    def incoming_mem(self) -> dict[str, int]:
        """Memory that incoming live migrations already occupy on their target nodes."""
        out: dict[str, int] = {}
        for m in self.active:
            if m.phase != "setup" and m.incoming_mem:
                out[m.target] = out.get(m.target, 0) + m.incoming_mem
        return out
