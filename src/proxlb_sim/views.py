"""Read views of the simulated cluster in PVE's exact shapes (pve-api.md §4, §5, §7, §9).

Pure functions of (cluster state, sample, virtual time); callers hold the cluster lock. Units: bytes,
cpu as a fraction of the entity's own maxcpu, counters since start. Guests on an offline node keep
their entry with status 'unknown' and no statistics, as pmxcfs would show them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from proxlb_sim.cluster import SimCluster
from proxlb_sim.state import Sample, SimGuest, SimNode

_PSI = (
    "pressurecpusome",
    "pressurecpufull",
    "pressureiosome",
    "pressureiofull",
    "pressurememorysome",
    "pressurememoryfull",
)


def _counters(g: SimGuest, t: float) -> dict[str, int]:
    up = max(0.0, t - g.started_at) if g.running else 0.0
    return {
        "netin": int(g.net_rate * up),
        "netout": int(g.net_rate * 0.6 * up),
        "diskread": int(g.io_rate * up),
        "diskwrite": int(g.io_rate * 0.4 * up),
    }


def guest_entry(c: SimCluster, g: SimGuest, s: Sample, t: float, pool_member: bool = False) -> dict[str, Any]:
    """A guest entry of `/cluster/resources` (pool members omit pool/tags/lock/hastate)."""
    node = c.nodes[g.node]
    if not node.online:
        out: dict[str, Any] = {
            "id": f"{g.kind}/{g.vmid}",
            "vmid": g.vmid,
            "node": g.node,
            "type": g.kind,
            "status": "unknown",
            "name": g.name,
            "template": g.template,
        }
    else:
        cpu, mem = s.guest[g.vmid]
        running = g.running
        up = max(0.0, t - g.started_at) if running else 0.0
        qemu = g.kind == "qemu"
        out = {
            "id": f"{g.kind}/{g.vmid}",
            "vmid": g.vmid,
            "node": g.node,
            "type": g.kind,
            "status": g.status,
            "name": g.name,
            "uptime": int(up),
            "template": g.template,
            "maxcpu": g.maxcpu,
            "cpu": round(cpu, 6),
            "maxmem": g.maxmem,
            "mem": mem,
        }
        if node.pve9:
            out["memhost"] = int(mem * 1.03) if qemu else 0
        out["maxdisk"] = g.maxdisk
        out["disk"] = g.disk if (not qemu and running) else 0
        out["netin"] = int(g.net_rate * up)
        out["netout"] = int(g.net_rate * 0.6 * up)
        out["diskread"] = int(g.io_rate * up)
        out["diskwrite"] = int(g.io_rate * 0.4 * up)
    if pool_member:
        return out
    if g.lock:
        out["lock"] = g.lock
    if g.tags:
        out["tags"] = g.tags
    if g.pool:
        out["pool"] = g.pool
    hastate = c.ha_state_of(g)
    if hastate:
        out["hastate"] = hastate
    return out


def _uptime(n: SimNode, c: SimCluster, t: float) -> int:
    return int(n.uptime0 + t - c.clock.start)


def node_entry(c: SimCluster, n: SimNode, s: Sample, t: float) -> dict[str, Any]:
    """A node entry of `/cluster/resources` / `/nodes`."""
    out: dict[str, Any] = {"id": f"node/{n.name}", "node": n.name, "type": "node"}
    if not n.online:
        out.update(status="offline", level=n.level, maxcpu=n.maxcpu, maxmem=n.maxmem, maxdisk=n.maxdisk)
        out["cgroup-mode"] = 2
        return out
    cpu, mem = s.node[n.name]
    out.update(
        status="online",
        uptime=_uptime(n, c, t),
        cpu=round(cpu, 6),
        maxcpu=n.maxcpu,
        mem=mem,
        maxmem=n.maxmem,
        disk=n.disk,
        maxdisk=n.maxdisk,
        level=n.level,
    )
    out["cgroup-mode"] = 2
    if n.pve9:
        out["host-arch"] = "x86_64"
    if c.ha_resources:
        out["hastate"] = "maintenance" if n.ha_maintenance else "online"
    return out


def storage_entries(c: SimCluster, node: str | None = None) -> list[dict[str, Any]]:
    """Storage entries of `/cluster/resources`, one per (storage, node)."""
    out = []
    for s in c.storages.values():
        for name, (maxdisk, disk, status) in s.per_node.items():
            if node is not None and name != node:
                continue
            online = c.nodes[name].online
            out.append(
                {
                    "id": f"storage/{name}/{s.storage}",
                    "storage": s.storage,
                    "node": name,
                    "type": "storage",
                    "plugintype": s.plugintype,
                    "status": status if online else "unknown",
                    "shared": 1 if c.is_shared(s.storage) else 0,
                    "content": s.content,
                    "maxdisk": maxdisk,
                    "disk": disk,
                }
            )
    return out


def cluster_resources(c: SimCluster, t: float, type_filter: str | None) -> list[dict[str, Any]]:
    """`GET /cluster/resources` (cached per stats bucket and state version)."""
    s = c.sample(t)
    key = f"resources:{type_filter}"
    if key in s.cache:
        return list(s.cache[key])
    out: list[dict[str, Any]] = []
    if type_filter in (None, "vm"):
        out.extend(guest_entry(c, g, s, s.t) for g in sorted(c.guests.values(), key=lambda g: g.vmid))
    if type_filter in (None, "node"):
        out.extend(node_entry(c, n, s, s.t) for n in c.nodes.values())
    if type_filter in (None, "storage"):
        out.extend(storage_entries(c))
    if type_filter is None:
        out.extend({"id": f"/pool/{p}", "pool": p, "type": "pool"} for p in sorted(c.pools))
    if type_filter in (None, "sdn"):
        out.extend(e for e in c.scenario.other if type_filter is None or e.get("type") == "sdn")
    s.cache[key] = out
    return list(out)


def fingerprint(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def nodes_list(c: SimCluster, t: float) -> list[dict[str, Any]]:
    """`GET /nodes`: node entries plus ssl_fingerprint; offline ones without statistics."""
    s = c.sample(t)
    out = []
    for n in c.nodes.values():
        entry = node_entry(c, n, s, s.t)
        entry.pop("cgroup-mode", None)
        entry.pop("host-arch", None)
        entry.pop("hastate", None)
        if not n.online:
            entry = {k: entry[k] for k in ("id", "node", "type", "status", "level")}
        entry["ssl_fingerprint"] = fingerprint(n.name)
        out.append(entry)
    return out


def node_status(c: SimCluster, n: SimNode, t: float) -> dict[str, Any]:
    """`GET /nodes/{node}/status`."""
    cpu, mem = c.sample(t).node[n.name]
    load = cpu * n.maxcpu
    kernel = "6.14.11-4-pve" if n.pve9 else "6.8.12-9-pve"
    kver = "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4 (2025-10-10T08:04Z)"
    cores = int(n.maxcpu)
    return {
        "uptime": _uptime(n, c, t),
        "idle": 0,
        "loadavg": [f"{load * 1.05:.2f}", f"{load:.2f}", f"{load * 0.95:.2f}"],
        "cpu": round(cpu, 6),
        "wait": 0.0012,
        "kversion": f"Linux {kernel} {kver}",
        "current-kernel": {"sysname": "Linux", "release": kernel, "version": kver, "machine": "x86_64"},
        "boot-info": {"mode": "efi", "secureboot": 0},
        "cpuinfo": {
            "user_hz": 100,
            "vendor": "GenuineIntel",
            "family": "6",
            "mhz": "2000.000",
            "hvm": "1",
            "model": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
            "cpus": cores,
            "sockets": 2 if cores >= 16 else 1,
            "cores": max(1, cores // (4 if cores >= 16 else 2)),
            "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr vmx",
        },
        "memory": {
            "total": n.maxmem,
            "used": mem,
            "free": max(0, n.maxmem - mem - n.maxmem // 50),
            "available": n.maxmem - mem,
        },
        "swap": {"total": 8589930496, "used": 0, "free": 8589930496},
        "ksm": {"shared": 0},
        "rootfs": {
            "total": n.maxdisk,
            "used": n.disk,
            "avail": max(0, n.maxdisk - n.disk - n.maxdisk // 20),
            "free": n.maxdisk - n.disk,
        },
        "pveversion": f"pve-manager/{n.version}/{n.repoid}",
    }


def _psi(c: SimCluster, g: SimGuest, cpu: float, mem: int, as_str: bool) -> dict[str, Any]:
    psi = c.metrics.node_psi(cpu, mem / g.maxmem if g.maxmem else 0.0, g.vmid, c.clock.now())
    return {k: (f"{psi[k]:.2f}" if as_str else psi[k]) for k in _PSI}


def _status_head(
    g: SimGuest, t: float, cpu: float, mem: int, kind: dict[str, Any], pid_base: int
) -> dict[str, Any]:
    """The fields qemu's and lxc's vmstatus share, in PVE's order (`kind` after the vmid)."""
    out: dict[str, Any] = {"vmid": g.vmid, **kind, "name": g.name, "status": g.status}
    if g.running:
        out["pid"] = pid_base + g.vmid % 90_000
    out.update(
        uptime=int(t - g.started_at) if g.running else 0,
        cpus=g.maxcpu,
        cpu=round(cpu, 6),
        maxmem=g.maxmem,
        mem=mem,
    )
    return out


