"""Snapshot writes: create (`POST .../snapshot`), delete (`DELETE .../snapshot/{name}`) and rollback
(`POST .../snapshot/{name}/rollback`) for VMs and containers, as PVE workers.

Follows qemu-server `src/PVE/API2/Qemu.pm` (`snapshot`, `delsnapshot`, `rollback`), pve-container
`src/PVE/API2/LXC/Snapshot.pm` and pve-guest-common `src/PVE/AbstractConfig.pm` (`__snapshot_prepare`,
`snapshot_delete`, `snapshot_rollback`): reserved names refused before the worker; inside it the
template, lock and name checks, the config lock `snapshot` / `snapshot-delete` / `rollback` held while
it runs (so a migration or a second snapshot is refused meanwhile), a rollback stops the guest first
and restores the saved config (and starts it again for a RAM snapshot or `start=1`). A RAM snapshot of
a running VM with a PCI passthrough device fails like QEMU's savevm (a VFIO device blocks it).
"""

from __future__ import annotations

import re
from typing import Any

from proxlb_sim.config_writes import apply_values
from proxlb_sim.guest_reads import require_any
from proxlb_sim.handlers import Request, guest_kind
from proxlb_sim.power import START_S
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route
from proxlb_sim.state import SimGuest, local_resources, parse_disk

SNAPSHOT_S = 2.0  # disk snapshots (+ the RAM at disk speed for vmstate)
DELETE_S = 1.0
ROLLBACK_S = 2.0


def _what(g: SimGuest) -> str:
    return "VM" if g.kind == "qemu" else "CT"


def _task_type(g: SimGuest, action: str) -> str:
    return f"{'qm' if g.kind == 'qemu' else 'vz'}{action}"


def _volumes(g: SimGuest) -> list[tuple[str, str]]:
    out = []
    for key, value in sorted(g.config.items()):
        disk = parse_disk(key, value)
        if disk and not disk.cdrom and not key.startswith("unused"):
            out.append((key, disk.volid))
    return out


def create(r: Request) -> str:
    c = r.cluster
    c.auth.require(r.who, f"/vms/{r.vmid}", "VM.Snapshot")
    name = str(r.params["snapname"])
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]{1,39}", name):
        raise PveError.params({"snapname": f"invalid format - invalid configuration ID '{name}'"})
    if name == "current":
        raise PveError(500, "unable to use snapshot name 'current' (reserved name)")
    if name.lower() == "pending":
        raise PveError(500, "unable to use snapshot name 'pending' (reserved name)")
    g = c.guest_on(r.node, r.vmid, guest_kind(r))
    vmstate = bool(r.params.get("vmstate")) and g.kind == "qemu" and g.running
    task = c.new_task(g.node, r.t, _task_type(g, "snapshot"), str(g.vmid), r.who.task_user)
    problem = None
    if g.template:
        problem = "you can't take a snapshot if it's a template"
    elif g.lock:
        problem = f"{_what(g)} is locked ({g.lock})"
    elif name in g.snapshots:
        problem = f"snapshot name '{name}' already used"
    if problem:
        task.finish(r.t, problem)
        c.bump()
        return task.upid
    g.lock = "snapshot"
    saved = {
        "snaptime": int(r.t),
        "description": str(r.params.get("description") or ""),
        "vmstate": int(vmstate),
        "config": {k: v for k, v in g.config.items() if k not in ("lock",)},
        "snapstate": "prepare",
        **({"parent": g.parent} if g.parent else {}),
    }
    g.snapshots[name] = saved
    devices = [k for k in local_resources(g.config) if k.startswith("hostpci")]
    duration = SNAPSHOT_S + (g.mem / (c.settings.disk_bandwidth_mib * 1024**2) if vmstate else 0.0)

    def done(now: float) -> None:
        g.lock = None
        if vmstate and devices:
            dev = str(g.config[devices[0]]).split(",")[0]
            task.add(now, f"saving VM state and RAM using storage '{_state_storage(g)}'")
            task.add(now, "snapshot create failed: starting cleanup")
            del g.snapshots[name]
            reason = f"{dev}: VFIO migration is not supported in kernel"
            task.finish(now, f"unable to save VM state and RAM - {reason}")
            c.bump()
            return
        if vmstate:
            task.add(now, f"saving VM state and RAM using storage '{_state_storage(g)}'")
            task.add(now, "completed saving the VM state in 1s, saved 1.00 GiB")
        for key, volid in _volumes(g):
            task.add(now, f"snapshotting '{key}' ({volid})")
        saved.pop("snapstate", None)
        g.parent = name
        task.finish(now)
        c.bump()

    c.engine.schedule(r.t + duration, done)
    c.bump()
    return task.upid


