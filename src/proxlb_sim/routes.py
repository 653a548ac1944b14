"""Route table and dispatch of the simulated PVE API, shared by the HTTPS server and the in-process API.

`dispatch()` matches method + path (unknown → 501 like PVE), validates parameters against the route's
spec, takes the cluster lock, syncs the virtual clock, checks that a proxied node exists and is online
(500 / 595), then calls the handler. Path segments may hold raw UPIDs (`:`, `@`, `!`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from proxlb_sim import (
    cluster_reads,
    config_writes,
    guest_reads,
    ha_writes,
    node_reads,
    object_reads,
    pool_writes,
    power,
    snapshot_writes,
)
from proxlb_sim import endpoints as e
from proxlb_sim import handlers as h
from proxlb_sim.auth import Identity
from proxlb_sim.cluster import SimCluster
from proxlb_sim.params import Spec, validate
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route
from proxlb_sim.routing import route as _route

_SEG = {"node": "node", "vmid": "vmid", "upid": "string", "poolid": "string", "sid": "string", "id": "string"}
RRD: Spec = {"timeframe!": "enum:hour|day|week|month|year|decade", "cf": "enum:AVERAGE|MAX"}
QM_MIGRATE: Spec = {
    "target!": "node",
    "online": "boolean",
    "with-local-disks": "boolean",
    "targetstorage": "string",
    "bwlimit": "integer",
    "migration_type": "enum:secure|insecure",
    "migration_network": "string",
    "force": "boolean",
    "with-conntrack-state": "boolean",
}
CT_MIGRATE: Spec = {
    "target!": "node",
    "restart": "boolean",
    "online": "boolean",
    "timeout": "integer",
    "bwlimit": "number",
    "target-storage": "string",
}
TASKS: Spec = {
    "start": "integer",
    "limit": "integer",
    "since": "integer",
    "until": "integer",
    "typefilter": "string",
    "userfilter": "string",
    "vmid": "vmid",
    "errors": "boolean",
    "statusfilter": "string",
    "source": "enum:archive|active|all",
}
TICKET: Spec = {
    "username!": "string",
    "password!": "string",
    "realm": "string",
    "otp": "string",
    "tfa-challenge": "string",
    "path": "string",
    "privs": "string",
    "new-format": "boolean",
}


_MORE: tuple[Route, ...] = (
    _route("GET", "/", e.root_index),
    _route("GET", "/cluster", e.cluster_index),
    _route("GET", "/access", e.access_index),
    _route("GET", "/cluster/ha", e.ha_index),
    _route("GET", "/cluster/ha/status", e.ha_status_index),
    _route("GET", "/nodes/{node}/subscription", e.subscription),
    _route("GET", "/nodes/{node}/replication", e.replication_status, {"guest": "vmid"}),
    _route("GET", "/nodes/{node}/replication/{id}", e.replication_job_index),
    _route("GET", "/nodes/{node}/replication/{id}/status", e.replication_job_status),
    _route("GET", "/cluster/replication", e.replication_config),
    _route("GET", "/cluster/replication/{id}", e.replication_config_job),
    _route("GET", "/cluster/backup", e.backup_jobs),
    _route("GET", "/cluster/backup/{id}", e.backup_job),
    _route("GET", "/cluster/backup-info", e.backup_info_index),
    _route("GET", "/cluster/backup-info/not-backed-up", e.not_backed_up),
    _route("GET", "/cluster/config", e.config_index),
    _route("GET", "/cluster/config/qdevice", e.qdevice),
    _route("GET", "/cluster/config/nodes", e.config_nodes),
    _route("GET", "/cluster/config/totem", e.config_totem),
    _route("GET", "/cluster/firewall/options", e.empty_object),
    _route("GET", "/nodes/{node}/storage/{storage}", e.storage_index),
    _route("GET", "/nodes/{node}/storage/{storage}/status", e.storage_status),
    _route(
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        e.storage_content,
        {"content": "enum:images|rootdir|vztmpl|iso|backup|snippets|import", "vmid": "vmid"},
    ),
    _route("GET", "/access/users", e.users, {"enabled": "boolean", "full": "boolean"}),
    _route("GET", "/access/groups", e.groups),
    _route("GET", "/access/acl", e.acl),
    _route("GET", "/access/roles", e.roles),
    _route("GET", "/access/domains", e.domains),
)

ROUTES: tuple[Route, ...] = tuple(
    [
        _route("GET", "/version", h.version),
        _route("GET", "/cluster/status", h.cluster_status),
        _route("GET", "/cluster/resources", h.cluster_resources, {"type": "enum:vm|storage|node|sdn"}),
        _route("GET", "/cluster/tasks", h.cluster_tasks),
        _route("GET", "/cluster/options", h.cluster_options),
        _route("GET", "/nodes", h.nodes),
        _route("GET", "/nodes/{node}", h.node_index),
        _route("GET", "/nodes/{node}/status", h.node_status),
        _route("GET", "/nodes/{node}/version", h.node_version),
        _route("GET", "/nodes/{node}/rrddata", h.node_rrddata, RRD),
        _route("GET", "/nodes/{node}/qemu", h.qemu_list, {"full": "boolean"}),
        _route("GET", "/nodes/{node}/lxc", h.lxc_list),
        _route(
            "GET",
            "/nodes/{node}/storage",
            h.node_storage,
            {
                "content": "string",
                "enabled": "boolean",
                "format": "boolean",
                "storage": "string",
                "target": "string",
            },
        ),
        _route("GET", "/nodes/{node}/tasks", h.node_tasks, TASKS),
        _route("GET", "/nodes/{node}/tasks/{upid}", h.task_index),
        _route("GET", "/nodes/{node}/tasks/{upid}/status", h.task_status),
        _route(
            "GET",
            "/nodes/{node}/tasks/{upid}/log",
            h.task_log,
            {"start": "integer", "limit": "integer", "download": "boolean"},
        ),
        _route("GET", "/pools", h.pools, {"poolid": "string", "type": "enum:qemu|lxc|storage"}),
        _route("GET", "/pools/{poolid}", h.pool, {"type": "enum:qemu|lxc|storage"}),
        _route("GET", "/storage", h.storage_config, {"type": "string"}),
        _route("GET", "/cluster/ha/resources", h.ha_resources, {"type": "enum:vm|ct"}),
        _route("GET", "/cluster/ha/resources/{sid}", h.ha_resource),
        _route("GET", "/cluster/ha/groups", h.ha_groups),
        _route(
            "GET",
            "/cluster/ha/rules",
            h.ha_rules,
            {"type": "enum:node-affinity|resource-affinity", "resource": "string"},
        ),
        _route("GET", "/cluster/ha/status/current", h.ha_status),
        _route("GET", "/cluster/ha/status/manager_status", h.ha_manager_status),
        _route("POST", "/cluster/ha/resources/{sid}/migrate", h.ha_migrate, {"node!": "node"}),
        _route("POST", "/cluster/ha/resources/{sid}/relocate", h.ha_migrate, {"node!": "node"}),
        _route("GET", "/access/permissions", h.permissions, {"userid": "string", "path": "string"}),
        _route("POST", "/access/ticket", h.ticket, TICKET),
        _route("GET", "/access/ticket", lambda r: None),  # pve-access-control AccessControl.pm: a dummy index
    ]
    + list(_MORE)
    + [_route("GET", path, e.empty_list) for path, _ in e.EMPTY_LISTS]
    + [*guest_reads.ROUTES, *object_reads.ROUTES, *node_reads.ROUTES, *cluster_reads.ROUTES]
    + [*config_writes.ROUTES, *power.ROUTES, *snapshot_writes.ROUTES, *ha_writes.ROUTES, *pool_writes.ROUTES]
    + [
        r
        for kind, mig in (("qemu", QM_MIGRATE), ("lxc", CT_MIGRATE))
        for r in (
            _route("GET", f"/nodes/{{node}}/{kind}/{{vmid}}", h.guest_index),
            _route(
                "GET",
                f"/nodes/{{node}}/{kind}/{{vmid}}/config",
                h.guest_config,
                {"current": "boolean", "snapshot": "string"},
            ),
            _route("GET", f"/nodes/{{node}}/{kind}/{{vmid}}/status/current", h.guest_status),
            _route("GET", f"/nodes/{{node}}/{kind}/{{vmid}}/rrddata", h.guest_rrddata, RRD),
            _route(
                "GET", f"/nodes/{{node}}/{kind}/{{vmid}}/migrate", h.migrate_precondition, {"target": "node"}
            ),
            _route("POST", f"/nodes/{{node}}/{kind}/{{vmid}}/migrate", h.migrate_post, mig),
        )
    ]
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route and its path parameters, or PVE's 501."""
    clean = "/" + path.strip("/") if path.strip("/") else "/"
    for route in ROUTES:
        if route.method != method:
            continue
        found = route.regex.match(clean)
        if found:
            return route, {k: unquote(v) for k, v in found.groupdict().items()}
    raise PveError(501, f"Method '{method} {clean}' not implemented")


def dispatch(cluster: SimCluster, method: str, path: str, params: dict[str, Any], who: Identity) -> Any:
    """Run one API call; returns the handler's data (or `handlers.Paged`), raises `PveError`."""
    route, path_params = match(method, path)
    spec = dict(route.spec)
    for name in path_params:
        spec.setdefault(name, _SEG.get(name, "string"))
    checked = validate(spec, params, path_params)
    with cluster.lock:
        t = cluster.sync()
        if route.proxied:
            cluster.node(str(checked["node"]))
        return route.handler(h.Request(cluster, method, path, checked, who, t))