def qemu_entry(c: SimCluster, g: SimGuest, t: float, full: bool = False) -> dict[str, Any]:
    """Entry of `GET /nodes/{node}/qemu` (vmstatus)."""
    cpu, mem = c.sample(t).guest[g.vmid]
    running = g.running
    out = _status_head(g, t, cpu, mem, {}, pid_base=10_000)
    pve9 = c.nodes[g.node].pve9
    if pve9:
        out["memhost"] = int(mem * 1.03)
    counters = _counters(g, t)
    out.update(maxdisk=g.maxdisk, disk=0, netin=counters["netin"], netout=counters["netout"])
    if g.template:
        out["template"] = 1
    if g.lock:
        out["lock"] = g.lock
    if g.tags:
        out["tags"] = g.tags
    if running and pve9:
        out.update(_psi(c, g, cpu, mem, as_str=False))
    if full:
        out.update(qmpstatus=g.status, diskread=counters["diskread"], diskwrite=counters["diskwrite"])
        if running:
            out.update(balloon=g.maxmem, freemem=max(0, g.maxmem - mem))
            out["running-machine"] = "pc-i440fx-10.0+pve0" if pve9 else "pc-i440fx-9.2+pve1"
            out["running-qemu"] = "10.0.2" if pve9 else "9.2.0"
    return out


