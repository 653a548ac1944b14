"""Read endpoints beyond placement that monitoring and admin tools call: subscription, replication,
backup jobs, QDevice and corosync config, storage content, access lists, directory indexes, and the
PVE endpoints the simulator does not model but answers with PVE's empty answer.

Each handler takes a validated `handlers.Request` (cluster lock held, clock synced) and returns `data`.
The PVE source each one follows is named in its docstring and in docs/simulator.md.
"""

from __future__ import annotations

import hashlib
from typing import Any

from proxlb_sim import access, content, jobs
from proxlb_sim.handlers import Request, node_storage
from proxlb_sim.pveerror import PveError

SUBSCRIPTION_URL = "https://www.proxmox.com/en/proxmox-virtual-environment/pricing"
_LEVELS = {"c": "Community", "b": "Basic", "s": "Standard", "p": "Premium"}


def _sockets(maxcpu: float) -> int:
    return 2 if maxcpu >= 16 else 1  # matches cpuinfo.sockets of /nodes/{node}/status


def subscription(r: Request) -> dict[str, Any]:
    """pve-manager PVE/API2/Subscription.pm `get`: `notfound` without a key; the server id only for
    callers with Sys.Audit on the node; key, level, dates and sockets for a set key."""
    c = r.cluster
    node = c.nodes[r.node]
    spec = c.scenario.subscription
    audit = c.auth.has_priv(r.who, f"/nodes/{node.name}", "Sys.Audit")
    serverid = hashlib.md5(f"serverid:{node.name}".encode()).hexdigest().upper()
    if spec.status == "notfound":
        out: dict[str, Any] = {
            "status": "notfound",
            "message": "There is no subscription key",
            "url": SUBSCRIPTION_URL,
        }
        if audit:
            out["serverid"] = serverid
        return out
    message = {"active": None, "new": None}.get(spec.status, f"subscription {spec.status}")
    if not audit:
        limited: dict[str, Any] = {"status": spec.status, "url": SUBSCRIPTION_URL}
        if message:
            limited["message"] = message
        return limited
    sockets = _sockets(node.maxcpu)
    cpus = "CPUs" if sockets > 1 else "CPU"
    key_hex = hashlib.sha1(f"key:{c.settings.cluster_name}:{node.name}".encode()).hexdigest()[:10]
    out = {
        "status": spec.status,
        "checktime": int(c.clock.start - 3 * 3600),
        "key": f"pve{sockets}{spec.level}-{key_hex}",
        "level": spec.level,
        "productname": f"Proxmox VE {_LEVELS[spec.level]} Subscription {sockets} {cpus}/year",
        "regdate": spec.regdate,
        "nextduedate": spec.nextduedate,
        "serverid": serverid,
        "sockets": sockets,
        "url": SUBSCRIPTION_URL,
    }
    if message:
        out["message"] = message
    return out


def replication_status(r: Request) -> list[dict[str, Any]]:
    """pve-manager PVE/API2/Replication.pm `status` (GET /nodes/{node}/replication)."""
    guest = r.params.get("guest")
    return jobs.replication_status(r.cluster, r.node, r.t, None if guest is None else int(guest))


def replication_job_index(r: Request) -> list[dict[str, str]]:
    """pve-manager PVE/API2/Replication.pm `index` of one job."""
    jobs.replication_job_status(r.cluster, r.node, str(r.params["id"]), r.t)
    return [{"name": "schedule_now"}, {"name": "log"}, {"name": "status"}]


def replication_job_status(r: Request) -> dict[str, Any]:
    """pve-manager PVE/API2/Replication.pm `job_status`."""
    return jobs.replication_job_status(r.cluster, r.node, str(r.params["id"]), r.t)


def replication_config(r: Request) -> list[dict[str, Any]]:
    """pve-manager PVE/API2/ReplicationConfig.pm `index` (GET /cluster/replication)."""
    return jobs.replication_config(r.cluster)


def replication_config_job(r: Request) -> dict[str, Any]:
    """pve-manager PVE/API2/ReplicationConfig.pm `read`."""
    jobid = str(r.params["id"])
    for entry in jobs.replication_config(r.cluster):
        if entry["id"] == jobid:
            return entry
    raise PveError(500, f"replication job '{jobid}' does not exist")


