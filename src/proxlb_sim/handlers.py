"""Endpoint handlers of the simulated PVE API. Each takes a validated `Request` and returns `data`.

Handlers run with the cluster lock held and the clock synced (see `routes.dispatch`); a handler
returning `Paged` makes the envelope carry `total` like PVE's task list and task log; `Encoded`
carries a pre-serialised body for large cached views.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from proxlb_sim import ha, migrate, views
from proxlb_sim.auth import Identity
from proxlb_sim.cluster import SimCluster
from proxlb_sim.metrics import guest_rrd, node_rrd
from proxlb_sim.pveerror import PveError
from proxlb_sim.tasks import log_view


@dataclass
class Request:
    cluster: SimCluster
    method: str
    path: str
    params: dict[str, Any]
    who: Identity
    t: float

    @property
    def node(self) -> str:
        return str(self.params["node"])

    @property
    def vmid(self) -> int:
        return int(self.params["vmid"])


@dataclass
class Paged:
    data: Any
    total: int


@dataclass
class Encoded:
    """Data with its `{"data": ...}` envelope already serialised (and gzipped on first need)."""

    data: Any
    body: bytes
    gzipped: bytes | None = None


def version(r: Request) -> dict[str, Any]:
    n = r.cluster.api_node
    return {"version": n.version, "release": ".".join(n.version.split(".")[:2]), "repoid": n.repoid[:8]}


def node_version(r: Request) -> dict[str, Any]:
    n = r.cluster.nodes[r.node]
    return {"version": n.version, "release": ".".join(n.version.split(".")[:2]), "repoid": n.repoid[:8]}


def cluster_status(r: Request) -> list[dict[str, Any]]:
    c = r.cluster
    online = sum(1 for n in c.nodes.values() if n.online)
    out: list[dict[str, Any]] = [
        {
            "type": "cluster",
            "id": "cluster",
            "name": c.settings.cluster_name,
            "nodes": len(c.nodes),
            "version": len(c.nodes),
            "quorate": int(online * 2 > len(c.nodes)),
        }
    ]
    api = c.api_node.name
    out.extend(
        {
            "type": "node",
            "id": f"node/{n.name}",
            "name": n.name,
            "nodeid": n.nodeid,
            "ip": n.ip,
            "local": int(n.name == api),
            "online": int(n.online),
            "level": n.level,
        }
        for n in c.nodes.values()
    )
    return out


def _visible(r: Request, entry: dict[str, Any]) -> bool:
    """PVE lists only what the caller may audit."""
    auth, who = r.cluster.auth, r.who
    kind = entry["type"]
    if kind in ("qemu", "lxc"):
        pool = entry.get("pool")
        return auth.has_priv(who, f"/vms/{entry['vmid']}", "VM.Audit") or bool(
            pool and auth.has_priv(who, f"/pool/{pool}", "VM.Audit")
        )
    if kind == "node":
        return auth.has_priv(who, f"/nodes/{entry['node']}", "Sys.Audit")
    if kind == "storage":
        return auth.has_priv(who, f"/storage/{entry['storage']}", "Datastore.Audit")
    if kind == "pool":
        return auth.has_priv(who, f"/pool/{entry['pool']}", "Pool.Audit")
    return auth.has_priv(who, "/", "SDN.Audit")


def cluster_resources(r: Request) -> Any:
    """The big one: data and its encoded envelope are cached per stats interval and state version;
    callers without full audit rights get the entries they may see."""
    if not all(r.cluster.auth.has_priv(r.who, "/", p) for p in ("VM.Audit", "Sys.Audit", "Datastore.Audit")):
        data = views.cluster_resources(r.cluster, r.t, r.params.get("type"))
        return [e for e in data if _visible(r, e)]
    sample = r.cluster.sample(r.t)
    key = f"encoded:{r.params.get('type')}"
    cached = sample.cache.get(key)
    if not isinstance(cached, Encoded):
        data = views.cluster_resources(r.cluster, r.t, r.params.get("type"))
        cached = Encoded(data, json.dumps({"data": data}, separators=(",", ":")).encode())
        sample.cache[key] = cached
    return cached


def cluster_tasks(r: Request) -> list[dict[str, Any]]:
    return r.cluster.tasks.cluster_list()


def cluster_options(r: Request) -> dict[str, Any]:
    base: dict[str, Any] = {
        "keyboard": "en-us",
        "mac_prefix": "BC:24:11",
        "description": "",
        "migration": {"type": "secure"},
        "crs": {"ha": "basic"},
        "ha": {"shutdown_policy": "conditional"},
        "allowed-tags": [],
    }
    base.update(r.cluster.scenario.options)
    return base


def nodes(r: Request) -> list[dict[str, Any]]:
    return views.nodes_list(r.cluster, r.t)


def node_index(r: Request) -> list[dict[str, str]]:
    names = (
        "qemu", "lxc", "replication", "rrddata", "status", "storage", "subscription", "tasks", "version",
        "dns", "time", "services", "config", "netstat", "hardware", "firewall",
    )  # fmt: skip
    return [{"name": n} for n in names]


def node_status(r: Request) -> dict[str, Any]:
    return views.node_status(r.cluster, r.cluster.nodes[r.node], r.t)


def node_rrddata(r: Request) -> list[dict[str, Any]]:
    c = r.cluster
    n = c.nodes[r.node]
    guests = [g for g in c.guests_on(n.name)]
    return node_rrd(c.metrics, n, guests, r.t, r.params["timeframe"], r.params.get("cf", "AVERAGE"))


def qemu_list(r: Request) -> list[dict[str, Any]]:
    c = r.cluster
    gs = sorted((g for g in c.guests_on(r.node) if g.kind == "qemu"), key=lambda g: g.vmid)
    return [views.qemu_entry(c, g, r.t, full=bool(r.params.get("full"))) for g in gs]


def lxc_list(r: Request) -> list[dict[str, Any]]:
    c = r.cluster
    gs = sorted((g for g in c.guests_on(r.node) if g.kind == "lxc"), key=lambda g: g.vmid)
    return [views.lxc_entry(c, g, r.t) for g in gs]


def guest_kind(r: Request) -> str:
    return "qemu" if "/qemu/" in r.path else "lxc"


def guest_index(r: Request) -> list[dict[str, str]]:
    r.cluster.guest_on(r.node, r.vmid, guest_kind(r))
    names = ("config", "status", "migrate", "rrddata", "snapshot", "firewall")
    extra = ("agent",) if guest_kind(r) == "qemu" else ("interfaces",)
    return [{"subdir": n} for n in names + extra]


def guest_config(r: Request) -> dict[str, Any]:
    g = r.cluster.guest_on(r.node, r.vmid, guest_kind(r))
    conf = views.guest_config(g)
    if g.pending and not r.params.get("current"):  # PVE shows pending values unless current=1
        for key, value in g.pending.items():
            if value is None:
                conf.pop(key, None)
            else:
                conf[key] = value
    return conf


def guest_status(r: Request) -> dict[str, Any]:
    c = r.cluster
    kind = guest_kind(r)
    g = c.guest_on(r.node, r.vmid, kind)
    if kind == "lxc":
        out = views.lxc_entry(c, g, r.t)
    else:
        out = views.qemu_entry(c, g, r.t, full=True)
        if str(g.config.get("agent", "0")).split(",")[0] in ("1", "enabled=1"):
            out["agent"] = 1  # qemu-server vmstatus: only when the agent is enabled in the config
    hastate = c.ha_state_of(g)
    out["ha"] = {"managed": 1, "state": hastate} if hastate else {"managed": 0}
    return out


def guest_rrddata(r: Request) -> list[dict[str, Any]]:
    c = r.cluster
    g = c.guests.get(r.vmid)
    if g is None:
        raise PveError(
            500,
            f"RRD error: mmaping file '/var/lib/rrdcached/db/pve-vm-9.0/{r.vmid}': No such file or directory",
        )
    pve9 = c.nodes[g.node].pve9
    return guest_rrd(c.metrics, g, pve9, r.t, r.params["timeframe"], r.params.get("cf", "AVERAGE"))


def migrate_precondition(r: Request) -> dict[str, Any]:
    return migrate.precondition(r.cluster, r.node, r.vmid, guest_kind(r), r.params.get("target"))


def migrate_post(r: Request) -> str:
    if guest_kind(r) == "qemu":
        return migrate.qemu_migrate(r.cluster, r.node, r.vmid, r.params, r.who, r.t)
    return migrate.lxc_migrate(r.cluster, r.node, r.vmid, r.params, r.who, r.t)


def node_tasks(r: Request) -> Paged:
    total, page = r.cluster.tasks.node_list(r.node, r.params)
    return Paged(page, total)


def task_index(r: Request) -> list[dict[str, str]]:
    r.cluster.tasks.get(r.node, str(r.params["upid"]))
    return [{"name": "log"}, {"name": "status"}]


def task_status(r: Request) -> dict[str, Any]:
    return r.cluster.tasks.get(r.node, str(r.params["upid"])).status_view()


def task_log(r: Request) -> Paged:
    task = r.cluster.tasks.get(r.node, str(r.params["upid"]))
    total, lines = log_view(task, int(r.params.get("start", 0)), int(r.params.get("limit", 50)))
    return Paged(lines, total)


def _pool_object(r: Request, poolid: str) -> dict[str, Any]:
    c = r.cluster
    pool = c.pools.get(poolid)
    if pool is None:
        raise PveError(500, f"pool '{poolid}' does not exist")
    c.auth.require(r.who, f"/pool/{poolid}", "Pool.Audit")
    sample = c.sample(r.t)
    wanted = r.params.get("type")
    members: list[dict[str, Any]] = []
    for member in pool.members:
        if member.isdigit() and int(member) in c.guests:
            g = c.guests[int(member)]
            if wanted in (None, g.kind):
                members.append(views.guest_entry(c, g, sample, sample.t, pool_member=True))
        elif member.startswith("storage:") and wanted in (None, "storage"):
            members.extend(views_storage(c, member.split(":", 1)[1]))
    out: dict[str, Any] = {"poolid": pool.poolid}
    if pool.comment:
        out["comment"] = pool.comment
    out["members"] = members
    return out


def views_storage(c: SimCluster, storage: str) -> list[dict[str, Any]]:
    return [e for e in views.storage_entries(c) if e["storage"] == storage]


def pools(r: Request) -> Any:
    if "poolid" in r.params:
        return [_pool_object(r, str(r.params["poolid"]))]
    out = []
    for pool in sorted(r.cluster.pools.values(), key=lambda p: p.poolid):
        if not r.cluster.auth.has_priv(r.who, f"/pool/{pool.poolid}", "Pool.Audit"):
            continue  # PVE lists only pools the caller may audit
        entry: dict[str, Any] = {"poolid": pool.poolid}
        if pool.comment:
            entry["comment"] = pool.comment
        out.append(entry)
    return out


def pool(r: Request) -> dict[str, Any]:
    return _pool_object(r, str(r.params["poolid"]))


def storage_config(r: Request) -> list[dict[str, Any]]:
    c = r.cluster
    out = []
    for s in sorted(c.storages.values(), key=lambda s: s.storage):
        if r.params.get("type") not in (None, s.plugintype):
            continue
        entry: dict[str, Any] = {
            "storage": s.storage,
            "type": s.plugintype,
            "content": s.content,
            "digest": views.fingerprint(s.storage).replace(":", "").lower()[:40],
        }
        if s.shared:
            entry["shared"] = 1
        if set(s.per_node) != set(c.nodes):
            entry["nodes"] = ",".join(sorted(s.per_node))
        out.append(entry)
    return out


def node_storage(r: Request) -> list[dict[str, Any]]:
    c = r.cluster
    out = []
    for e in views.storage_entries(c, r.node):
        if r.params.get("storage") not in (None, e["storage"]):
            continue
        wanted = [x.strip() for x in str(r.params.get("content") or "").split(",") if x.strip()]
        if wanted and not set(wanted) & set(e["content"].split(",")):
            continue  # pve-storage storage_info: keep a storage offering any listed content type
        total, used = e["maxdisk"], e["disk"]
        out.append(
            {
                "storage": e["storage"],
                "type": e["plugintype"],
                "content": e["content"],
                "active": 1,
                "enabled": 1,
                "shared": e["shared"],
                "total": total,
                "used": used,
                "avail": total - used,
                "used_fraction": round(used / total, 6) if total else 0.0,
            }
        )
    return out


def ha_resources(r: Request) -> list[dict[str, Any]]:
    return ha.ha_resources(r.cluster, r.params.get("type"))


def ha_resource(r: Request) -> dict[str, Any]:
    return ha.ha_resource(r.cluster, str(r.params["sid"]))


def ha_groups(r: Request) -> list[dict[str, Any]]:
    return ha.ha_groups(r.cluster)


def ha_rules(r: Request) -> list[dict[str, Any]]:
    return ha.ha_rules(r.cluster, r.params.get("type"), r.params.get("resource"))


def ha_status(r: Request) -> list[dict[str, Any]]:
    return ha.ha_status(r.cluster, r.t)


def ha_manager_status(r: Request) -> dict[str, Any]:
    return ha.ha_manager_status(r.cluster, r.t)


def ha_migrate(r: Request) -> dict[str, Any]:
    relocate = r.path.endswith("/relocate")
    return migrate.ha_resource_migrate(
        r.cluster, str(r.params["sid"]), str(r.params["node"]), r.who, r.t, relocate
    )


def permissions(r: Request) -> dict[str, Any]:
    c = r.cluster
    who = r.who
    if "userid" in r.params:
        userid = str(r.params["userid"])
        user, _, token = userid.partition("!")
        if user not in c.auth.users:
            raise PveError(500, f"no such user ('{userid}')")
        who = Identity(user, token or None)
    return c.auth.permissions(who, r.params.get("path"))


def ticket(r: Request) -> dict[str, Any]:
    p = r.params
    return r.cluster.auth.login(str(p["username"]), str(p["password"]), p.get("realm"))
