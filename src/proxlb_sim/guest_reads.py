"""Guest reads beyond placement: snapshot lists, the QEMU guest agent's GET commands, container
interfaces and per-guest firewall rules/options.

Shapes and error wording follow qemu-server `src/PVE/API2/Qemu.pm` (`snapshot_list`,
`get_snapshot_config`, `snapshot_cmd_idx`), `src/PVE/API2/Qemu/Agent.pm` and
`src/PVE/QemuServer/Agent.pm` (`assert_agent_available`), pve-container `src/PVE/API2/LXC/Snapshot.pm`
and `src/PVE/API2/LXC.pm` (`ip`), pve-firewall `src/PVE/API2/Firewall/VM.pm`. Agent answers are a pure
function of the guest (its vmid, name, config and run state) and the virtual time.
"""

from __future__ import annotations

import hashlib
from typing import Any

from proxlb_sim.agent_data import agent_result, ct_interfaces
from proxlb_sim.handlers import Request, guest_kind
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route
from proxlb_sim.state import SimGuest
from proxlb_sim.views import guest_config

AGENT_GET = (
    "get-fsinfo",
    "get-host-name",
    "get-memory-block-info",
    "get-memory-blocks",
    "get-osinfo",
    "get-time",
    "get-timezone",
    "get-users",
    "get-vcpus",
    "info",
    "network-get-interfaces",
)
AGENT_INDEX = sorted(
    (
        *AGENT_GET,
        "ping",
        "fsfreeze-status",
        "fsfreeze-freeze",
        "fsfreeze-thaw",
        "fstrim",
        "suspend-hybrid",
        "suspend-ram",
        "suspend-disk",
        "shutdown",
        "exec",
        "exec-status",
        "file-read",
        "file-write",
        "set-user-password",
    )
)
EMPTY_DIGEST = hashlib.sha1(b"").hexdigest()  # pve-firewall copy_opject_with_digest of no options


def _guest(r: Request) -> SimGuest:
    return r.cluster.guest_on(r.node, r.vmid, guest_kind(r))


def require_any(r: Request, privs: tuple[str, ...]) -> None:
    """PVE's `check_any`: one of `privs` on /vms/{vmid}, else 403 naming them joined by '|'."""
    path = f"/vms/{r.vmid}"
    if not any(r.cluster.auth.has_priv(r.who, path, p) for p in privs):
        raise PveError(403, f"Permission check failed ({path}, {'|'.join(privs)})")


# -- snapshots ----------------------------------------------------------------------------------------


def snapshot_list(r: Request) -> list[dict[str, Any]]:
    """`GET .../{vmid}/snapshot`: every snapshot, then `current` ("You are here!")."""
    r.cluster.auth.require(r.who, f"/vms/{r.vmid}", "VM.Audit")
    g = _guest(r)
    qemu = g.kind == "qemu"
    out: list[dict[str, Any]] = []
    for name, snap in g.snapshots.items():
        item: dict[str, Any] = {"name": name, "snaptime": int(snap.get("snaptime") or 0)}
        if qemu:
            item["vmstate"] = 1 if snap.get("vmstate") else 0
        item["description"] = snap.get("description") or ""
        if snap.get("parent"):
            item["parent"] = snap["parent"]
        if snap.get("snapstate"):
            item["snapstate"] = snap["snapstate"]
        out.append(item)
    current: dict[str, Any] = {
        "name": "current",
        "digest": guest_config(g)["digest"],
        "running": int(g.running),
        "description": "You are here!",
    }
    if g.parent:
        current["parent"] = g.parent
    out.append(current)
    return out


def _snapshot(r: Request) -> tuple[SimGuest, dict[str, Any]]:
    g = _guest(r)
    name = str(r.params["snapname"])
    snap = g.snapshots.get(name)
    if snap is None:
        raise PveError(500, f"snapshot '{name}' does not exist")
    return g, snap


def snapshot_index(r: Request) -> list[dict[str, str]]:
    """`GET .../snapshot/{snapname}` (snapshot_cmd_idx)."""
    r.cluster.auth.require(r.who, f"/vms/{r.vmid}", "VM.Audit")
    _snapshot(r)
    return [{"cmd": "rollback"}, {"cmd": "config"}]


def snapshot_config(r: Request) -> dict[str, Any]:
    """`GET .../snapshot/{snapname}/config`: the configuration saved with the snapshot."""
    r.cluster.auth.require(r.who, f"/vms/{r.vmid}", "VM.Audit")
    _, snap = _snapshot(r)
    conf = dict(snap.get("config") or {})
    conf.update({k: snap[k] for k in ("snaptime", "description", "vmstate", "parent") if snap.get(k)})
    conf.pop("lock", None)
    return conf


