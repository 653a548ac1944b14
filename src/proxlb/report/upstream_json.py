"""The `--json` document: upstream ProxLB 2.3.0's top-level shape plus our `plan` section. Pure.

Upstream scripts read `nodes`, `guests` (`node_current` / `node_target`), `groups`, `pools` and
`ha_rules`; those keep upstream's field names. Differences (documented in
docs/differences-from-upstream.md): guest keys are the guest name when it is unique and
`name#vmid` when names collide; CPU `used` is in cores for guests too; single-guest groups
have deterministic names; node metrics are the post-plan values, as upstream's are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from proxlb.domain import (
    ClusterSnapshot,
    ConstraintSet,
    Guest,
    Node,
    Plan,
    Pressure,
    Resources,
    VmId,
)
from proxlb.report.sentences import cause_doc, decision_sentence
from proxlb.report.state import NodeAccount, node_accounts, percent

_RESOURCES = (("cpu", "cpu"), ("memory", "memory"), ("disk", "disk"))


def _amount(resource: str, value: int) -> float | int:
    """Upstream's units: cores for cpu (may be fractional), bytes otherwise."""
    return round(value / 1000.0, 3) if resource == "cpu" else value


def _pressure_fields(p: Pressure) -> dict[str, Any]:
    return {
        "pressure_some_percent": p.some,
        "pressure_full_percent": p.full,
        "pressure_some_spikes_percent": p.some_spike,
        "pressure_full_spikes_percent": p.full_spike,
        "pressure_hot": False,
    }