def lxc_entry(c: SimCluster, g: SimGuest, t: float) -> dict[str, Any]:
    """Entry of `GET /nodes/{node}/lxc` (PSI values are strings, as LXC's vmstatus leaves them)."""
    cpu, mem = c.sample(t).guest[g.vmid]
    running = g.running
    out = _status_head(g, t, cpu, mem, {"type": "lxc"}, pid_base=20_000)
    out.update(
        swap=0,
        maxswap=536870912,
        maxdisk=g.maxdisk,
        disk=g.disk if running else 0,
    )
    out.update(_counters(g, t))
    if g.template:
        out["template"] = 1
    if g.lock:
        out["lock"] = g.lock
    if g.tags:
        out["tags"] = g.tags
    if running and c.nodes[g.node].pve9:
        out.update(_psi(c, g, cpu, mem, as_str=True))
    return out


def guest_config(g: SimGuest) -> dict[str, Any]:
    """`GET .../{vmid}/config`: stored keys plus tags, lock and a digest."""
    conf = dict(g.config)
    if g.tags:
        conf["tags"] = g.tags
    else:
        conf.pop("tags", None)
    if g.lock:
        conf["lock"] = g.lock
    else:
        conf.pop("lock", None)
    conf["digest"] = hashlib.sha1(repr(sorted(conf.items())).encode()).hexdigest()
    return conf
