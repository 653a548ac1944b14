"""Placement constraints as plain data that remember where they came from. Pure; no I/O.

Hard constraints (strict=True) are never broken by a plan; soft ones are preferences the
planner honours when it can and reports when it cannot.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from enum import StrEnum

from proxlb.domain.model import VmId


class SourceKind(StrEnum):
    TAG = "tag"
    POOL = "pool"
    HA_RULE = "ha-rule"
    HA_GROUP = "ha-group"
    CONFIG = "config"
    GUEST = "guest"  # a property of the guest itself (template, lock, local devices …)


@dataclass(frozen=True, slots=True)
class RuleSource:
    kind: SourceKind
    name: str  # tag text, pool name, HA rule id, config key

    def __str__(self) -> str:
        return f"{self.kind.value} '{self.name}'"


@dataclass(frozen=True, slots=True)
class Affinity:
    """Keep these guests on one node."""

    group: str
    members: frozenset[VmId]
    source: RuleSource
    strict: bool = True


@dataclass(frozen=True, slots=True)
class AntiAffinity:
    """Never two of these guests on one node."""

    group: str
    members: frozenset[VmId]
    source: RuleSource
    strict: bool = True


@dataclass(frozen=True, slots=True)
class NodePin:
    """The guest may run only on `nodes` (strict) or prefers them (not strict).

    priorities: higher is preferred (PVE HA node priorities); 0 when none were given.
    """

    vmid: VmId
    nodes: frozenset[str]
    source: RuleSource
    strict: bool = True
    priorities: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Exclude:
    """The guest is never migrated (its resources still count where it is)."""

    vmid: VmId
    reason: str  # human sentence: "tag plb_ignore_dev", "locked (backup)", "template"
    source: RuleSource


@dataclass(frozen=True, slots=True)
class Drain:
    """Every guest leaves this node; nothing may be placed on it."""

    node: str
    reason: str
    source: RuleSource


@dataclass(frozen=True)
class ConstraintSet:
    """All constraints of one cycle plus the warnings met while deriving them."""

    affinities: tuple[Affinity, ...] = ()
    anti_affinities: tuple[AntiAffinity, ...] = ()
    pins: tuple[NodePin, ...] = ()
    excludes: tuple[Exclude, ...] = ()
    drains: tuple[Drain, ...] = ()
    warnings: tuple[str, ...] = ()

    def excluded(self) -> dict[VmId, Exclude]:
        return {e.vmid: e for e in self.excludes}

    def drained_nodes(self) -> frozenset[str]:
        return frozenset(d.node for d in self.drains)


def affinity_components(
    affinities: Iterable[Affinity], known: Container[VmId] | None = None
) -> tuple[tuple[frozenset[VmId], tuple[Affinity, ...]], ...]:
    """Affinity groups merged transitively (guests sharing a member move as one unit).

    Returns (members, the groups that formed them), sorted by smallest member; only units of two
    or more guests. `known`: ignore members not in it (guests absent from the snapshot).
    """
    groups = sorted(affinities, key=lambda a: (a.group, a.source.kind, a.source.name))
    parent: dict[VmId, VmId] = {}

    def find(x: VmId) -> VmId:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in groups:
        members = sorted(m for m in group.members if known is None or m in known)
        for other in members[1:]:
            a, b = find(members[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    units: dict[VmId, set[VmId]] = {}
    for vmid in list(parent):
        units.setdefault(find(vmid), set()).add(vmid)
    return tuple(
        (frozenset(units[root]), tuple(g for g in groups if g.members & units[root]))
        for root in sorted(units)
    )
