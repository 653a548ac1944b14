"""Migration requests: PVE's synchronous refusals, task creation, failures inside tasks, and the HA path.

Follows pve-api.md §6: qemu checks target≠local (400), target exists (500), target online, lock (500),
running without online (500), storage availability (500), then forks `qmigrate`; local disks without
`with-local-disks` and local devices fail inside the task ('migration aborted'). LXC: lock is checked
inside the task, `online=1` fails inside the task, running without restart → 500. HA-managed guests get
a short `hamigrate` task, then after `ha_delay_s` a `qmigrate`/`vzmigrate` owned by root@pam.
Callers hold the cluster lock and have synced the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxlb_sim.auth import Identity
from proxlb_sim.engine import Migration, duration
from proxlb_sim.params import UNKNOWN
from proxlb_sim.pveerror import PveError
from proxlb_sim.simstate import SimHost
from proxlb_sim.state import DiskRef, SimGuest, local_resources, parse_disk
from proxlb_sim.tasks import Task


def _local_disks(c: SimHost, g: SimGuest) -> list[DiskRef]:
    out = []
    for key, value in g.config.items():
        disk = parse_disk(key, value)
        if disk and not disk.cdrom and not c.is_shared(disk.storage):
            out.append(disk)
    return sorted(out, key=lambda d: d.key)


def _check_target(c: SimHost, source: str, target: str) -> None:
    """PVE's order: target is local (400), quorum (500), target exists and is online (500)."""
    if target == source:
        raise PveError.params({"target": "target is local node."})
    online = sum(1 for n in c.nodes.values() if n.online)
    if online * 2 <= len(c.nodes):
        raise PveError(500, "cluster not ready - no quorum?")
    if target not in c.nodes:
        raise PveError(500, f"no such cluster node '{target}'")
    if not c.nodes[target].online:
        raise PveError(500, f"target node '{target}' is not online")


def storage_map(spec: str | None) -> dict[str, str] | str | None:
    """`targetstorage`: '1' = same ids (None), one id = everything there, 'src:dst,...' = pairs."""
    if spec is None or spec == "1":
        return None
    if ":" not in spec:
        return spec
    return dict(pair.split(":", 1) for pair in spec.split(",") if ":" in pair)


def _check_storage(c: SimHost, g: SimGuest, target: str, mapping: dict[str, str] | str | None) -> None:
    for key, value in sorted(g.config.items()):
        disk = parse_disk(key, value)
        if not disk or disk.cdrom or disk.storage not in c.storages:
            continue
        wanted = disk.storage
        if mapping is not None and not c.is_shared(disk.storage):
            wanted = mapping if isinstance(mapping, str) else mapping.get(disk.storage, disk.storage)
        if not c.storage_on(wanted, target):
            raise PveError(500, f"storage '{wanted}' is not available on node '{target}'")


def _new_task(c: SimHost, node: str, t: float, type_: str, vmid: int, user: str) -> Task:
    n = c.nodes[node]
    boot = c.clock.start - n.uptime0
    return c.tasks.new(node, boot, t, type_, str(vmid), user)


def qemu_migrate(c: SimHost, node: str, vmid: int, p: dict[str, Any], who: Identity, t: float) -> str:
    """`POST /nodes/{node}/qemu/{vmid}/migrate` → UPID, or PveError."""
    if "with-conntrack-state" in p and not c.nodes[node].pve9:
        raise PveError.params({"with-conntrack-state": UNKNOWN})
    target = str(p["target"])
    _check_target(c, node, target)
    for key in ("migration_type", "migration_network", "force"):
        if key in p and who.task_user != "root@pam":
            raise PveError.params({key: "Only root may use this option."})
    g = c.guest_on(node, vmid, "qemu")
    c.auth.require(who, f"/vms/{vmid}", "VM.Migrate")
    if g.lock:
        raise PveError(500, f"VM is locked ({g.lock})")
    online = bool(p.get("online", False)) and g.running
    if g.running and not p.get("online"):
        raise PveError(500, "can't migrate running VM without --online")
    _check_storage(c, g, target, storage_map(p.get("targetstorage")))
    if g.sid in c.ha_resources:  # API callers are never the HA stack itself
        return _ha_request(c, g, target, who, t, relocate=False)
    with_local = bool(p.get("with-local-disks"))
    return start_migration(
        c, g, target, who.task_user, t, online=online, with_local=with_local, bwlimit_kib=p.get("bwlimit")
    )


