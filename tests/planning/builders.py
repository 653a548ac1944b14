"""Test builders for planning: nodes, guests, constraints and problems with readable sizes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from proxlb.domain import (
    Affinity,
    AntiAffinity,
    ClusterSnapshot,
    ConstraintSet,
    Drain,
    Exclude,
    Guest,
    GuestKind,
    Node,
    NodePin,
    Plan,
    Pressure,
    PressureSet,
    Resources,
    RuleSource,
    SourceKind,
    VmId,
)
from proxlb.planning.policy import Policy
from proxlb.planning.problem import PlanningProblem

UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def size(text: str | int | float) -> int:
    """'8G' → bytes; plain numbers are bytes."""
    if isinstance(text, int | float):
        return int(text)
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in UNITS:
        return int(float(text[:-1]) * UNITS[text[-1]])
    return int(float(text))


def node(
    name: str,
    cores: float = 16,
    mem: str = "128G",
    disk: str = "1T",
    used_mem: str | None = None,
    used_cpu: float = 0.0,
    used_disk: str = "0",
    online: bool = True,
    pressure: PressureSet | None = None,
    version: tuple[int, int, int] | None = (9, 0, 0),
    ha_maintenance: bool = False,
    storages: Iterable[str] = (),
) -> Node:
    """A node; `used_mem` defaults to the sum of its guests (see `cluster`)."""
    return Node(
        name=name,
        online=online,
        capacity=Resources(int(cores * 1000), size(mem), size(disk)),
        usage=Resources(int(used_cpu * 1000), size(used_mem) if used_mem else -1, size(used_disk)),
        pressure=pressure or PressureSet(),
        pve_version=version,
        ha_maintenance=ha_maintenance,
        storages=frozenset(storages),
    )


def guest(
    vmid: int,
    on: str,
    mem: str = "4G",
    cores: float = 2,
    used_mem: str | None = None,
    cpu: float = 0.0,
    kind: str = "qemu",
    status: str = "running",
    tags: Iterable[str] = (),
    name: str | None = None,
    **extra: Any,
) -> Guest:
    """A guest; `used_mem` defaults to `mem`, `cpu` is cores in use."""
    allocated = Resources(int(cores * 1000), size(mem), 0)
    running = status == "running"
    usage = Resources(int(cpu * 1000) if running else 0, size(used_mem or mem) if running else 0, 0)
    return Guest(
        vmid=VmId(vmid),
        name=name or f"g{vmid}",
        kind=GuestKind(kind),
        node=on,
        status=status,
        allocated=allocated,
        usage=usage,
        tags=tuple(tags),
        **extra,
    )


def cluster(nodes: Iterable[Node], guests: Iterable[Guest], taken_at: float = 1_000_000.0) -> ClusterSnapshot:
    """Snapshot; a node with used_mem -1 gets Σ running guest memory, used cpu Σ guest cpu if 0."""
    guests = tuple(guests)
    fixed = []
    for n in nodes:
        mine = [g for g in guests if g.node == n.name]
        mem = n.usage.mem_bytes if n.usage.mem_bytes >= 0 else sum(g.usage.mem_bytes for g in mine)
        cpu = n.usage.cpu_milli or sum(g.usage.cpu_milli for g in mine)
        fixed.append(replace(n, usage=Resources(cpu, mem, n.usage.disk_bytes)))
    return ClusterSnapshot(taken_at=taken_at, nodes=tuple(fixed), guests=guests)


SRC = RuleSource(SourceKind.TAG, "test")


def anti(group: str, *vmids: int, strict: bool = True) -> AntiAffinity:
    return AntiAffinity(group, frozenset(VmId(v) for v in vmids), RuleSource(SourceKind.TAG, group), strict)


def together(group: str, *vmids: int, strict: bool = True) -> Affinity:
    return Affinity(group, frozenset(VmId(v) for v in vmids), RuleSource(SourceKind.TAG, group), strict)


def pin(vmid: int, *nodes: str, strict: bool = True, priorities: tuple[tuple[str, int], ...] = ()) -> NodePin:
    return NodePin(
        VmId(vmid), frozenset(nodes), RuleSource(SourceKind.TAG, f"plb_pin_{nodes[0]}"), strict, priorities
    )


def exclude(vmid: int, reason: str = "tag plb_ignore_dev") -> Exclude:
    return Exclude(VmId(vmid), reason, RuleSource(SourceKind.TAG, "plb_ignore_dev"))


def drain(name: str, reason: str = "maintenance_nodes") -> Drain:
    return Drain(name, reason, RuleSource(SourceKind.CONFIG, "maintenance_nodes"))


def rules(*items: Any, warnings: tuple[str, ...] = ()) -> ConstraintSet:
    return ConstraintSet(
        affinities=tuple(i for i in items if isinstance(i, Affinity)),
        anti_affinities=tuple(i for i in items if isinstance(i, AntiAffinity)),
        pins=tuple(i for i in items if isinstance(i, NodePin)),
        excludes=tuple(i for i in items if isinstance(i, Exclude)),
        drains=tuple(i for i in items if isinstance(i, Drain)),
        warnings=warnings,
    )


def problem(
    snapshot: ClusterSnapshot,
    constraints: ConstraintSet | None = None,
    recently_moved: Mapping[int, float] | None = None,
    now: float = 1_000_000.0,
    **policy: Any,
) -> PlanningProblem:
    return PlanningProblem(
        snapshot,
        constraints or ConstraintSet(),
        Policy(**policy),
        {VmId(k): v for k, v in (recently_moved or {}).items()},
        now,
    )


def psi(
    mem_some: float = 0.0, mem_full: float = 0.0, cpu_some: float = 0.0, spike: float = 0.0
) -> PressureSet:
    return PressureSet(
        cpu=Pressure(some=cpu_some),
        memory=Pressure(some=mem_some, full=mem_full, full_spike=spike),
        known=True,
    )


def apply_plan(snapshot: ClusterSnapshot, plan: Plan) -> ClusterSnapshot:
    """The snapshot after every migration of `plan` finished (node usage follows the guests)."""
    where = {m.vmid: m.target for m in plan.migrations}
    guests = tuple(replace(g, node=where.get(g.vmid, g.node)) for g in snapshot.guests)
    nodes = []
    for n in snapshot.nodes:
        delta_mem = delta_cpu = delta_disk = 0
        for g in snapshot.guests:
            if g.vmid not in where:
                continue
            sign = (1 if where[g.vmid] == n.name else 0) - (1 if g.node == n.name else 0)
            delta_mem += sign * g.usage.mem_bytes
            delta_cpu += sign * g.usage.cpu_milli
            delta_disk += sign * g.local_disk_bytes
        usage = Resources(
            n.usage.cpu_milli + delta_cpu, n.usage.mem_bytes + delta_mem, n.usage.disk_bytes + delta_disk
        )
        nodes.append(replace(n, usage=usage))
    return ClusterSnapshot(taken_at=snapshot.taken_at, nodes=tuple(nodes), guests=guests)
