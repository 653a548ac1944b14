"""PVE HA rules (PVE 9) and HA groups (PVE 8, already translated by collect) → constraints. Pure.

- node-affinity → one NodePin per resource: the rule's nodes with their priorities; strict
  only when the rule says `strict` (PVE's default is non-strict, a preference). It does NOT
  make the resources share a node (upstream's reading).
- resource-affinity positive → Affinity named by the rule id; negative → AntiAffinity.
- disabled rules are skipped; resources that are not in the snapshot are reported once per rule.
- HA groups: restricted → strict pin, otherwise a preference; priorities kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxlb.domain import (
    Affinity,
    AntiAffinity,
    ClusterSnapshot,
    HaRule,
    NodePin,
    RuleSource,
    SourceKind,
    VmId,
)
from proxlb.rules.names import resolve_nodes

GROUP_RULE_PREFIX = "ha-group-"


def rule_source(rule: HaRule) -> RuleSource:
    """HA group rules name the group; others the rule id."""
    if rule.from_group:
        name = rule.rule_id.removeprefix(GROUP_RULE_PREFIX)
        return RuleSource(SourceKind.HA_GROUP, name)
    return RuleSource(SourceKind.HA_RULE, rule.rule_id)


def ha_constraints(
    snapshot: ClusterSnapshot, nodes: Mapping[str, str], warnings: list[str]
) -> tuple[list[Affinity], list[AntiAffinity], list[NodePin]]:
    """Constraints of every enabled HA rule of the snapshot."""
    affinities: list[Affinity] = []
    anti: list[AntiAffinity] = []
    pins: list[NodePin] = []
    for rule in sorted(snapshot.ha_rules, key=lambda r: r.rule_id):
        if rule.disabled:
            continue
        source = rule_source(rule)
        members = frozenset(v for v in rule.resources if snapshot.guest(v) is not None)
        missing = sorted(set(rule.resources) - members)
        if missing:
            listed = ", ".join(str(v) for v in missing)
            warnings.append(
                f"{source} names guest(s) {listed}, which are not in the cluster (or are ignored)"
            )
        if rule.rule_type == "node-affinity":
            pins.extend(_node_affinity(rule, source, members, nodes, warnings))
        elif len(members) >= 2 and rule.affinity == "positive":
            affinities.append(Affinity(rule.rule_id, members, source, strict=True))
        elif len(members) >= 2 and rule.affinity == "negative":
            anti.append(AntiAffinity(rule.rule_id, members, source, strict=True))
    return affinities, anti, pins


def _node_affinity(
    rule: HaRule, source: RuleSource, members: frozenset[VmId], nodes: Mapping[str, str], warnings: list[str]
) -> list[NodePin]:
    allowed = resolve_nodes((n for n, _ in rule.nodes), nodes, str(source), warnings)
    if not allowed:
        return []
    priorities = tuple(
        sorted(
            ((nodes[n.lower()], prio) for n, prio in rule.nodes if n.lower() in nodes),
            key=lambda item: (-item[1], item[0]),
        )
    )
    return [
        NodePin(vmid, allowed, source, strict=rule.strict, priorities=priorities) for vmid in sorted(members)
    ]
