"""Affinity components and rule conflicts the planner cannot satisfy. Pure.

Affinity groups that share a guest form one placement unit (the relation is transitive); the
ConstraintSet keeps each source's group so every rule stays nameable, and `affinity_components`
gives the merged units. A conflict is reported as a warning naming the rules; the planner
reports the same rule as unmet.
"""

from __future__ import annotations

from collections.abc import Iterable

from proxlb.domain import Affinity, AntiAffinity, NodePin, VmId
from proxlb.domain.constraints import affinity_components

__all__ = ["affinity_components", "find_conflicts"]


def _names(rules: Iterable[Affinity | AntiAffinity | NodePin]) -> str:
    return ", ".join(sorted({str(r.source) for r in rules}))


def find_conflicts(
    affinities: list[Affinity], anti_affinities: list[AntiAffinity], pins: list[NodePin]
) -> list[str]:
    """Warnings for: a pair both kept together and apart; a unit (or one guest) whose strict pins
    leave no common node."""
    warnings: list[str] = []
    strict_pins: dict[VmId, list[NodePin]] = {}
    for pin in pins:
        if pin.strict:
            strict_pins.setdefault(pin.vmid, []).append(pin)
    units = affinity_components(affinities)
    in_unit = {v for members, _ in units for v in members}
    for members, groups in units:
        for rule in sorted(anti_affinities, key=lambda r: r.group):
            clash = sorted(members & rule.members)
            if len(clash) >= 2:
                listed = ", ".join(str(v) for v in clash)
                warnings.append(
                    f"conflict: guests {listed} must share a node ({_names(groups)}) "
                    f"and must not ({rule.source})"
                )
        unit_pins = [p for v in sorted(members) for p in strict_pins.get(v, [])]
        if unit_pins and not frozenset.intersection(*(p.nodes for p in unit_pins)):
            listed = ", ".join(str(v) for v in sorted(members))
            warnings.append(
                f"conflict: guests {listed} must share a node ({_names(groups)}) but their strict pins "
                f"({_names(unit_pins)}) have no node in common"
            )
    for vmid, own in sorted(strict_pins.items()):
        if vmid not in in_unit and len(own) > 1 and not frozenset.intersection(*(p.nodes for p in own)):
            warnings.append(f"conflict: guest {vmid} has strict pins with no node in common ({_names(own)})")
    return warnings