def lxc_migrate(c: SimHost, node: str, vmid: int, p: dict[str, Any], who: Identity, t: float) -> str:
    """`POST /nodes/{node}/lxc/{vmid}/migrate` → UPID, or PveError."""
    target = str(p["target"])
    _check_target(c, node, target)
    g = c.guest_on(node, vmid, "lxc")
    c.auth.require(who, f"/vms/{vmid}", "VM.Migrate")
    if g.running and not p.get("online") and not p.get("restart"):
        raise PveError(500, "can't migrate running container without --online or --restart")
    _check_storage(c, g, target, storage_map(p.get("target-storage")))
    if g.sid in c.ha_resources:  # API callers are never the HA stack itself
        return _ha_request(c, g, target, who, t, relocate=False)
    if g.lock or (g.running and p.get("online")):
        task = _new_task(c, node, t, "vzmigrate", vmid, who.task_user)
        reason = f"CT is locked ({g.lock})" if g.lock else "lxc live migration is currently not implemented"
        task.add(t, f"ERROR: migration aborted (duration 00:00:00): {reason}")
        task.finish(t, "migration aborted")
        c.bump()
        return task.upid
    return start_migration(
        c,
        g,
        target,
        who.task_user,
        t,
        online=False,
        with_local=True,
        restart=g.running,
        bwlimit_kib=p.get("bwlimit"),
    )


def start_migration(
    c: SimHost,
    g: SimGuest,
    target: str,
    user: str,
    t: float,
    *,
    online: bool,
    with_local: bool,
    restart: bool = False,
    bwlimit_kib: float | None = None,
) -> str:
    """Fork a qmigrate/vzmigrate task on the guest's node; failures found in phase 1 end it at once."""
    s = c.settings
    source = g.node
    type_ = "qmigrate" if g.kind == "qemu" else "vzmigrate"
    task = _new_task(c, source, t, type_, g.vmid, user)
    what = "VM" if g.kind == "qemu" else "CT"
    if g.kind == "qemu":
        task.add(
            t, "conntrack state migration not supported or disabled, active connections might get dropped"
        )
    task.add(t, f"starting migration of {what} {g.vmid} to node '{target}' ({c.nodes[target].ip})")
    disks = _local_disks(c, g)
    problem = _phase1_problem(c, g, disks, online, with_local, task, t)
    if problem:
        task.add(t, f"ERROR: {problem}")
        task.add(t, "aborting phase 1 - cleanup resources")
        task.add(t, f"ERROR: migration aborted (duration {duration(0)}): {problem}")
        task.finish(t, "migration aborted")
        c.bump()
        return task.upid
    fail, hang = c.faults.take_migration_fault(g.vmid)
    live = online and g.running and g.kind == "qemu"
    if live:
        setup, finish = s.migration_overhead_s * 0.6, s.migration_overhead_s * 0.4
    elif restart:
        setup, finish = s.ct_shutdown_s, s.ct_start_s
    else:
        setup, finish = s.offline_overhead_s * 0.5, s.offline_overhead_s * 0.5
    m = Migration(
        task=task,
        guest=g,
        source=source,
        target=target,
        live=live,
        restart=restart,
        setup_s=setup,
        finish_s=finish,
        disk_left=float(sum(d.size for d in disks)),
        mem_left=float(g.mem if live else 0),
        started=t,
        hang=hang,
        bwlimit=float(bwlimit_kib) * 1024 if bwlimit_kib else None,
        fail=fail,
        disks=[d.volid for d in disks],
        disk_sizes=[(d.key, float(d.size)) for d in disks],
    )
    c.engine.start(m)
    return task.upid


