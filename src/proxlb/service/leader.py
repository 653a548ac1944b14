"""HA leader gate (`service.enable_ha`): only one ProxLB instance acts per cycle.

Rule (documented in docs/operations.md): the leader is the instance whose identity
(`service.ha_identity`, default: this host's name; compared case-insensitively, a fully
qualified name by its first label) equals
1. the PVE HA manager's master node (`/cluster/ha/status/manager_status` → `master_node`), or,
2. when the HA stack was never configured (no master), the alphabetically lowest *online* node of
   `/cluster/status` (the corosync quorum membership).
The cluster's own consensus decides; ProxLB runs no election of its own. An instance off-cluster
sets `ha_identity` to the PVE node it stands in for.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Protocol

from proxlb.config.render import mask_secret_like
from proxlb.errors import ApiError

log = logging.getLogger(__name__)

STANDBY_RECHECK_SECONDS = 60.0


class LeaderApi(Protocol):
    def get(self, path: str, **params: str | int) -> Any: ...

    def ha_master(self) -> str | None: ...


def identity(config: Any) -> str:
    configured = getattr(getattr(config, "service", None), "ha_identity", None)
    return str(configured) if configured else socket.gethostname()


def _same(a: str, b: str) -> bool:
    """Host names compare case-insensitively, a fully qualified name by its first label."""
    return _short(a) == _short(b)


def _short(name: str) -> str:
    return name.strip().lower().split(".", maxsplit=1)[0]


def _node_names(status: Any) -> list[str]:
    entries = status if isinstance(status, list) else []
    nodes = [e for e in entries if isinstance(e, dict) and e.get("type") == "node" and e.get("name")]
    return sorted(str(e["name"]) for e in nodes)


def _unknown_identity(me: str, status: Any) -> str:
    """'' when `me` names a node of the cluster (or the node list is unknown); else a loud warning."""
    names = _node_names(status)
    if not names or any(_same(n, me) for n in names):
        return ""
    me = mask_secret_like(me)  # a token pasted as the identity is not echoed
    log.warning(
        "HA identity '%s' matches no node of this cluster (%s): this instance will NEVER act. Set "
        "service.ha_identity to the PVE node this instance runs on or stands in for",
        me,
        ", ".join(names),
    )
    return f" (identity '{me}' matches no cluster node)"


def quorum_leader(status: Any) -> str | None:
    """Lowest-named online node of GET /cluster/status."""
    names = sorted(
        str(e.get("name"))
        for e in (status if isinstance(status, list) else [])
        if isinstance(e, dict)
        and e.get("type") == "node"
        and str(e.get("online", 0)) in ("1", "True")
        and e.get("name")
    )
    return names[0] if names else None


def standby_reason(client: LeaderApi, config: Any) -> str | None:
    """None when this instance leads this cycle; otherwise why it stands by."""
    me = identity(config)
    try:
        master = client.ha_master()
    except ApiError as exc:
        log.warning("could not read the PVE HA manager status (%s); using quorum membership", exc)
        master = None
    if master:
        if _same(master, me):
            log.debug("leader: %s is the PVE HA manager master", me)
            return None
        try:
            unknown = _unknown_identity(me, client.get("/cluster/status"))
        except ApiError:
            unknown = ""
        return (
            f"the PVE HA manager master is {master}; this instance speaks for {mask_secret_like(me)}{unknown}"
        )
    status = client.get("/cluster/status")
    leader = quorum_leader(status)
    if leader is None:
        return "no online cluster node found to elect"
    if _same(leader, me):
        log.debug("leader: %s is the lowest-named online node (no HA master)", me)
        return None
    unknown = _unknown_identity(me, status)
    shown = mask_secret_like(me)
    why = f"no PVE HA master; the lowest-named online node {leader} leads, this instance speaks for {shown}"
    return why + unknown
