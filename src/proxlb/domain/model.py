"""Cluster model: nodes, guests, HA rules and the frozen snapshot of one instant. Pure; no I/O.

Invariants: a snapshot's nodes are sorted by name and its guests by vmid; guests are keyed by
vmid everywhere (Proxmox guest names are not unique); every number has its unit in its name
or in its type (`Resources`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

from proxlb.domain.crs import CrsOptions
from proxlb.domain.resources import Resources

VmId = NewType("VmId", int)


class GuestKind(StrEnum):
    QEMU = "qemu"
    LXC = "lxc"

    @property
    def balance_type(self) -> str:
        """The spelling upstream's `balance_types` uses: 'vm' or 'ct'."""
        return "vm" if self is GuestKind.QEMU else "ct"


@dataclass(frozen=True, slots=True)
class Pressure:
    """PSI of one resource, in percent (kernel avg10): averages and recent maxima ('spikes')."""

    some: float = 0.0
    full: float = 0.0
    some_spike: float = 0.0
    full_spike: float = 0.0


@dataclass(frozen=True, slots=True)
class PressureSet:
    """PSI for cpu, memory and io ('disk' in upstream's vocabulary). `known` is False when no data."""

    cpu: Pressure = Pressure()
    memory: Pressure = Pressure()
    io: Pressure = Pressure()
    known: bool = False

    def of(self, resource: str) -> Pressure:
        """Pressure of 'cpu', 'memory' or 'disk'/'io'."""
        if resource == "cpu":
            return self.cpu
        if resource == "memory":
            return self.memory
        if resource in ("disk", "io"):
            return self.io
        raise KeyError(resource)


@dataclass(frozen=True, slots=True)
class Node:
    """One cluster node.

    capacity: maxcpu cores (as milli-cores), maxmem bytes, maxdisk bytes (root filesystem).
    usage: cores in use (node cpu fraction × maxcpu, averaged over the metric window), mem, disk.
    """

    name: str
    online: bool
    capacity: Resources
    usage: Resources
    pressure: PressureSet = PressureSet()
    pve_version: tuple[int, int, int] | None = None
    ha_maintenance: bool = False  # the PVE HA LRM reports "maintenance mode"
    storages: frozenset[str] = frozenset()  # storage ids enabled and available on this node

    @property
    def pve9(self) -> bool:
        return self.pve_version is not None and self.pve_version >= (9, 0, 0)


@dataclass(frozen=True, slots=True)
class Guest:
    """One VM or container.

    allocated: configured size (maxcpu vCPUs as milli-cores, maxmem, maxdisk).
    usage: measured (cpu = fraction × maxcpu, averaged; mem; disk — 0 for VMs, PVE has no data).
    """

    vmid: VmId
    name: str
    kind: GuestKind
    node: str
    status: str  # running | stopped | paused | unknown …
    allocated: Resources
    usage: Resources
    template: bool = False
    tags: tuple[str, ...] = ()  # as configured, order kept, duplicates removed
    pool: str | None = None
    lock: str | None = None
    ha_managed: bool = False
    ha_state: str | None = None
    pressure: PressureSet = PressureSet()
    local_disk_bytes: int = 0  # bytes on storage that is not shared
    local_storages: frozenset[str] = frozenset()  # storage ids of those local disks
    local_devices: tuple[str, ...] = ()  # hostpci0, usb1 … passthrough that pins it to the host
    # set while a migration (by anyone) is in flight: `node` is then its destination, this its source
    migrating_from: str | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def sid(self) -> str:
        """PVE HA service id: vm:100 or ct:200."""
        return f"{'vm' if self.kind is GuestKind.QEMU else 'ct'}:{self.vmid}"


@dataclass(frozen=True, slots=True)
class HaRule:
    """A PVE 9 HA rule (`/cluster/ha/rules`), or a PVE 8 HA group translated into one.

    nodes: (node, priority) pairs for node-affinity rules, highest priority first.
    """

    rule_id: str
    rule_type: str  # node-affinity | resource-affinity
    resources: tuple[VmId, ...]
    nodes: tuple[tuple[str, int], ...] = ()
    strict: bool = False
    affinity: str | None = None  # positive | negative (resource-affinity)
    disabled: bool = False
    from_group: bool = False  # translated from a PVE 8 HA group


@dataclass(frozen=True, slots=True)
class HaGroup:
    """A PVE 8 HA group (`/cluster/ha/groups`)."""

    name: str
    nodes: tuple[tuple[str, int], ...]
    restricted: bool = False
    nofailback: bool = False


@dataclass(frozen=True)
class ClusterSnapshot:
    """Everything known about the cluster at one instant.

    taken_at: epoch seconds of the read (from the caller's clock, never read here).
    warnings: odd API data that was logged and skipped while building the snapshot.
    """

    taken_at: float
    nodes: tuple[Node, ...]
    guests: tuple[Guest, ...]
    pools: Mapping[str, frozenset[VmId]] = field(default_factory=dict)
    ha_rules: tuple[HaRule, ...] = ()
    ha_groups: tuple[HaGroup, ...] = ()
    ha_group_of: Mapping[VmId, str] = field(default_factory=dict)
    ha_master: str | None = None
    cluster_name: str = ""
    quorate: bool = True  # /cluster/status says the cluster has quorum (PVE refuses migrations without)
    warnings: tuple[str, ...] = ()
    # `/cluster/options` crs (read when some guest is HA managed) and the HA resources whose
    # `auto-rebalance` flag is 0 (opted out of PVE 9.2's balancer; read only while it is on)
    crs: CrsOptions = field(default_factory=CrsOptions)
    ha_auto_rebalance_off: frozenset[VmId] = frozenset()
    # vmid → end of its latest migration task by anyone (read only while PVE's auto-rebalance is on)
    recent_migrations: Mapping[VmId, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(sorted(self.nodes, key=lambda n: n.name)))
        object.__setattr__(self, "guests", tuple(sorted(self.guests, key=lambda g: g.vmid)))
        object.__setattr__(self, "_node_index", {n.name: n for n in self.nodes})
        object.__setattr__(self, "_guest_index", {g.vmid: g for g in self.guests})

    def node(self, name: str) -> Node | None:
        index: dict[str, Node] = self._node_index  # type: ignore[attr-defined]
        return index.get(name)

    def guest(self, vmid: int) -> Guest | None:
        index: dict[int, Guest] = self._guest_index  # type: ignore[attr-defined]
        return index.get(vmid)

    def guests_on(self, node: str) -> tuple[Guest, ...]:
        return tuple(g for g in self.guests if g.node == node)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    @property
    def identity(self) -> str:
        """Which cluster this is, for scoping remembered state: `cluster:<name>` from
        `/cluster/status`, or `nodes:<sorted node names>` for a standalone node (no cluster entry)."""
        if self.cluster_name:
            return f"cluster:{self.cluster_name}"
        return "nodes:" + ",".join(sorted(self.node_names))

    def fingerprint(self) -> str:
        """Short stable hash of placement and sizes: equal snapshots give equal fingerprints."""
        payload = [
            [
                (n.name, n.online, n.capacity.mem_bytes, n.usage.mem_bytes, n.usage.cpu_milli)
                for n in self.nodes
            ],
            [(g.vmid, g.node, g.status, g.allocated.mem_bytes, g.usage.mem_bytes) for g in self.guests],
        ]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]