def _phase1_problem(
    c: SimHost, g: SimGuest, disks: list[Any], online: bool, with_local: bool, task: Task, t: float
) -> str | None:
    if g.kind != "qemu":
        return None
    devices = local_resources(g.config)
    if devices and g.running:
        return f"can't migrate VM which uses local devices: {', '.join(devices)}"
    if online and g.running and disks and not with_local:
        for d in disks:
            task.add(t, f"found local disk '{d.volid}' (attached)")
        for d in disks:
            task.add(
                t,
                f"can't migrate local disk '{d.volid}': can't live migrate attached local disks without "
                "with-local-disks option",
            )
        return "Problem found while scanning volumes - can't migrate VM - check log"
    return None


def _ha_request(c: SimHost, g: SimGuest, target: str, who: Identity, t: float, relocate: bool) -> str:
    """`hamigrate` task: queue the request with the HA stack; the real move follows later as root@pam."""
    task = _new_task(c, g.node, t, "hamigrate", g.vmid, who.task_user)
    what = "VM" if g.kind == "qemu" else "CT"
    task.add(
        t, f"Requesting HA {'relocate' if relocate else 'migration'} for {what} {g.vmid} to node {target}"
    )
    blocking = ha_blockers(c, g, target)
    end = t + c.settings.hamigrate_s
    if blocking:

        def fail(now: float) -> None:
            task.add(now, f"cannot migrate resource '{g.sid}' to node '{target}':")
            for sid, cause in blocking:
                task.add(
                    now, f"- resource '{sid}' on target node '{target}' in {cause} with resource '{g.sid}'"
                )
            task.finish(
                now,
                f"command 'ha-manager {'relocate' if relocate else 'migrate'} {g.sid} {target}' "
                "failed: exit code 255",
            )
            c.bump()

        c.engine.schedule(end, fail)
        return task.upid

    def queued(now: float) -> None:
        task.finish(now)
        _ha_queue(c, g, target, now, relocate)

    c.engine.schedule(end, queued)
    c.bump()
    return task.upid


def _ha_queue(c: SimHost, g: SimGuest, target: str, t: float, relocate: bool) -> list[str]:
    """The CRM takes the request: `g` and its positive-affinity partners move after `ha_delay_s`."""
    movers = [g] + [c.guests[int(sid.split(":")[1])] for sid in ha_partners(c, g, target)]
    for mover in movers:
        c.ha_pending[mover.sid] = (target, "relocate" if relocate else "migrate")
        c.engine.schedule(t + c.settings.ha_delay_s, _executor(c, mover, target, relocate))
    c.bump()
    return [m.sid for m in movers[1:]]


def _executor(c: SimHost, g: SimGuest, target: str, relocate: bool) -> Callable[[float], None]:
    def run(at: float) -> None:
        _ha_execute(c, g, target, at, relocate)

    return run


def ha_partners(c: SimHost, g: SimGuest, target: str) -> list[str]:
    """HA resources in enabled positive resource affinity with `g` that are not on `target` yet."""
    out: list[str] = []
    for rule in c.ha_rules:
        if rule["type"] != "resource-affinity" or rule.get("affinity") != "positive" or rule.get("disable"):
            continue
        sids = [s.strip() for s in str(rule["resources"]).split(",")]
        if g.sid in sids:
            for sid in sids:
                other = c.guests.get(int(sid.split(":")[1]))
                if sid != g.sid and sid in c.ha_resources and other is not None and other.node != target:
                    out.append(sid)
    return sorted(set(out))


def _ha_execute(c: SimHost, g: SimGuest, target: str, t: float, relocate: bool) -> None:
    """The source LRM runs the migration with root@pam, online + with-local-disks."""
    c.ha_pending.pop(g.sid, None)
    if g.node == target or not c.nodes[target].online or not c.nodes[g.node].online or g.lock:
        c.bump()
        return
    if g.kind == "lxc" or relocate:
        start_migration(c, g, target, "root@pam", t, online=False, with_local=True, restart=g.running)
    else:
        start_migration(c, g, target, "root@pam", t, online=g.running, with_local=True)


