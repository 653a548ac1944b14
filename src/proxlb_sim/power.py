"""Guest power writes: `POST .../status/{start,stop,shutdown,reboot}` for VMs and containers.

Follows qemu-server `src/PVE/API2/Qemu.pm` (`vm_start`, `vm_stop`, `vm_shutdown`, `vm_reboot`) and
`src/PVE/QemuServer.pm` (`vm_start`: template, lock and "already running" fail inside the task), and
pve-container `src/PVE/API2/LXC/Status.pm` (running/not-running refused before the task, lock inside).
HA-managed guests get PVE's `hastart`/`hastop` request task; the HA stack then starts or stops the
guest as root@pam after `ha_delay_s`. Each worker ends after a short virtual duration and then
changes the run state every other endpoint (and ProxLB) sees; pending qemu config changes are applied
at start. Callers hold the cluster lock and have synced the clock.
"""

from __future__ import annotations

from typing import Any

from proxlb_sim.config_writes import apply_values
from proxlb_sim.handlers import Request, guest_kind
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route
from proxlb_sim.state import SimGuest
from proxlb_sim.tasks import Task

START_S = 2.0  # qmstart/vzstart worker
STOP_S = 1.0  # qmstop/vzstop
SHUTDOWN_S = 5.0  # clean guest shutdown
HA_REQUEST_S = 1.0  # `ha-manager set/crm-command` inside hastart/hastop


def _what(g: SimGuest) -> str:
    return "VM" if g.kind == "qemu" else "CT"


def _prefix(g: SimGuest) -> str:
    return "qm" if g.kind == "qemu" else "vz"


def _set_running(c: Any, g: SimGuest, running: bool, t: float) -> None:
    """Start (pending qemu changes applied, a boot-time load if the scenario had none) or stop."""
    if running:
        if g.pending:
            apply_values(g, dict(g.pending))
            g.pending.clear()
        g.mem = g.mem or g.maxmem // 2
        g.cpu_frac = g.cpu_frac or 0.05
    c.set_running(g, running, t)


def _worker(c: Any, g: SimGuest, task: Task, duration: float, t: float, to_running: bool | None) -> None:
    """Finish `task` after `duration`; lock and template checks happen at its start, like PVE."""
    if g.template and to_running:
        task.finish(t, f"you can't start a {'vm' if g.kind == 'qemu' else 'CT'} if it's a template")
        c.bump()
        return
    if g.lock:
        task.finish(t, f"{_what(g)} is locked ({g.lock})")
        c.bump()
        return
    if to_running and g.running and g.kind == "qemu":
        task.finish(t, f"VM {g.vmid} already running")
        c.bump()
        return

    def done(now: float) -> None:
        if to_running is not None and g.running != to_running:
            _set_running(c, g, to_running, now)
        task.finish(now)
        c.bump()

    c.engine.schedule(t + duration, done)
    c.bump()


def _ha_request(r: Request, g: SimGuest, start: bool, hard: bool = False) -> str:
    """`hastart`/`hastop`: ask the HA stack; its LRM runs the real worker as root@pam later (a
    `stop` asks `crm-command stop <sid> 0`, a hard stop; a `shutdown` waits for the guest)."""
    c = r.cluster
    task = c.new_task(g.node, r.t, "hastart" if start else "hastop", str(g.vmid), r.who.task_user)
    task.add(r.t, f"Requesting HA {'start' if start else 'stop'} for {_what(g)} {g.vmid}")
    c.ha_resources[g.sid]["state"] = "started" if start else "stopped"

    def handed_over(now: float) -> None:
        task.finish(now)
        c.bump()

        def lrm(at: float) -> None:
            if g.running == start:
                return
            action, duration = (
                ("start", START_S) if start else ("stop", STOP_S) if hard else ("shutdown", SHUTDOWN_S)
            )
            worker = c.new_task(g.node, at, f"{_prefix(g)}{action}", str(g.vmid), "root@pam")
            _worker(c, g, worker, duration, at, start)

        c.engine.schedule(now + c.settings.ha_delay_s, lrm)

    c.engine.schedule(r.t + HA_REQUEST_S, handed_over)
    c.bump()
    return task.upid


def _root_only(r: Request, keys: tuple[str, ...]) -> None:
    for key in keys:
        if r.params.get(key) and r.who.task_user != "root@pam":
            raise PveError.params({key: "Only root may use this option."})


