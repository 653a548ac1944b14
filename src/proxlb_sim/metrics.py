"""Time-varying metrics of the simulated cluster: seeded noise, slow drift, PSI and RRD history.

Pure functions of (seed, entity, virtual time): the same seed and time always give the same values.
Values are piecewise constant over `stats_interval_s` buckets (like pvestatd's 10 s samples), which
also makes them cacheable. RRD rows are computed from the same functions, so history agrees with the
current values. PVE 8 nodes get PVE 8 data-source names (no pressure fields, no memavailable).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from proxlb_sim.scenario import SimSettings
from proxlb_sim.state import SimGuest, SimNode

_MASK = (1 << 64) - 1
# (step seconds, rows) per timeframe: PVE 9 RRD layout and the older pve2 layout
RRA_PVE9 = {
    "hour": (60, 60),
    "day": (60, 1440),
    "week": (1800, 336),
    "month": (1800, 1440),
    "year": (21600, 1440),
    "decade": (604800, 570),
}
RRA_PVE8 = {
    "hour": (60, 60),
    "day": (1800, 70),
    "week": (10800, 70),
    "month": (43200, 70),
    "year": (604800, 70),
    "decade": (604800, 70),
}


def unit_noise(seed: int, key: int, bucket: int) -> float:
    """Deterministic pseudo-random value in [-1, 1) (splitmix64 of seed, key and bucket)."""
    x = (seed * 0x9E3779B97F4A7C15 + key * 0xBF58476D1CE4E5B9 + bucket * 0x94D049BB133111EB) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return (x / 2**63) - 1.0


class Metrics:
    """Evaluates guest and node metrics at a virtual time."""

    def __init__(self, settings: SimSettings, seed: int) -> None:
        self.s = settings
        self.seed = seed

    def bucket(self, t: float) -> int:
        return int(t // self.s.stats_interval_s)

    def _factor(self, g: SimGuest, t: float, salt: int, scale: float) -> float:
        b = self.bucket(t)
        tb = b * self.s.stats_interval_s
        drift = self.s.drift * math.sin(2 * math.pi * (tb / self.s.drift_period_s + g.phase))
        noise = self.s.noise * unit_noise(self.seed, g.vmid * 4 + salt, b)
        return 1.0 + scale * (drift + noise)

    def guest_cpu(self, g: SimGuest, t: float) -> float:
        """CPU usage as a fraction of the guest's vCPUs (0 when not running)."""
        if not g.running or t < g.started_at:
            return 0.0
        return min(1.0, max(0.0, g.cpu_frac * self._factor(g, t, 0, 1.0)))

    def guest_mem(self, g: SimGuest, t: float) -> int:
        """Memory in use, bytes (0 when not running)."""
        if not g.running or t < g.started_at:
            return 0
        return max(0, min(g.maxmem, int(g.mem * self._factor(g, t, 1, 0.3))))

    def guest_pair(self, g: SimGuest, t: float) -> tuple[float, int]:
        """(`guest_cpu`, `guest_mem`) in one pass (same values, shared drift); the hot path of samples."""
        if not g.running or t < g.started_at:
            return 0.0, 0
        s = self.s
        b = int(t // s.stats_interval_s)
        drift = s.drift * math.sin(2 * math.pi * (b * s.stats_interval_s / s.drift_period_s + g.phase))
        cpu_factor = 1.0 + (drift + s.noise * unit_noise(self.seed, g.vmid * 4, b))
        mem_factor = 1.0 + 0.3 * (drift + s.noise * unit_noise(self.seed, g.vmid * 4 + 1, b))
        cpu = min(1.0, max(0.0, g.cpu_frac * cpu_factor))
        return cpu, max(0, min(g.maxmem, int(g.mem * mem_factor)))

    def node_psi(self, cpu: float, mem_frac: float, key: int, t: float) -> dict[str, float]:
        """PSI avg10 percentages that grow with contention."""
        jitter = abs(unit_noise(self.seed, key * 4 + 3, self.bucket(t)))
        cpu_some = 80.0 * max(0.0, cpu - 0.5) ** 2 + 0.3 * jitter
        mem_some = 200.0 * max(0.0, mem_frac - 0.85) ** 2 * 10
        io_some = 0.1 + 0.4 * jitter
        return {
            "pressurecpusome": round(cpu_some, 2),
            "pressurecpufull": round(cpu_some * 0.2, 2),
            "pressureiosome": round(io_some, 2),
            "pressureiofull": round(io_some * 0.6, 2),
            "pressurememorysome": round(mem_some, 2),
            "pressurememoryfull": round(mem_some * 0.3, 2),
        }

    def node_usage(
        self, node: SimNode, guests: Iterable[SimGuest], t: float, extra_mem: int = 0
    ) -> tuple[float, int]:
        """(cpu fraction of node cores, memory bytes used) at time `t`."""
        cores = node.base_cpu_cores
        mem = node.base_mem + extra_mem
        for g in guests:
            cores += self.guest_cpu(g, t) * g.maxcpu
            mem += self.guest_mem(g, t)
        return min(1.0, cores / node.maxcpu), min(node.maxmem, mem)


def _rows(t_now: float, timeframe: str, pve9: bool) -> tuple[int, list[int]]:
    step, count = (RRA_PVE9 if pve9 else RRA_PVE8)[timeframe]
    last = int(t_now // step) * step
    return step, [last - (count - 1 - i) * step for i in range(count)]


def _sample_times(ti: int, step: int, interval: float, cf: str) -> list[float]:
    if cf == "MAX":
        return [ti + step * f for f in (0.1, 0.5, 0.9)]
    return [ti + step / 2]


def guest_rrd(
    m: Metrics, g: SimGuest, node_pve9: bool, t_now: float, timeframe: str, cf: str
) -> list[dict[str, float]]:
    """RRD rows of one guest; rows before its start only carry the static columns."""
    step, times = _rows(t_now, timeframe, node_pve9)
    out: list[dict[str, float]] = []
    for ti in times:
        row: dict[str, float] = {
            "time": ti,
            "maxcpu": g.maxcpu,
            "maxmem": g.maxmem,
            "maxdisk": g.maxdisk,
            "disk": g.disk if g.kind == "lxc" else 0,
        }
        if g.running and ti >= g.started_at:
            pts = _sample_times(ti, step, m.s.stats_interval_s, cf)
            cpus = [m.guest_cpu(g, p) for p in pts]
            mems = [m.guest_mem(g, p) for p in pts]
            agg = max if cf == "MAX" else (lambda v: sum(v) / len(v))
            mem = float(agg(mems))
            row.update(
                cpu=round(agg(cpus), 5),
                mem=mem,
                netin=round(g.net_rate, 1),
                netout=round(g.net_rate * 0.6, 1),
                diskread=round(g.io_rate, 1),
                diskwrite=round(g.io_rate * 0.4, 1),
            )
            if node_pve9:
                row["memhost"] = mem * 1.03 if g.kind == "qemu" else 0
                psi = m.node_psi(agg(cpus), mem / g.maxmem if g.maxmem else 0.0, g.vmid, ti)
                row.update(psi)
        out.append(row)
    return out


class _NodeSeries:
    """Node usage over time in O(1) per instant: the guests' drifts sum to one sinusoid, their noise to one
    noise term of the combined amplitude (so history agrees with the current guests in level and spread)."""

    def __init__(self, m: Metrics, node: SimNode, guests: list[SimGuest]) -> None:
        self.m, self.node = m, node
        run = [g for g in guests if g.running]
        wc = [g.cpu_frac * g.maxcpu for g in run]
        wm = [float(g.mem) for g in run]
        angles = [2 * math.pi * g.phase for g in run]
        self.cpu0, self.mem0 = sum(wc), sum(wm)
        self.ac = sum(w * math.cos(a) for w, a in zip(wc, angles, strict=True))
        self.bc = sum(w * math.sin(a) for w, a in zip(wc, angles, strict=True))
        self.am = sum(w * math.cos(a) for w, a in zip(wm, angles, strict=True))
        self.bm = sum(w * math.sin(a) for w, a in zip(wm, angles, strict=True))
        self.nc = math.sqrt(sum(w * w for w in wc))
        self.nm = math.sqrt(sum(w * w for w in wm))

    def at(self, t: float) -> tuple[float, float]:
        s, m, n = self.m.s, self.m, self.node
        b = m.bucket(t)
        theta = 2 * math.pi * (b * s.stats_interval_s) / s.drift_period_s
        sin, cos = math.sin(theta), math.cos(theta)
        key = 2_000_000_000 + n.nodeid * 2
        cores = self.cpu0 + s.drift * (self.ac * sin + self.bc * cos)
        cores += s.noise * self.nc * unit_noise(m.seed, key, b)
        mem = self.mem0 + 0.3 * (
            s.drift * (self.am * sin + self.bm * cos) + s.noise * self.nm * unit_noise(m.seed, key + 1, b)
        )
        cpu = min(1.0, max(0.0, (n.base_cpu_cores + cores) / n.maxcpu))
        return cpu, float(min(n.maxmem, max(0.0, n.base_mem + mem)))


def node_rrd(
    m: Metrics, node: SimNode, guests: list[SimGuest], t_now: float, timeframe: str, cf: str
) -> list[dict[str, float]]:
    """RRD rows of one node, consistent with the guests it hosts now (history assumes they were there)."""
    step, times = _rows(t_now, timeframe, node.pve9)
    series = _NodeSeries(m, node, guests)
    net = sum(g.net_rate for g in guests if g.running)
    out: list[dict[str, float]] = []
    for ti in times:
        row: dict[str, float] = {"time": ti}
        if node.online:
            usage = [series.at(p) for p in _sample_times(ti, step, m.s.stats_interval_s, cf)]
            cpu = max(u[0] for u in usage) if cf == "MAX" else sum(u[0] for u in usage) / len(usage)
            mem = max(u[1] for u in usage) if cf == "MAX" else sum(u[1] for u in usage) / len(usage)
            row.update(
                loadavg=round(cpu * node.maxcpu * 1.1, 2),
                maxcpu=node.maxcpu,
                cpu=round(cpu, 5),
                iowait=round(0.001 + 0.004 * abs(unit_noise(m.seed, node.nodeid, int(ti))), 5),
                memtotal=node.maxmem,
                memused=round(mem),
                swaptotal=8589930496,
                swapused=0,
                roottotal=node.maxdisk,
                rootused=node.disk,
                netin=round(net, 1),
                netout=round(net * 0.6, 1),
            )
            if node.pve9:
                row.update(memavailable=round(node.maxmem - mem), arcsize=0)
                psi = m.node_psi(cpu, mem / node.maxmem, 1_000_000_000 + node.nodeid, ti)
                psi.pop("pressurecpufull")
                row.update(psi)
        out.append(row)
    if out and len(out[-1]) == 1:
        out.pop()
    return out
