"""Guest config writes: `PUT .../config` (both kinds, synchronous) and `POST /qemu/{vmid}/config`
(a `qmconfig` task), plus `GET /qemu/{vmid}/pending`.

Follows qemu-server `src/PVE/API2/Qemu.pm` (`update_vm_api`: per-key privileges of
`check_vm_modify_config_perm`, `checksum mismatch`, lock check, tags normalised by pve-guest-common
`GuestHelpers::get_unique_tags`; on a running VM memory/CPU changes wait in `[PENDING]` until the next
start, the `fast_plug_option` keys apply at once) and pve-container `src/PVE/API2/LXC/Config.pm`
(`update_vm`: a container applies memory/CPU at once). What changes here is what `/cluster/resources`,
the guest lists and ProxLB see next. Callers hold the cluster lock.
"""

from __future__ import annotations

import re
from typing import Any

from proxlb_sim.handlers import Request, guest_kind
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route
from proxlb_sim.state import MIB, SimGuest
from proxlb_sim.views import guest_config

_CPU = {"cores", "sockets", "vcpus", "cpulimit", "cpuunits", "cpu", "affinity"}
_MEMORY = {"memory", "balloon", "shares", "swap"}
_POWER = {"onboot", "startup"}
_HOT = {"description", "name", "onboot", "protection", "startup", "tags", "hostname"}  # fast_plug_option
QM_CONFIG = {
    "tags": "string", "description": "string", "onboot": "boolean", "memory": "string", "balloon": "integer",
    "cores": "integer", "sockets": "integer", "vcpus": "integer", "cpulimit": "number", "cpuunits": "integer",
    "cpu": "string", "name": "string", "protection": "boolean", "startup": "string", "agent": "string",
    "delete": "string", "revert": "string", "digest": "string", "skiplock": "boolean",
}  # fmt: skip
CT_CONFIG = {
    "tags": "string", "description": "string", "onboot": "boolean", "memory": "integer", "swap": "integer",
    "cores": "integer", "cpulimit": "number", "cpuunits": "integer", "hostname": "string",
    "protection": "boolean", "startup": "string", "delete": "string", "revert": "string", "digest": "string",
}  # fmt: skip


def unique_tags(text: str) -> str:
    """`get_unique_tags` with datacenter defaults: split on `;`, `,` or space, lowercase, sorted, unique."""
    tags = sorted({t.lower() for t in re.split(r"[;, ]+", text) if t})
    return ";".join(tags)


def _memory_mib(value: Any) -> int:
    text = str(value)
    found = re.search(r"(?:current=)?(\d+)", text)
    return int(found.group(1)) if found else 0


def apply_values(g: SimGuest, values: dict[str, Any]) -> None:
    """Write `values` into the live config and the fields every view derives from it."""
    for key, value in values.items():
        if value is None:
            g.config.pop(key, None)
            if key == "tags":
                g.tags = None
            continue
        g.config[key] = value
        if key == "tags":
            g.tags = str(value) or None
        elif key == "memory":
            g.maxmem = _memory_mib(value) * MIB
            g.mem = min(g.mem, g.maxmem)
        elif key in ("name", "hostname"):
            g.name = str(value)
    if "cores" in values or "sockets" in values:
        cores = int(g.config.get("cores", 1) or 1)
        sockets = int(g.config.get("sockets", 1) or 1) if g.kind == "qemu" else 1
        g.maxcpu = cores * sockets


def _require_keys(r: Request, keys: set[str]) -> None:
    """One privilege per key class, as `check_vm_modify_config_perm` asks them (root skips)."""
    if r.who.task_user == "root@pam":
        return
    auth, path = r.cluster.auth, f"/vms/{r.vmid}"
    for key in sorted(keys):
        if key in _CPU:
            auth.require(r.who, path, "VM.Config.CPU")
        elif key in _MEMORY:
            auth.require(r.who, path, "VM.Config.Memory")
        elif key == "hostname":
            auth.require(r.who, path, "VM.Config.Network")
        else:
            auth.require(r.who, path, "VM.Config.Options")
        if key == "startup":
            auth.require(r.who, "/", "Sys.Modify")