def _node_entry(node: Node, account: NodeAccount, drained: frozenset[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": node.name,
        "pve_version": ".".join(str(x) for x in node.pve_version) if node.pve_version else None,
        "pressure_hot": False,
        "maintenance": node.name in drained,
        "online": node.online,
    }
    for key, res in _RESOURCES:
        total = account.capacity.get(res)
        used = account.used.get(res)
        assigned = account.assigned.get(res)
        free = max(0, total - used)
        entry[key] = {
            "total": _amount(res, total),
            "assigned": _amount(res, assigned),
            "used": _amount(res, used),
            "free": _amount(res, free),
            "assigned_percent": percent(assigned, total),
            "free_percent": percent(free, total),
            "used_percent": percent(used, total),
            **_pressure_fields(node.pressure.of(res)),
        }
    return entry


def guest_keys(guests: tuple[Guest, ...]) -> dict[VmId, str]:
    """JSON key per guest: its name, or `name#vmid` when several guests share the name."""
    counts = Counter(g.name for g in guests)
    return {g.vmid: g.name if counts[g.name] == 1 else f"{g.name}#{g.vmid}" for g in guests}


def build_json(
    snapshot: ClusterSnapshot,
    constraints: ConstraintSet,
    plan: Plan,
    reserve: Mapping[str, Resources] | None = None,
    execution: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole `--json` document for one cycle."""
    keys = guest_keys(snapshot.guests)
    drained = constraints.drained_nodes()
    after = node_accounts(snapshot, plan, reserve)
    targets = {m.vmid: m.target for m in plan.migrations}
    excluded = constraints.excluded()

    affinity_of: dict[VmId, list[str]] = {}
    for a in constraints.affinities:
        for v in a.members:
            affinity_of.setdefault(v, []).append(a.group)
    anti_of: dict[VmId, list[str]] = {}
    for aa in constraints.anti_affinities:
        for v in aa.members:
            anti_of.setdefault(v, []).append(aa.group)
    pins = {p.vmid: p for p in constraints.pins}
    ha_rules_of: dict[VmId, list[dict[str, Any]]] = {}
    for rule in snapshot.ha_rules:
        for v in rule.resources:
            ha_rules_of.setdefault(v, []).append(_ha_rule_entry(rule))

    guests: dict[str, Any] = {}
    for g in snapshot.guests:
        pin = pins.get(g.vmid)
        entry: dict[str, Any] = {}
        for key, res in _RESOURCES:
            entry[key] = {
                "total": _amount(res, g.allocated.get(res)),
                "used": _amount(res, g.usage.get(res)),
                **_pressure_fields(g.pressure.of(res)),
            }
        entry.update(
            {
                "name": g.name,
                "id": int(g.vmid),
                "node_current": g.node,
                "node_target": targets.get(g.vmid, g.node),
                "processed": True,
                "pressure_hot": False,
                "tags": list(g.tags),
                "pools": [g.pool] if g.pool else [],
                "ha_rules": ha_rules_of.get(g.vmid, []),
                "affinity_groups": sorted(affinity_of.get(g.vmid, [])),
                "anti_affinity_groups": sorted(anti_of.get(g.vmid, [])),
                "ignore": g.vmid in excluded,
                "ignore_reason": excluded[g.vmid].reason if g.vmid in excluded else None,
                "node_relationships": sorted(pin.nodes) if pin else [],
                "node_relationships_strict": pin.strict if pin else True,
                "type": g.kind.balance_type,
                "status": g.status,
                "decision": decision_sentence(d) if (d := plan.decisions.get(g.vmid)) else "",
                "cause": cause_doc(d) if d else None,
            }
        )
        guests[keys[g.vmid]] = entry

    return {
        "groups": _groups(snapshot, constraints, keys, targets, drained),
        "guests": guests,
        "ha_rules": {r.rule_id: _ha_rule_entry(r) for r in snapshot.ha_rules},
        "nodes": {n.name: _node_entry(n, after[n.name], drained) for n in snapshot.nodes},
        "pools": {
            name: {"name": name, "members": [keys[v] for v in sorted(members) if v in keys]}
            for name, members in sorted(snapshot.pools.items())
        },
        "plan": plan_section(plan, snapshot),
        **({"execution": dict(execution)} if execution is not None else {}),
    }


def _ha_rule_entry(rule: Any) -> dict[str, Any]:
    if rule.rule_type == "resource-affinity":
        kind = "anti-affinity" if rule.affinity == "negative" else "affinity"
    else:
        kind = "node-affinity"
    return {
        "rule": rule.rule_id,
        "type": kind,
        "nodes": [f"{n}:{p}" if p else n for n, p in rule.nodes],
        "members": [int(v) for v in rule.resources],
        "strict": rule.strict,
        "disabled": rule.disabled,
    }


def _groups(
    snapshot: ClusterSnapshot,
    constraints: ConstraintSet,
    keys: Mapping[VmId, str],
    targets: Mapping[VmId, str],
    drained: frozenset[str],
) -> dict[str, Any]:
    affinity: dict[str, Any] = {}
    grouped: set[VmId] = set()
    for a in sorted(constraints.affinities, key=lambda x: x.group):
        members = [snapshot.guest(v) for v in sorted(a.members)]
        present = [g for g in members if g is not None]
        grouped.update(g.vmid for g in present)
        affinity[a.group] = _group_entry(present, keys)
    for g in snapshot.guests:
        if g.vmid not in grouped:
            affinity[f"single-{g.vmid}"] = _group_entry([g], keys)
    anti: dict[str, Any] = {}
    for aa in sorted(constraints.anti_affinities, key=lambda x: x.group):
        present = [g for g in (snapshot.guest(v) for v in sorted(aa.members)) if g is not None]
        anti[aa.group] = {
            "guests": [keys[g.vmid] for g in present],
            "counter": len(present),
            "used_nodes": sorted({targets.get(g.vmid, g.node) for g in present}),
            "strict": aa.strict,
            "source": aa.source.kind.value,
        }
    maintenance = [keys[g.vmid] for g in snapshot.guests if g.node in drained]
    return {"affinity": affinity, "anti_affinity": anti, "maintenance": maintenance}


def _group_entry(guests: list[Guest], keys: Mapping[VmId, str]) -> dict[str, Any]:
    alloc = Resources.sum([g.allocated for g in guests])
    usage = Resources.sum([g.usage for g in guests])
    return {
        "counter": len(guests),
        "guests": [keys[g.vmid] for g in guests],
        **{
            key: {"total": _amount(res, alloc.get(res)), "used": _amount(res, usage.get(res))}
            for key, res in _RESOURCES
        },
    }


def plan_section(plan: Plan, snapshot: ClusterSnapshot) -> dict[str, Any]:
    """Our own section: the ordered, explained plan (keyed by vmid, never by name)."""
    return {
        "snapshot": plan.snapshot_fingerprint,
        "planner": plan.planner,
        "triggered": plan.triggered,
        "trigger_reason": plan.trigger_reason,
        "imbalance_before": round(plan.imbalance_before, 3),
        "imbalance_after": round(plan.imbalance_after, 3),
        "bytes_to_copy": plan.bytes_to_copy,
        "migrations": [
            {
                "vmid": int(m.vmid),
                "name": m.name,
                "type": m.kind.balance_type,
                "source": m.source,
                "target": m.target,
                "reason": m.reason.value,
                "detail": m.detail,
                "step": m.step + 1,  # 1-based, as in the table and `explain`
                "depends_on": [int(v) for v in m.depends_on],
                "bytes_to_copy": m.bytes_to_copy,
                "ha_managed": m.ha_managed,
                "imbalance_before": round(m.imbalance_before, 3),
                "imbalance_after": round(m.imbalance_after, 3),
            }
            for m in plan.migrations
        ],
        "unmet": [
            {"rule": u.rule, "why": u.why, "kind": u.kind, "vmids": [int(v) for v in u.vmids]}
            for u in plan.unmet
        ],
        "stopped_by": [{"rule": c.rule, "guests": c.guests, "detail": c.detail} for c in plan.stopped_by],
        "decisions": {str(int(v)): decision_sentence(d) for v, d in sorted(plan.decisions.items())},
        "causes": {str(int(v)): cause_doc(d) for v, d in sorted(plan.decisions.items())},
        "metrics_before": {k: dict(v) for k, v in plan.metrics_before.items()},
        "metrics_after": {k: dict(v) for k, v in plan.metrics_after.items()},
        "stats": dict(plan.stats),
        "warnings": list(dict.fromkeys([*snapshot.warnings, *plan.warnings])),
    }