def _state_storage(g: SimGuest) -> str:
    vols = _volumes(g)
    return vols[0][1].split(":", 1)[0] if vols else "local"


def delete(r: Request) -> str:
    c = r.cluster
    c.auth.require(r.who, f"/vms/{r.vmid}", "VM.Snapshot")
    name = str(r.params["snapname"])
    g = c.guest_on(r.node, r.vmid, guest_kind(r))
    task = c.new_task(g.node, r.t, _task_type(g, "delsnapshot"), str(g.vmid), r.who.task_user)
    snap = g.snapshots.get(name)
    if snap is None or (g.lock and not r.params.get("force")):
        problem = f"snapshot '{name}' does not exist" if snap is None else f"{_what(g)} is locked ({g.lock})"
        task.finish(r.t, problem)
        c.bump()
        return task.upid
    g.lock = "snapshot-delete"

    def done(now: float) -> None:
        parent = snap.get("parent")
        for other in g.snapshots.values():  # children now hang off the deleted snapshot's parent
            if other.get("parent") == name:
                if parent:
                    other["parent"] = parent
                else:
                    other.pop("parent", None)
        if g.parent == name:
            g.parent = parent
        del g.snapshots[name]
        g.lock = None
        task.finish(now)
        c.bump()

    c.engine.schedule(r.t + DELETE_S, done)
    c.bump()
    return task.upid


def rollback(r: Request) -> str:
    c = r.cluster
    require_any(r, ("VM.Snapshot", "VM.Snapshot.Rollback"))
    if r.params.get("start"):
        c.auth.require(r.who, f"/vms/{r.vmid}", "VM.PowerMgmt")
    name = str(r.params["snapname"])
    g = c.guest_on(r.node, r.vmid, guest_kind(r))
    task = c.new_task(g.node, r.t, _task_type(g, "rollback"), str(g.vmid), r.who.task_user)
    snap = g.snapshots.get(name)
    problem = None
    if g.template:
        problem = "you can't rollback if vm is a template"
    elif snap is None:
        problem = f"snapshot '{name}' does not exist"
    elif snap.get("snapstate"):
        problem = f"unable to rollback to incomplete snapshot (snapstate = {snap['snapstate']})"
    elif g.lock:
        problem = f"{_what(g)} is locked ({g.lock})"
    if problem or snap is None:
        task.finish(r.t, problem)
        c.bump()
        return task.upid
    if g.running:
        c.set_running(g, False, r.t)  # __snapshot_rollback_vm_stop
    g.lock = "rollback"
    start_after = bool(snap.get("vmstate")) or bool(r.params.get("start"))

    def done(now: float) -> None:
        saved: dict[str, Any] = dict(snap.get("config") or {})
        removed = {k: None for k in g.config if k not in saved}
        apply_values(g, {**removed, **saved})
        g.pending.clear()
        g.parent = name
        g.lock = None
        if start_after:
            task.add(now, f"starting VM {g.vmid}" if g.kind == "qemu" else f"starting CT {g.vmid}")
            g.mem = g.mem or g.maxmem // 2
            g.cpu_frac = g.cpu_frac or 0.05
            c.set_running(g, True, now)
        task.finish(now)
        c.run_version += 1
        c.bump()

    c.engine.schedule(r.t + ROLLBACK_S + (START_S if start_after else 0.0), done)
    c.bump()
    return task.upid


def _both(method: str, path: str, handler: Any, spec: dict[str, str]) -> list[Route]:
    return [route(method, f"/nodes/{{node}}/{k}/{{vmid}}{path}", handler, spec) for k in ("qemu", "lxc")]


ROUTES: tuple[Route, ...] = (
    route(
        "POST",
        "/nodes/{node}/qemu/{vmid}/snapshot",
        create,
        {"snapname!": "string", "vmstate": "boolean", "description": "string"},
    ),
    route(
        "POST", "/nodes/{node}/lxc/{vmid}/snapshot", create, {"snapname!": "string", "description": "string"}
    ),
    *_both("DELETE", "/snapshot/{snapname}", delete, {"force": "boolean"}),
    *_both("POST", "/snapshot/{snapname}/rollback", rollback, {"start": "boolean"}),
)