# -- QEMU guest agent ---------------------------------------------------------------------------------


def agent_index(r: Request) -> list[dict[str, str]]:
    """`GET .../agent`: the command index (any user)."""
    return [{"name": n} for n in AGENT_INDEX]


def agent_enabled(g: SimGuest) -> bool:
    """`parse_guest_agent`: `agent: 1` or `agent: enabled=1,...`."""
    value = str(g.config.get("agent", "0"))
    first = value.split(",", maxsplit=1)[0]
    return first in ("1", "enabled=1", "on", "yes")


def _agent_command(command: str) -> Any:
    def handler(r: Request) -> dict[str, Any]:
        c = r.cluster
        privs = ("VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted")
        require_any(r, privs if c.nodes[r.node].pve9 else ("VM.Monitor",))
        g = c.guest_on(r.node, r.vmid, "qemu")
        if "agent" not in g.config:
            raise PveError(500, "No QEMU guest agent configured")
        if not g.running:
            raise PveError(500, f"VM {g.vmid} is not running")
        if not agent_enabled(g) or g.vmid in c.scenario.agent.not_running:
            raise PveError(500, "QEMU guest agent is not running")
        return {"result": agent_result(command, g, c.scenario.agent.os.get(g.vmid), r.t)}

    handler.__name__ = f"agent_{command.replace('-', '_')}"
    return handler


def lxc_interfaces(r: Request) -> list[dict[str, Any]] | None:
    """`GET /nodes/{n}/lxc/{vmid}/interfaces`: `ip a` inside a running CT; null when stopped."""
    r.cluster.auth.require(r.who, f"/vms/{r.vmid}", "VM.Audit")
    g = r.cluster.guest_on(r.node, r.vmid, "lxc")
    return ct_interfaces(g) if g.running else None


# -- per-guest firewall (never configured in the simulator) --------------------------------------------


def firewall_index(r: Request) -> list[dict[str, str]]:
    """pve-firewall `src/PVE/API2/Firewall/VM.pm` index."""
    _guest(r)
    return [{"name": n} for n in ("rules", "aliases", "ipset", "refs", "options", "log")]


def firewall_rules(r: Request) -> list[dict[str, Any]]:
    """No rules in `/etc/pve/firewall/<vmid>.fw`."""
    require_any(r, ("VM.Audit",))
    _guest(r)
    return []


def firewall_options(r: Request) -> dict[str, Any]:
    """No options set: only the digest of the empty option set."""
    require_any(r, ("VM.Audit",))
    _guest(r)
    return {"digest": EMPTY_DIGEST}


def firewall_empty(r: Request) -> list[dict[str, Any]]:
    """Aliases, IP sets, references and the log of a guest without firewall configuration."""
    require_any(r, ("VM.Audit",))
    _guest(r)
    return []


def status_index(r: Request) -> list[dict[str, str]]:
    """`GET .../{vmid}/status` (vmcmdidx)."""
    _guest(r)
    cmds = ("current", "start", "stop", "reset", "shutdown", "suspend", "reboot")
    if guest_kind(r) == "lxc":
        cmds = ("current", "start", "stop", "shutdown", "suspend", "resume", "reboot")
    return [{"subdir": c} for c in cmds]


def _both(path: str, handler: Any, spec: dict[str, str] | None = None) -> list[Route]:
    return [route("GET", f"/nodes/{{node}}/{kind}/{{vmid}}{path}", handler, spec) for kind in ("qemu", "lxc")]


ROUTES: tuple[Route, ...] = (
    *_both("/snapshot", snapshot_list),
    *_both("/snapshot/{snapname}", snapshot_index),
    *_both("/snapshot/{snapname}/config", snapshot_config),
    *_both("/firewall", firewall_index),
    *_both("/firewall/rules", firewall_rules),
    *_both("/firewall/options", firewall_options),
    *_both("/firewall/aliases", firewall_empty),
    *_both("/firewall/ipset", firewall_empty),
    *_both("/firewall/refs", firewall_empty, {"type": "enum:alias|ipset"}),
    *_both(
        "/firewall/log",
        firewall_empty,
        {"limit": "integer", "start": "integer", "since": "integer", "until": "integer"},
    ),
    *_both("/status", status_index),
    route("GET", "/nodes/{node}/qemu/{vmid}/agent", agent_index),
    *(route("GET", f"/nodes/{{node}}/qemu/{{vmid}}/agent/{cmd}", _agent_command(cmd)) for cmd in AGENT_GET),
    route("GET", "/nodes/{node}/lxc/{vmid}/interfaces", lxc_interfaces),
)