def backup_jobs(r: Request) -> list[dict[str, Any]]:
    """pve-manager PVE/API2/Backup.pm `index` (GET /cluster/backup)."""
    return jobs.backup_jobs(r.cluster, r.t)


def backup_job(r: Request) -> dict[str, Any]:
    """pve-manager PVE/API2/Backup.pm `read_job`."""
    return jobs.backup_job(r.cluster, str(r.params["id"]), r.t)


def backup_info_index(r: Request) -> list[dict[str, str]]:
    """pve-manager PVE/API2/Cluster/BackupInfo.pm `index`."""
    return [{"subdir": "not-backed-up"}]


def not_backed_up(r: Request) -> list[dict[str, Any]]:
    """pve-manager PVE/API2/Cluster/BackupInfo.pm `get_guests_not_in_backup` (needs Sys.Audit on /;
    lists only guests the caller may audit)."""
    r.cluster.auth.require(r.who, "/", "Sys.Audit")
    return [
        e
        for e in jobs.not_backed_up(r.cluster)
        if r.cluster.auth.has_priv(r.who, f"/vms/{e['vmid']}", "VM.Audit")
    ]


def config_index(r: Request) -> list[dict[str, str]]:
    """pve-cluster src/PVE/API2/ClusterConfig.pm `index`."""
    return [{"name": n} for n in ("nodes", "create", "join", "totem", "qdevice", "apiversion")]


def qdevice(r: Request) -> dict[str, Any]:
    """pve-cluster src/PVE/API2/ClusterConfig.pm `status` (GET /cluster/config/qdevice): `{}` when no
    QDevice is configured, which the simulator never has."""
    return {}


def config_nodes(r: Request) -> list[dict[str, Any]]:
    """pve-cluster src/PVE/API2/ClusterConfig.pm `nodes`: corosync nodelist entries."""
    return [
        {"node": n.name, "name": n.name, "nodeid": str(n.nodeid), "quorum_votes": "1", "ring0_addr": n.ip}
        for n in r.cluster.nodes.values()
    ]


def config_totem(r: Request) -> dict[str, Any]:
    """pve-cluster src/PVE/API2/ClusterConfig.pm `totem`."""
    return {
        "cluster_name": r.cluster.settings.cluster_name,
        "config_version": str(len(r.cluster.nodes)),
        "interface": {"0": {"linknumber": "0"}},
        "ip_version": "ipv4-6",
        "link_mode": "passive",
        "secauth": "on",
        "version": "2",
    }


def storage_index(r: Request) -> list[dict[str, str]]:
    """pve-storage src/PVE/API2/Storage/Status.pm `diridx`."""
    content.check_storage(r.cluster, r.node, str(r.params["storage"]))
    return [
        {"subdir": s}
        for s in (
            "content",
            "download-url",
            "file-restore",
            "import-metadata",
            "prunebackups",
            "rrd",
            "rrddata",
            "status",
            "upload",
        )
    ]


def storage_status(r: Request) -> dict[str, Any]:
    """pve-storage src/PVE/API2/Storage/Status.pm `read_status`."""
    storage = str(r.params["storage"])
    content.check_storage(r.cluster, r.node, storage)
    entry = next(e for e in node_storage(r) if e["storage"] == storage)
    return {k: v for k, v in entry.items() if k not in ("storage", "used_fraction")}


def storage_content(r: Request) -> list[dict[str, Any]]:
    """pve-storage src/PVE/API2/Storage/Content.pm `index`."""
    vmid = r.params.get("vmid")
    return content.storage_content(
        r.cluster,
        r.node,
        str(r.params["storage"]),
        r.params.get("content"),
        None if vmid is None else int(vmid),
    )


def users(r: Request) -> list[dict[str, Any]]:
    """pve-access-control src/PVE/API2/User.pm `index` (all users for User.Modify/Sys.Audit on
    /access/groups, else only the caller)."""
    c = r.cluster
    tokens = {u.userid: u.tokens for u in c.auth.users.values()}
    enabled = r.params.get("enabled")
    out = access.users_view(c.auth.section, tokens, bool(r.params.get("full")), enabled)
    if not any(c.auth.has_priv(r.who, "/access/groups", p) for p in ("User.Modify", "Sys.Audit")):
        out = [e for e in out if e["userid"] == r.who.userid]
    return out


