"""Parse the PVE HA endpoints: status, manager status, rules (PVE 9), groups and resources (PVE 8).

Pure. Odd entries are skipped with one sentence appended to the caller's `warnings`.
PVE 8 groups are also translated into node-affinity `HaRule`s (`from_group=True`) so the rules
stage reads one shape for both versions.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxlb.collect.raw import as_flag, as_int, as_object, as_str, objects, split_list
from proxlb.domain import HaGroup, HaRule, VmId


def maintenance_nodes_from_status(data: object) -> frozenset[str]:
    """`/cluster/ha/status/current` → nodes whose LRM reports "maintenance mode"."""
    nodes: set[str] = set()
    for entry in objects(data):
        node = as_str(entry.get("node"))
        status = as_str(entry.get("status")) or ""
        if node and entry.get("type") == "lrm" and "maintenance mode" in status:
            nodes.add(node)
    return frozenset(nodes)


def parse_manager_status(data: object) -> tuple[str | None, frozenset[str]]:
    """`/cluster/ha/status/manager_status` → (master node or None, nodes the CRM has in maintenance)."""
    manager = as_object(as_object(data).get("manager_status"))
    master = as_str(manager.get("master_node"))
    node_status = as_object(manager.get("node_status"))
    maintenance = frozenset(name for name, state in node_status.items() if state == "maintenance")
    return master, maintenance


def parse_sid(sid: str) -> int | None:
    """'vm:100' / 'ct:101' / '100' → 100; anything else → None."""
    text = sid.strip()
    if ":" in text:
        prefix, _, text = text.partition(":")
        if prefix not in ("vm", "ct"):
            return None
    vmid = as_int(text)
    return vmid if vmid is not None and vmid > 0 else None


def parse_node_priorities(value: object, where: str, warnings: list[str]) -> tuple[tuple[str, int], ...]:
    """'node1:2,node2:1,node3' → (('node1', 2), ('node2', 1), ('node3', 0)), highest priority first."""
    pairs: dict[str, int] = {}
    for part in split_list(value, ","):
        name, _, prio_text = part.partition(":")
        prio = as_int(prio_text) if prio_text else 0
        if prio is None:
            warnings.append(f"{where}: node entry '{part}' has a non-numeric priority; priority 0 used")
            prio = 0
        pairs.setdefault(name.strip(), prio)
    return tuple(sorted(pairs.items(), key=lambda item: (-item[1], item[0])))


def _resources(value: object, where: str, warnings: list[str]) -> tuple[VmId, ...]:
    vmids: set[int] = set()
    for sid in split_list(value, ","):
        vmid = parse_sid(sid)
        if vmid is None:
            warnings.append(f"{where}: resource '{sid}' is not a guest id; skipped")
        else:
            vmids.add(vmid)
    return tuple(VmId(v) for v in sorted(vmids))


def parse_ha_rules(data: object, warnings: list[str]) -> tuple[HaRule, ...]:
    """`/cluster/ha/rules` (PVE 9) → HaRules sorted by rule id; unknown rule types are skipped."""
    rules: list[HaRule] = []
    for entry in objects(data):
        rule_id = as_str(entry.get("rule"))
        rule_type = as_str(entry.get("type"))
        if rule_id is None or rule_type not in ("node-affinity", "resource-affinity"):
            warnings.append(f"skipped HA rule {entry.get('rule')!r} of unknown type {entry.get('type')!r}")
            continue
        where = f"HA rule '{rule_id}'"
        affinity = as_str(entry.get("affinity"))
        if rule_type == "resource-affinity" and affinity not in ("positive", "negative"):
            warnings.append(
                f"{where}: affinity {entry.get('affinity')!r} is neither positive nor negative; skipped"
            )
            continue
        rules.append(
            HaRule(
                rule_id=rule_id,
                rule_type=rule_type,
                resources=_resources(entry.get("resources"), where, warnings),
                nodes=parse_node_priorities(entry.get("nodes"), where, warnings)
                if rule_type == "node-affinity"
                else (),
                strict=as_flag(entry.get("strict")),
                affinity=affinity if rule_type == "resource-affinity" else None,
                disabled=as_flag(entry.get("disable")),
            )
        )
    return tuple(sorted(rules, key=lambda r: r.rule_id))


def parse_ha_groups(data: object, warnings: list[str]) -> tuple[HaGroup, ...]:
    """`/cluster/ha/groups` (PVE 8) → HaGroups sorted by name."""
    groups: list[HaGroup] = []
    for entry in objects(data):
        name = as_str(entry.get("group"))
        if name is None:
            warnings.append("skipped an HA group without a name")
            continue
        groups.append(
            HaGroup(
                name=name,
                nodes=parse_node_priorities(entry.get("nodes"), f"HA group '{name}'", warnings),
                restricted=as_flag(entry.get("restricted")),
                nofailback=as_flag(entry.get("nofailback")),
            )
        )
    return tuple(sorted(groups, key=lambda g: g.name))


def parse_ha_group_membership(data: object) -> dict[VmId, str]:
    """`/cluster/ha/resources` (PVE 8) → vmid → HA group, for resources that name a group."""
    members: dict[VmId, str] = {}
    for entry in objects(data):
        vmid = parse_sid(as_str(entry.get("sid")) or "")
        group = as_str(entry.get("group"))
        if vmid is not None and group is not None:
            members[VmId(vmid)] = group
    return dict(sorted(members.items()))


def rules_from_groups(groups: tuple[HaGroup, ...], group_of: Mapping[VmId, str]) -> tuple[HaRule, ...]:
    """PVE 8 groups → node-affinity HaRules named 'ha-group-<name>' (restricted → strict)."""
    rules: list[HaRule] = []
    for group in groups:
        members = tuple(sorted(v for v, g in group_of.items() if g == group.name))
        if members:
            rules.append(
                HaRule(
                    rule_id=f"ha-group-{group.name}",
                    rule_type="node-affinity",
                    resources=members,
                    nodes=group.nodes,
                    strict=group.restricted,
                    from_group=True,
                )
            )
    return tuple(rules)
