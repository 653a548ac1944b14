"""Mutable state records of the simulated cluster and their construction from a scenario.

Invariants: byte fields are ints; `cpu_frac` is a fraction of the entity's own `maxcpu`; a guest's
`node` is where its config lives (it changes only when a migration task ends OK). Records are
mutated only under `SimCluster.lock`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from proxlb_sim.scenario import GuestEntry, NodeEntry, Scenario

GIB = 1024**3
MIB = 1024**2
_DISK_KEY = re.compile(r"^(scsi|virtio|sata|ide|efidisk|tpmstate|unused|mp)\d+$|^rootfs$")
_LOCAL_RES = re.compile(r"^(hostpci|usb)\d+$")


@dataclass
class SimNode:
    name: str
    nodeid: int
    maxcpu: float
    maxmem: int
    maxdisk: int
    disk: int
    base_cpu_cores: float
    base_mem: int
    uptime0: int
    level: str
    online: bool
    version: str
    ip: str
    ha_maintenance: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pve9(self) -> bool:
        return int(self.version.split(".")[0]) >= 9

    @property
    def repoid(self) -> str:
        return hashlib.sha1(self.version.encode()).hexdigest()[:16]


@dataclass
class SimGuest:
    vmid: int
    kind: str  # "qemu" | "lxc"
    node: str
    name: str
    status: str
    maxcpu: float
    cpu_frac: float
    maxmem: int
    mem: int
    maxdisk: int
    disk: int
    started_at: float
    template: int
    tags: str | None
    pool: str | None
    lock: str | None
    config: dict[str, Any]
    phase: float
    net_rate: float
    io_rate: float
    # name -> {snaptime, description, vmstate, parent?, config}; insertion order = creation order
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent: str | None = None  # the snapshot the current state derives from
    pending: dict[str, Any] = field(default_factory=dict)  # qemu config changes applied at next start

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def sid(self) -> str:
        return f"{'vm' if self.kind == 'qemu' else 'ct'}:{self.vmid}"


@dataclass
class SimStorage:
    storage: str
    plugintype: str
    shared: int
    content: str
    per_node: dict[str, tuple[int, int, str]]  # node -> (maxdisk, disk, status)


@dataclass
class Sample:
    """Metrics of every guest and node at one stats bucket."""

    guest: dict[int, tuple[float, int]]  # vmid -> (cpu fraction, mem bytes)
    node: dict[str, tuple[float, int]]  # node -> (cpu fraction, mem bytes)
    t: float
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pool:
    poolid: str
    comment: str | None
    members: list[str] = field(default_factory=list)  # "vmid" as str, or "storage:<id>"


@dataclass(frozen=True)
class BackupArchive:
    """A vzdump archive on a storage (`node` None on shared storage, visible from every node)."""

    storage: str
    node: str | None
    volid: str
    vmid: int
    kind: str
    ctime: int
    size: int
    notes: str


@dataclass(frozen=True)
class DiskRef:
    key: str
    volid: str
    storage: str
    size: int
    cdrom: bool


def parse_disk(key: str, value: object) -> DiskRef | None:
    """The volume a config key refers to, or None for non-disk keys and empty drives."""
    if not _DISK_KEY.match(key) or not isinstance(value, str):
        return None
    parts = value.split(",")
    volid = parts[0].split("=", 1)[1] if "=" in parts[0] else parts[0]
    if volid in ("none", "cdrom") or ":" not in volid:
        return None
    opts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    return DiskRef(
        key, volid, volid.split(":", 1)[0], _size(opts.get("size", "0")), opts.get("media") == "cdrom"
    )


def local_resources(config: dict[str, Any]) -> list[str]:
    """Config keys that pin a VM to its node (PCI/USB passthrough)."""
    return sorted(k for k in config if _LOCAL_RES.match(k))


def _count(value: float) -> float:
    """CPU counts as JSON integers when whole (PVE sends `4`, not `4.0`); CT cpulimit may be fractional."""
    return int(value) if float(value).is_integer() else value


def _size(text: str) -> int:
    match = re.match(r"^(\d+(?:\.\d+)?)([KMGT]?)$", text)
    if not match:
        return 0
    unit = {"": 1, "K": 1024, "M": MIB, "G": GIB, "T": 1024 * GIB}[match.group(2)]
    return int(float(match.group(1)) * unit)


def _fraction(seed: int, key: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def build_nodes(scenario: Scenario, guests: list[SimGuest]) -> dict[str, SimNode]:
    """Nodes with their base load = reported usage minus what their guests explain (never negative)."""
    nodes: dict[str, SimNode] = {}
    for index, entry in enumerate(scenario.nodes, start=1):
        nodes[entry.node] = _node(scenario, entry, index, [g for g in guests if g.node == entry.node])
    for name in scenario.ha.maintenance_nodes:
        nodes[name].ha_maintenance = True
    return nodes


def _node(scenario: Scenario, e: NodeEntry, index: int, guests: list[SimGuest]) -> SimNode:
    running = [g for g in guests if g.running]
    guest_cores = sum(g.cpu_frac * g.maxcpu for g in running)
    guest_mem = sum(g.mem for g in running)
    default_base_mem = min(e.maxmem // 10, 4 * GIB)
    base_mem = max(0, e.mem - guest_mem) if e.mem is not None else default_base_mem
    base_cores = max(0.0, e.cpu * e.maxcpu - guest_cores) if e.cpu is not None else 0.02 * e.maxcpu
    extra = {
        k: v for k, v in (e.model_extra or {}).items() if k not in ("id", "type", "cgroup-mode", "host-arch")
    }
    return SimNode(
        name=e.node,
        nodeid=index,
        maxcpu=_count(e.maxcpu),
        maxmem=e.maxmem,
        maxdisk=e.maxdisk,
        disk=e.disk,
        base_cpu_cores=base_cores,
        base_mem=base_mem,
        uptime0=e.uptime,
        level=e.level or _subscription_level(scenario),
        online=e.status == "online",
        version=scenario.versions.get(e.node, scenario.sim.default_version),
        ip=f"10.0.0.{10 + index}",
        ha_maintenance=e.hastate == "maintenance",
        extra=extra,
    )


def _subscription_level(scenario: Scenario) -> str:
    """A node's `level` is its subscription level when a key is active, else empty (like pvestatd)."""
    sub = scenario.subscription
    return sub.level if sub.status == "active" else ""


