"""Cluster-wide reads: SDN (zones, vnets, subnets, controllers, IPAMs, DNS), the join information,
the cluster log and the next free VMID.

Shapes follow pve-network `src/PVE/API2/Network/SDN.pm` and `SDN/{Zones,Vnets,Subnets,Controllers,
Ipams,Dns}.pm` (a cluster without SDN configuration still lists the built-in `pve` IPAM), pve-cluster
`src/PVE/API2/ClusterConfig.pm` (`join_info`) and pve-manager `PVE/API2/Cluster.pm` (`log`, `nextid`).
The cluster log is derived from the task list (pvedaemon logs `starting task` / `end task` lines).
"""

from __future__ import annotations

import hashlib
from typing import Any

from proxlb_sim.handlers import Request
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route
from proxlb_sim.views import fingerprint

_SDN_PRIVS = ("SDN.Audit", "SDN.Allocate")


def _sdn_digest(what: str) -> str:
    return hashlib.sha1(f"sdn-{what}".encode()).hexdigest()


def sdn_index(r: Request) -> list[dict[str, str]]:
    """`GET /cluster/sdn`."""
    return [{"id": n} for n in ("vnets", "zones", "controllers", "ipams", "dns", "fabrics")]


def _may_sdn(r: Request, path: str) -> bool:
    return any(r.cluster.auth.has_priv(r.who, path, p) for p in _SDN_PRIVS)


def sdn_empty(r: Request) -> list[dict[str, Any]]:
    """Zones, vnets, controllers and DNS plugins: none configured."""
    return []


def sdn_ipams(r: Request) -> list[dict[str, Any]]:
    """`GET /cluster/sdn/ipams`: the built-in `pve` IPAM always exists."""
    if r.params.get("type") not in (None, "pve") or not _may_sdn(r, "/sdn/ipams/pve"):
        return []
    return [{"ipam": "pve", "type": "pve", "digest": _sdn_digest("ipams")}]


def sdn_ipam(r: Request) -> dict[str, Any]:
    """`GET /cluster/sdn/ipams/{ipam}`."""
    ipam = str(r.params["ipam"])
    if ipam != "pve":
        raise PveError(500, f"sdn '{ipam}' does not exist")
    return {"ipam": "pve", "type": "pve", "digest": _sdn_digest("ipams")}


def sdn_ipam_status(r: Request) -> list[dict[str, Any]]:
    """`GET /cluster/sdn/ipams/pve/status`: no subnet, so no allocation."""
    if str(r.params["ipam"]) != "pve":
        raise PveError(500, f"sdn '{r.params['ipam']}' does not exist")
    return []


def sdn_missing(what: str) -> Any:
    def handler(r: Request) -> dict[str, Any]:
        name = next(str(v) for k, v in r.params.items() if k in ("zone", "vnet", "controller", "dns"))
        raise PveError(500, f"sdn '{name}' does not exist")

    handler.__name__ = f"sdn_{what}_read"
    return handler


def join_info(r: Request) -> dict[str, Any]:
    """`GET /cluster/config/join` (`node` defaults to the answering node)."""
    c = r.cluster
    name = str(r.params.get("node") or c.api_node.name)
    if name not in c.nodes:
        raise PveError(500, f"unknown node '{name}'")
    nodelist = [
        {
            "name": n.name,
            "nodeid": str(n.nodeid),
            "quorum_votes": "1",
            "ring0_addr": n.ip,
            "pve_addr": n.ip,
            "pve_fp": fingerprint(n.name),
        }
        for n in c.nodes.values()
    ]
    totem = {
        "cluster_name": c.settings.cluster_name,
        "config_version": str(len(c.nodes)),
        "interface": {"0": {"linknumber": "0"}},
        "ip_version": "ipv4-6",
        "link_mode": "passive",
        "secauth": "on",
        "version": "2",
    }
    digest = hashlib.sha1(f"corosync:{c.settings.cluster_name}:{len(c.nodes)}".encode()).hexdigest()
    return {"nodelist": nodelist, "preferred_node": name, "totem": totem, "config_digest": digest}


def cluster_log(r: Request) -> list[dict[str, Any]]:
    """`GET /cluster/log` (`max`, default 50): newest first; callers without Sys.Syslog on / see
    only their own entries."""
    c = r.cluster
    admin = c.auth.has_priv(r.who, "/", "Sys.Syslog")
    entries: list[dict[str, Any]] = []
    for task in c.tasks.all():
        user = task.user
        if not admin and user.partition("!")[0] != r.who.userid:
            continue
        events = [(task.starttime, f"starting task {task.upid}")]
        if task.endtime is not None:
            events.append((task.endtime, f"end task {task.upid} {task.exitstatus}"))
        for when, msg in events:
            entries.append(
                {
                    "time": when,
                    "pri": 6,
                    "tag": "pvedaemon",
                    "pid": task.pid,
                    "node": task.node,
                    "user": user,
                    "msg": msg,
                }
            )
    entries.sort(key=lambda e: e["time"])
    for uid, entry in enumerate(entries, start=1):
        entry["uid"] = uid
        entry["id"] = f"{uid}:{entry['node']}"
    limit = int(r.params.get("max") or 50)
    return list(reversed(entries))[:limit]


def nextid(r: Request) -> str:
    """`GET /cluster/nextid`: the lowest free VMID from 100 (a string on the wire, as PVE sends it);
    a given `vmid` is echoed when free, else 400."""
    used = set(r.cluster.guests)
    if "vmid" in r.params:
        vmid = int(r.params["vmid"])
        if vmid in used:
            raise PveError.params({"vmid": f"VM {vmid} already exists"})
        return str(vmid)
    candidate = 100
    while candidate in used:
        candidate += 1
    return str(candidate)


_PR = {"pending": "boolean", "running": "boolean"}
ROUTES: tuple[Route, ...] = (
    route("GET", "/cluster/sdn", sdn_index),
    route("GET", "/cluster/sdn/zones", sdn_empty, {"type": "string", **_PR}),
    route("GET", "/cluster/sdn/zones/{zone}", sdn_missing("zone"), _PR),
    route("GET", "/cluster/sdn/vnets", sdn_empty, _PR),
    route("GET", "/cluster/sdn/vnets/{vnet}", sdn_missing("vnet"), _PR),
    route("GET", "/cluster/sdn/vnets/{vnet}/subnets", sdn_missing("vnet"), _PR),
    route("GET", "/cluster/sdn/controllers", sdn_empty, {"type": "string", **_PR}),
    route("GET", "/cluster/sdn/controllers/{controller}", sdn_missing("controller")),
    route("GET", "/cluster/sdn/ipams", sdn_ipams, {"type": "string"}),
    route("GET", "/cluster/sdn/ipams/{ipam}", sdn_ipam),
    route("GET", "/cluster/sdn/ipams/{ipam}/status", sdn_ipam_status),
    route("GET", "/cluster/sdn/dns", sdn_empty, {"type": "string"}),
    route("GET", "/cluster/sdn/dns/{dns}", sdn_missing("dns")),
    route("GET", "/cluster/config/join", join_info, {"node": "node"}),
    route("GET", "/cluster/log", cluster_log, {"max": "integer"}),
    route("GET", "/cluster/nextid", nextid, {"vmid": "vmid"}),
)  # fmt: skip