def _guest(r: Request) -> SimGuest:
    r.cluster.auth.require(r.who, f"/vms/{r.vmid}", "VM.PowerMgmt")
    return r.cluster.guest_on(r.node, r.vmid, guest_kind(r))


def start(r: Request) -> str:
    g = _guest(r)
    _root_only(r, ("skiplock",))
    if g.kind == "lxc" and g.running:
        raise PveError(500, f"CT {g.vmid} already running")
    if g.sid in r.cluster.ha_resources:
        return _ha_request(r, g, start=True)
    task = r.cluster.new_task(g.node, r.t, f"{_prefix(g)}start", str(g.vmid), r.who.task_user)
    _worker(r.cluster, g, task, START_S, r.t, True)
    return task.upid


def stop(r: Request) -> str:
    g = _guest(r)
    _root_only(r, ("skiplock", "keepActive"))
    if g.kind == "lxc" and not g.running:
        raise PveError(500, f"CT {g.vmid} not running")
    if g.sid in r.cluster.ha_resources:
        if r.params.get("overrule-shutdown"):
            raise PveError.params({"overrule-shutdown": "Not applicable for HA resources."})
        return _ha_request(r, g, start=False, hard=True)
    task = r.cluster.new_task(g.node, r.t, f"{_prefix(g)}stop", str(g.vmid), r.who.task_user)
    _worker(r.cluster, g, task, STOP_S, r.t, False)
    return task.upid


def shutdown(r: Request) -> str:
    g = _guest(r)
    _root_only(r, ("skiplock", "keepActive"))
    if g.kind == "lxc" and not g.running:
        raise PveError(500, f"CT {g.vmid} not running")
    if g.status == "paused" and not r.params.get("forceStop"):
        raise PveError(500, "VM is paused - cannot shutdown")
    if g.sid in r.cluster.ha_resources:
        return _ha_request(r, g, start=False)
    task = r.cluster.new_task(g.node, r.t, f"{_prefix(g)}shutdown", str(g.vmid), r.who.task_user)
    _worker(r.cluster, g, task, SHUTDOWN_S, r.t, False)
    return task.upid


def reboot(r: Request) -> str:
    """Shutdown and start in one worker (pending changes applied); refused when not running."""
    g = _guest(r)
    if g.status == "paused":
        raise PveError(500, "VM is paused - cannot shutdown")
    if not g.running:
        raise PveError(500, f"VM {g.vmid} not running")  # pve-container says "VM" here too
    c = r.cluster
    task = c.new_task(g.node, r.t, f"{_prefix(g)}reboot", str(g.vmid), r.who.task_user)
    if g.lock:
        task.finish(r.t, f"{_what(g)} is locked ({g.lock})")
        c.bump()
        return task.upid

    def restarted(now: float) -> None:
        _set_running(c, g, False, now)
        _set_running(c, g, True, now)
        task.finish(now)
        c.bump()

    c.engine.schedule(r.t + SHUTDOWN_S + START_S, restarted)
    c.bump()
    return task.upid


QM_START = {"skiplock": "boolean", "timeout": "integer", "machine": "string", "force-cpu": "string"}
QM_STOP = {
    "skiplock": "boolean",
    "timeout": "integer",
    "keepActive": "boolean",
    "overrule-shutdown": "boolean",
}
QM_SHUTDOWN = {"skiplock": "boolean", "timeout": "integer", "forceStop": "boolean", "keepActive": "boolean"}
CT_STOP = {"skiplock": "boolean", "overrule-shutdown": "boolean"}
CT_SHUTDOWN = {"timeout": "integer", "forceStop": "boolean"}
REBOOT = {"timeout": "integer"}

ROUTES: tuple[Route, ...] = (
    route("POST", "/nodes/{node}/qemu/{vmid}/status/start", start, QM_START),
    route("POST", "/nodes/{node}/qemu/{vmid}/status/stop", stop, QM_STOP),
    route("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown", shutdown, QM_SHUTDOWN),
    route("POST", "/nodes/{node}/qemu/{vmid}/status/reboot", reboot, REBOOT),
    route("POST", "/nodes/{node}/lxc/{vmid}/status/start", start, {"skiplock": "boolean"}),
    route("POST", "/nodes/{node}/lxc/{vmid}/status/stop", stop, CT_STOP),
    route("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown", shutdown, CT_SHUTDOWN),
    route("POST", "/nodes/{node}/lxc/{vmid}/status/reboot", reboot, REBOOT),
)