def build_guests(scenario: Scenario, start: float) -> list[SimGuest]:
    """Guests with a derived config where the scenario gives none."""
    seed = scenario.sim.seed
    return [_guest(scenario, g, start, seed) for g in scenario.guests]


def _guest(scenario: Scenario, g: GuestEntry, start: float, seed: int) -> SimGuest:
    running = g.status == "running"
    mem = (g.mem if g.mem is not None else g.maxmem // 2) if running else 0
    uptime = (g.uptime if g.uptime is not None else 86_400) if running else 0
    name = g.name or (f"VM {g.vmid}" if g.type == "qemu" else f"CT{g.vmid}")
    config = dict(scenario.guest_config.get(g.vmid) or _default_config(scenario, g, name))
    if g.tags and "tags" not in config:
        config["tags"] = g.tags
    tags = g.tags if g.tags is not None else config.get("tags")
    lock = g.lock if g.lock is not None else config.get("lock")
    stored_parent = config.pop("parent", None)
    snaps = {
        x.name: {
            "snaptime": x.snaptime,
            "description": x.description,
            "vmstate": x.vmstate,
            **({"parent": x.parent} if x.parent else {}),
            "config": dict(config),
        }
        for x in scenario.snapshots.get(g.vmid, [])
    }
    parent = stored_parent or (list(snaps)[-1] if snaps else None)
    guest = SimGuest(
        vmid=g.vmid,
        kind=g.type,
        node=g.node,
        name=name,
        status=g.status if g.status in ("running", "stopped", "paused") else "stopped",
        maxcpu=_count(g.maxcpu),
        cpu_frac=min(1.0, g.cpu) if running else 0.0,
        maxmem=g.maxmem,
        mem=min(mem, g.maxmem),
        maxdisk=g.maxdisk,
        disk=g.disk,
        started_at=start - uptime,
        template=g.template,
        tags=str(tags) if tags else None,
        pool=g.pool,
        lock=str(lock) if lock else None,
        config=config,
        phase=_fraction(seed, f"phase{g.vmid}"),
        net_rate=1_000 + 2_000_000 * _fraction(seed, f"net{g.vmid}") ** 3,
        io_rate=5_000 + 5_000_000 * _fraction(seed, f"io{g.vmid}") ** 3,
    )
    guest.snapshots, guest.parent = snaps, str(parent) if parent else None
    return guest


def _default_storage(scenario: Scenario, node: str) -> str:
    if scenario.sim.default_disk_storage:
        return scenario.sim.default_disk_storage
    on_node = [s for s in scenario.storages if s.node == node and "images" in s.content]
    shared = [s for s in on_node if s.shared]
    pick = shared or on_node
    return pick[0].storage if pick else "local-lvm"


def _default_config(scenario: Scenario, g: GuestEntry, name: str) -> dict[str, Any]:
    storage = _default_storage(scenario, g.node)
    size_g = max(1, g.maxdisk // GIB)
    cores = max(1, round(g.maxcpu))
    mac = f"BC:24:11:{g.vmid % 256:02X}:{g.vmid // 256 % 256:02X}:01"
    if g.type == "lxc":
        return {
            "hostname": name,
            "arch": "amd64",
            "ostype": "debian",
            "cores": cores,
            "memory": g.maxmem // MIB,
            "swap": 512,
            "rootfs": f"{storage}:vm-{g.vmid}-disk-0,size={size_g}G",
            "net0": f"name=eth0,bridge=vmbr0,hwaddr={mac},ip=dhcp,type=veth",
            "unprivileged": 1,
            "onboot": 1,
        }
    return {
        "name": name,
        "cores": cores,
        "sockets": 1,
        "memory": str(g.maxmem // MIB),
        "cpu": "x86-64-v2-AES",
        "ostype": "l26",
        "scsihw": "virtio-scsi-single",
        "boot": "order=scsi0;net0",
        "scsi0": f"{storage}:vm-{g.vmid}-disk-0,iothread=1,size={size_g}G",
        "net0": f"virtio={mac},bridge=vmbr0,firewall=1",
        "onboot": 1,
        "agent": "1",
    }


def build_storages(scenario: Scenario) -> dict[str, SimStorage]:
    """Storage definitions merged over their per-node entries."""
    result: dict[str, SimStorage] = {}
    for s in scenario.storages:
        entry = result.setdefault(s.storage, SimStorage(s.storage, s.plugintype, s.shared, s.content, {}))
        entry.per_node[s.node] = (s.maxdisk, s.disk, s.status)
    return result
