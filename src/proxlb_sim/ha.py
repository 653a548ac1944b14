"""HA views of the simulated cluster (pve-api.md §8): resources, groups, rules, status, manager status.

Rules exist when the API node runs PVE 9; groups answer only while not every node runs PVE 9 (after
that they have been migrated to rules, shown as `ha-group-<name>` rules). Pure functions of the
cluster state; callers hold the lock.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from proxlb_sim.cluster import SimCluster
from proxlb_sim.pveerror import PveError


def _digest(c: SimCluster, what: str) -> str:
    return hashlib.sha1(f"{what}:{c.version}:{c.settings.cluster_name}".encode()).hexdigest()


def rules_digest(c: SimCluster) -> str:
    """Digest of rules.cfg: changes exactly when a rule is written."""
    text = json.dumps(c.ha_rules, sort_keys=True) + c.settings.cluster_name
    return hashlib.sha1(text.encode()).hexdigest()


def ha_resources(c: SimCluster, type_filter: str | None) -> list[dict[str, Any]]:
    """`GET /cluster/ha/resources` (`group` dropped once groups were migrated to rules)."""
    out = []
    for sid, res in sorted(c.ha_resources.items()):
        kind = sid.split(":")[0]
        if type_filter and kind != type_filter:
            continue
        entry = {"sid": sid, "type": kind, **{k: v for k, v in res.items() if k != "sid"}}
        if c.all_pve9:
            entry.pop("group", None)
        entry["digest"] = _digest(c, "resources")
        out.append(entry)
    return out


def ha_resource(c: SimCluster, sid: str) -> dict[str, Any]:
    sid = sid if ":" in sid else f"vm:{sid}"
    for entry in ha_resources(c, None):
        if entry["sid"] == sid:
            return entry
    raise PveError(500, f"no such resource '{sid}'")


def ha_groups(c: SimCluster) -> list[dict[str, Any]]:
    """`GET /cluster/ha/groups` (PVE 8); fails like PVE 9 once groups are migrated."""
    if c.all_pve9:
        raise PveError(500, "cannot index groups: ha groups have been migrated to rules")
    out = []
    for g in c.scenario.ha.groups:
        entry = {"group": g.group, "type": "group", **g.model_dump(exclude_none=True, exclude={"group"})}
        entry["digest"] = _digest(c, "groups")
        out.append(entry)
    return out


def ha_rules(c: SimCluster, type_filter: str | None, resource: str | None) -> list[dict[str, Any]]:
    """`GET /cluster/ha/rules` (PVE 9), including groups shown as generated node-affinity rules."""
    if not c.api_node.pve9:
        raise PveError(501, "Method 'GET /cluster/ha/rules' not implemented")
    rules: list[dict[str, Any]] = [dict(r) for r in c.ha_rules]  # as stored, `strict: 0` included
    for g in c.scenario.ha.groups:
        members = sorted(sid for sid, res in c.ha_resources.items() if res.get("group") == g.group)
        if not members:
            continue
        entry: dict[str, Any] = {
            "rule": f"ha-group-{g.group}",
            "type": "node-affinity",
            "resources": ",".join(members),
            "nodes": g.nodes,
            "comment": f"Generated from HA group '{g.group}'.",
        }
        if g.restricted:
            entry["strict"] = 1
        rules.append(entry)
    out = []
    for order, entry in enumerate(rules, start=1):
        if type_filter and entry["type"] != type_filter:
            continue
        if resource and resource not in entry["resources"].split(","):
            continue
        out.append({**entry, "order": order, "digest": rules_digest(c)})
    return out


def _master(c: SimCluster) -> str:
    name = c.scenario.ha.master_node
    if name and c.nodes[name].online:
        return name
    return c.api_node.name


def _fmt(t: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(t))


def _service_node_state(c: SimCluster, sid: str) -> tuple[str, str]:
    g = c.guests[int(sid.split(":")[1])]
    return g.node, c.ha_state_of(g) or "started"


def ha_status(c: SimCluster, t: float) -> list[dict[str, Any]]:
    """`GET /cluster/ha/status/current` (pve-ha-manager 5.2 wording; LRM 'maintenance mode')."""
    api = c.api_node.name
    out: list[dict[str, Any]] = [
        {"id": "quorum", "type": "quorum", "node": api, "status": "OK", "quorate": 1}
    ]
    if not c.ha_resources:
        return out
    master = _master(c)
    out.append(
        {
            "id": "master",
            "type": "master",
            "node": master,
            "status": f"{master} (active, {_fmt(t)})",
            "timestamp": int(t),
        }
    )
    out.append(
        {
            "id": "fencing",
            "type": "fencing",
            "node": master,
            "status": "armed (CRM watchdog active)",
            "armed-state": "armed",
        }
    )
    active_nodes = {c.guests[int(s.split(":")[1])].node for s in c.ha_resources}
    for name, node in c.nodes.items():
        if not node.online:
            state = "old timestamp - dead?"
        elif node.ha_maintenance:
            state = "maintenance mode"
        else:
            state = "active" if name in active_nodes else "idle"
        watchdog = "watchdog active" if state in ("active", "maintenance mode") else "watchdog standby"
        out.append(
            {
                "id": f"lrm:{name}",
                "type": "lrm",
                "node": name,
                "status": f"{name} ({state}, {watchdog}, {_fmt(t)})",
                "timestamp": int(t),
            }
        )
    for sid, res in sorted(c.ha_resources.items()):
        where, state = _service_node_state(c, sid)
        request = str(res.get("state", "started"))
        entry: dict[str, Any] = {
            "id": f"service:{sid}",
            "type": "service",
            "sid": sid,
            "node": where,
            "crm_state": state,
            "state": state,
            "request_state": request,
            "status": f"{sid} ({where}, {state})",
        }
        for key in ("max_restart", "max_relocate", "failback"):
            if key in res:
                entry[key] = res[key]
        out.append(entry)
    return out


def ha_manager_status(c: SimCluster, t: float) -> dict[str, Any]:
    """`GET /cluster/ha/status/manager_status`."""
    quorum = {"node": c.api_node.name, "quorate": "1"}
    if not c.ha_resources:
        return {"manager_status": {}, "quorum": quorum}
    node_status = {
        n: ("unknown" if not node.online else "maintenance" if node.ha_maintenance else "online")
        for n, node in c.nodes.items()
    }
    services: dict[str, Any] = {}
    for sid in sorted(c.ha_resources):
        node, state = _service_node_state(c, sid)
        entry: dict[str, Any] = {
            "node": node,
            "state": state,
            "running": int(c.guests[int(sid.split(":")[1])].running),
            "uid": hashlib.sha1(sid.encode()).hexdigest()[:22],
        }
        if sid in c.ha_pending:
            entry["target"] = c.ha_pending[sid][0]
        services[sid] = entry
    lrm: dict[str, Any] = {
        n: {
            "mode": "maintenance" if node.ha_maintenance else "active",
            "state": "maintenance" if node.ha_maintenance else "active",
            "results": {},
            "timestamp": int(t),
        }
        for n, node in c.nodes.items()
        if node.online
    }
    return {
        "manager_status": {
            "master_node": _master(c),
            "timestamp": int(t),
            "node_status": node_status,
            "service_status": services,
        },
        "quorum": quorum,
        "lrm_status": lrm,
    }
