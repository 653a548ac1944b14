"""HA leader gate (`service.enable_ha`): only one ProxLB instance acts per cycle.

Rule (documented in docs/operations.md): the leader is the instance whose identity
(`service.ha_identity`, default: this host's name, short form also accepted) equals
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
    return a == b or a.split(".", maxsplit=1)[0] == b.split(".", maxsplit=1)[0]


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
        return f"the PVE HA manager master is {master}; this instance speaks for {me}"
    leader = quorum_leader(client.get("/cluster/status"))
    if leader is None:
        return "no online cluster node found to elect"
    if _same(leader, me):
        log.debug("leader: %s is the lowest-named online node (no HA master)", me)
        return None
    return f"no PVE HA master; the lowest-named online node {leader} leads, this instance speaks for {me}"