def ha_blockers(c: SimHost, g: SimGuest, target: str) -> list[tuple[str, str]]:
    """HA resources on `target` in negative affinity with `g` (from enabled resource-affinity rules)."""
    out: list[tuple[str, str]] = []
    for rule in c.ha_rules:
        if rule["type"] != "resource-affinity" or rule.get("affinity") != "negative" or rule.get("disable"):
            continue
        sids = [s.strip() for s in str(rule["resources"]).split(",")]
        if g.sid not in sids:
            continue
        for sid in sids:
            other = c.guests.get(int(sid.split(":")[1]))
            if sid != g.sid and other is not None and other.node == target:
                out.append((sid, "negative affinity"))
    return out


def ha_resource_migrate(
    c: SimHost, sid: str, node: str, who: Identity, t: float, relocate: bool
) -> dict[str, Any]:
    """`POST /cluster/ha/resources/{sid}/migrate|relocate`: synchronous answer, CRM acts later."""
    c.auth.require(who, "/", "Sys.Console")
    sid = sid if ":" in sid else f"vm:{sid}"
    if sid not in c.ha_resources:
        raise PveError(500, f"resource '{sid}' is not HA managed")
    g = c.guests[int(sid.split(":")[1])]
    if node not in c.nodes:
        raise PveError(500, f"no such cluster node '{node}'")
    blocking = ha_blockers(c, g, node)
    out: dict[str, Any] = {"sid": sid, "requested-node": node}
    if blocking:
        out["blocking-resources"] = [{"sid": s, "cause": "resource-affinity"} for s, _ in blocking]
        return out
    if g.node != node:
        comigrated = _ha_queue(c, g, node, t, relocate)
        if comigrated:
            out["comigrated-resources"] = comigrated
    return out


def precondition(c: SimHost, node: str, vmid: int, kind: str, target: str | None) -> dict[str, Any]:
    """`GET .../{vmid}/migrate`: qemu uses underscore keys, lxc hyphen keys."""
    g = c.guest_on(node, vmid, kind)
    if g.lock:
        raise PveError(500, f"{'VM' if kind == 'qemu' else 'CT'} is locked ({g.lock})")
    others = [n for n in c.nodes if n != node]  # PVE ignores `target`: every node but the local one
    dependent = g.sid in c.ha_resources and _at_least(c.nodes[node].version, (9, 2))
    if kind == "lxc":
        ct: dict[str, Any] = {"running": int(g.running), "allowed-nodes": others, "not-allowed-nodes": {}}
        if dependent:
            ct["dependent-ha-resources"] = sorted(ha_partners(c, g, ""))
        return ct
    not_allowed: dict[str, dict[str, Any]] = {}
    for n in others:
        missing = sorted(
            {
                d.storage
                for d in map(lambda kv: parse_disk(*kv), g.config.items())
                if d and not d.cdrom and d.storage in c.storages and not c.storage_on(d.storage, n)
            }
        )
        not_allowed[n] = {"unavailable_storages": missing} if missing else {}
    disks = [
        {
            "volid": d.volid,
            "drivename": d.key,
            "size": d.size,
            "is_attached": 1,
            "is_unused": 0,
            "cdrom": 0,
            "replicate": 1,
            "shared": 0,
            "is_cloudinit": 0,
            "is_vmstate": 0,
            "is_tpmstate": int(d.key.startswith("tpm")),
        }
        for d in _local_disks(c, g)
    ]
    out: dict[str, Any] = {
        "running": int(g.running),
        "allowed_nodes": [n for n in others if not not_allowed[n]],
        "not_allowed_nodes": not_allowed,
        "local_disks": disks,
        "local_resources": local_resources(g.config),
        "mapped-resources": [],
        "mapped-resource-info": {},
    }
    if c.nodes[node].pve9:
        out["has-dbus-vmstate"] = 1
    if dependent:
        # pve-ha-manager Config.pm get_resource_motion_info: positive-affinity partners move along
        out["dependent-ha-resources"] = sorted(ha_partners(c, g, ""))
    return out


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return tuple(parts) >= wanted