def _changes(r: Request) -> tuple[SimGuest, dict[str, Any]]:
    """Checked changes (key → new value, None = delete); raises PVE's synchronous refusals."""
    p = r.params
    kind = guest_kind(r)
    deletes = [k for k in re.split(r"[;, ]+", str(p.get("delete") or "")) if k]
    values = {k: v for k, v in p.items() if k in (QM_CONFIG if kind == "qemu" else CT_CONFIG)}
    for key in ("delete", "revert", "digest", "skiplock"):
        values.pop(key, None)
    if p.get("skiplock") and r.who.task_user != "root@pam":
        raise PveError.params({"skiplock": "Only root may use this option."})
    if not values and not deletes and not p.get("revert"):
        raise PveError(500, "no options specified")
    _require_keys(r, set(values) | set(deletes))
    g = r.cluster.guest_on(r.node, r.vmid, kind)
    digest = p.get("digest")
    if digest and digest != guest_config(g)["digest"]:
        if kind == "qemu":
            raise PveError(500, "checksum mismatch (file change by other user?)")
        raise PveError(500, "detected modified configuration - file changed by other user? Try again.")
    if g.lock and not p.get("skiplock"):
        raise PveError(500, f"{'VM' if kind == 'qemu' else 'CT'} is locked ({g.lock})")
    out: dict[str, Any] = {k: None for k in deletes}
    for key, given in values.items():
        value = int(given) if isinstance(given, bool) else given
        out[key] = unique_tags(str(value)) if key == "tags" else value
    return g, out


def _apply(r: Request, g: SimGuest, changes: dict[str, Any]) -> list[str]:
    """Apply at once, or park non-hotpluggable qemu changes as pending; returns the pending keys."""
    now = {k: v for k, v in changes.items() if g.kind == "lxc" or not g.running or k in _HOT}
    later = {k: v for k, v in changes.items() if k not in now}
    apply_values(g, now)
    g.pending.update(later)
    r.cluster.run_version += 1
    r.cluster.bump()
    return sorted(later)


def put_config(r: Request) -> None:
    """`PUT .../config`: synchronous; returns null."""
    g, changes = _changes(r)
    _apply(r, g, changes)


def post_config(r: Request) -> str:
    """`POST /qemu/{vmid}/config`: the same update in a `qmconfig` worker (UPID)."""
    g, changes = _changes(r)
    c = r.cluster
    task = c.new_task(g.node, r.t, "qmconfig", str(g.vmid), r.who.task_user)
    for key in _apply(r, g, changes):
        task.add(r.t, f"cannot apply pending change of '{key}' while running - change is pending")
    task.finish(r.t)
    return task.upid


def pending(r: Request) -> list[dict[str, Any]]:
    """`GET /qemu/{vmid}/pending`: `key`, `value` and `pending` per config key."""
    r.cluster.auth.require(r.who, f"/vms/{r.vmid}", "VM.Audit")
    g = r.cluster.guest_on(r.node, r.vmid, "qemu")
    conf = guest_config(g)
    out: list[dict[str, Any]] = []
    for key in sorted(set(conf) | set(g.pending)):
        entry: dict[str, Any] = {"key": key}
        if key in conf:
            entry["value"] = conf[key]
        if key in g.pending:
            if g.pending[key] is None:
                entry["delete"] = 1
            else:
                entry["pending"] = g.pending[key]
        out.append(entry)
    return out


ROUTES: tuple[Route, ...] = (
    route("PUT", "/nodes/{node}/qemu/{vmid}/config", put_config, QM_CONFIG),
    route("POST", "/nodes/{node}/qemu/{vmid}/config", post_config, QM_CONFIG),
    route("PUT", "/nodes/{node}/lxc/{vmid}/config", put_config, CT_CONFIG),
    route("GET", "/nodes/{node}/qemu/{vmid}/pending", pending),
)