def groups(r: Request) -> list[dict[str, Any]]:
    """pve-access-control src/PVE/API2/Group.pm `index`."""
    c = r.cluster
    privs = ("User.Modify", "Sys.Audit", "Group.Allocate")
    return [
        g
        for g in access.groups_view(c.auth.section)
        if any(c.auth.has_priv(r.who, f"/access/groups/{g['groupid']}", p) for p in privs)
    ]


def acl(r: Request) -> list[dict[str, Any]]:
    """pve-access-control src/PVE/API2/ACL.pm `read_acl` (everything for Sys.Audit on /access)."""
    c = r.cluster
    if not c.auth.has_priv(r.who, "/access", "Sys.Audit"):
        return [
            e
            for e in access.acl_view(c.auth.section)
            if c.auth.has_priv(r.who, e["path"], "Permissions.Modify")
        ]
    return access.acl_view(c.auth.section)


def roles(r: Request) -> list[dict[str, Any]]:
    """pve-access-control src/PVE/API2/Role.pm `index`."""
    return access.roles_view(r.cluster.auth.section)


def domains(r: Request) -> list[dict[str, Any]]:
    """pve-access-control src/PVE/API2/Domains.pm `index`."""
    return access.domains_view()


def root_index(r: Request) -> list[dict[str, str]]:
    """pve-manager PVE/API2.pm `index`."""
    return [{"subdir": s} for s in ("version", "cluster", "nodes", "storage", "access", "pools")]


def cluster_index(r: Request) -> list[dict[str, str]]:
    """pve-manager PVE/API2/Cluster.pm `index`."""
    names = (
        "acme", "backup", "backup-info", "bulk-action", "ceph", "config", "firewall", "ha", "jobs", "log",
        "mapping", "metrics", "notifications", "nextid", "options", "qemu", "replication", "resources",
        "status", "tasks", "sdn",
    )  # fmt: skip
    return [{"name": n} for n in names]


def access_index(r: Request) -> list[dict[str, str]]:
    """pve-access-control src/PVE/API2/AccessControl.pm `index`."""
    names = (
        "users",
        "groups",
        "roles",
        "acl",
        "domains",
        "openid",
        "tfa",
        "ticket",
        "password",
        "permissions",
    )
    return [{"subdir": n} for n in names]


def ha_index(r: Request) -> list[dict[str, str]]:
    """pve-manager `PVE/API2/HAConfig.pm` `index`."""
    return [{"id": n} for n in ("status", "resources", "groups", "rules")]


def ha_status_index(r: Request) -> list[dict[str, str]]:
    """pve-ha-manager `src/PVE/API2/HA/Status.pm` `index`."""
    return [{"name": n} for n in ("current", "manager_status", "disarm-ha", "arm-ha")]


def empty_list(r: Request) -> list[Any]:
    """PVE's answer on a cluster where nothing of that kind is configured."""
    return []


def empty_object(r: Request) -> dict[str, Any]:
    """PVE's answer when an optional feature is not configured."""
    return {}


# PVE endpoints that answer an empty list on a cluster without that feature configured, and the
# source that defines each (see docs/simulator.md).
EMPTY_LISTS: tuple[tuple[str, str], ...] = (
    ("/cluster/firewall/groups", "pve-firewall src/PVE/API2/Firewall/Groups.pm"),
    ("/cluster/firewall/rules", "pve-firewall src/PVE/API2/Firewall/Rules.pm"),
    ("/cluster/firewall/aliases", "pve-firewall src/PVE/API2/Firewall/Aliases.pm"),
    ("/cluster/firewall/ipset", "pve-firewall src/PVE/API2/Firewall/IPSet.pm"),
    ("/nodes/{node}/firewall/rules", "pve-firewall src/PVE/API2/Firewall/Rules.pm"),
    ("/cluster/metrics/server", "pve-manager PVE/API2/Cluster/MetricServer.pm"),
    ("/cluster/mapping/pci", "pve-manager PVE/API2/Cluster/Mapping/PCI.pm"),
    ("/cluster/mapping/usb", "pve-manager PVE/API2/Cluster/Mapping/USB.pm"),
    ("/cluster/mapping/dir", "pve-manager PVE/API2/Cluster/Mapping/Dir.pm"),
    ("/cluster/jobs/realm-sync", "pve-access-control src/PVE/API2/Jobs/RealmSync.pm"),
)
