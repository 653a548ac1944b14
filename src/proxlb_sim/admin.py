"""Admin API of the simulator, outside `/api2` and without auth (bind to 127.0.0.1): request log,
faults, virtual clock and a quick state dump.

Routes: GET /_sim/requests[?since=N], POST /_sim/requests/clear, GET|POST /_sim/faults,
POST /_sim/faults/clear, GET /_sim/clock, POST /_sim/clock (advance=<s>, time_scale=<x>), GET /_sim/state.
The same operations are methods of `SimAdmin` for in-process use.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from proxlb_sim.cluster import SimCluster
from proxlb_sim.pveerror import PveError
from proxlb_sim.reqlog import RequestLog
from proxlb_sim.scenario import FaultSpec


class SimAdmin:
    """Operations on a running simulator (thread-safe)."""

    def __init__(self, cluster: SimCluster, log: RequestLog) -> None:
        self.cluster = cluster
        self.log = log

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """Request log entries with index >= `since`."""
        return self.log.since(since)

    def clear_requests(self) -> None:
        self.log.clear()

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        """Logged non-GET requests to /api2 other than the login."""
        return [e for e in self.log.since(since) if e["method"] != "GET" and e["path"] != "/access/ticket"]

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Activate a fault now (`at`/`until` are virtual seconds from now)."""
        try:
            fault = FaultSpec.model_validate(spec)
        except ValidationError as exc:
            raise PveError(400, f"invalid fault: {exc.errors()[0]['msg']}") from exc
        with self.cluster.lock:
            now = self.cluster.sync()
            self.cluster.faults.add(fault, self.cluster, now)
        return self.faults()

    def clear_faults(self) -> dict[str, Any]:
        with self.cluster.lock:
            self.cluster.faults.clear(self.cluster)
        return self.faults()

    def faults(self) -> dict[str, Any]:
        with self.cluster.lock:
            return {"faults": list(self.cluster.faults.specs)}

    def clock(self) -> dict[str, Any]:
        c = self.cluster.clock
        return {"now": c.now(), "start": c.start, "elapsed": c.elapsed(), "time_scale": c.time_scale}

    def advance(self, seconds: float) -> dict[str, Any]:
        """Jump the virtual clock forward and run everything due."""
        with self.cluster.lock:
            self.cluster.clock.advance(seconds)
            self.cluster.sync()
        return self.clock()

    def set_time_scale(self, time_scale: float) -> dict[str, Any]:
        self.cluster.clock.set_time_scale(time_scale)
        return self.clock()

    def state(self) -> dict[str, Any]:
        """Node of each vmid, locks, node status and running tasks."""
        c = self.cluster
        with c.lock:
            now = c.sync()
            return {
                "time": now,
                "nodes": {
                    n.name: {"online": n.online, "version": n.version, "ha_maintenance": n.ha_maintenance}
                    for n in c.nodes.values()
                },
                "guests": {
                    str(g.vmid): {"node": g.node, "type": g.kind, "status": g.status, "lock": g.lock}
                    for g in c.guests.values()
                },
                "running_tasks": [t.upid for t in c.tasks.running()],
                "migrations": [
                    {
                        "vmid": m.guest.vmid,
                        "source": m.source,
                        "target": m.target,
                        "phase": m.phase,
                        "upid": m.task.upid,
                    }
                    for m in c.engine.active
                ],
            }

    def migration_peaks(self) -> dict[str, Any]:
        """The most migrations the cluster saw running at once: overall, per source, per target."""
        e = self.cluster.engine
        with self.cluster.lock:
            self.cluster.sync()
            return {
                "total": e.peak_total,
                "outgoing": dict(e.peak_outgoing),
                "incoming": dict(e.peak_incoming),
            }

    def handle(self, method: str, path: str, params: dict[str, Any]) -> Any:
        """HTTP entry: route an admin request; raises PveError for unknown ones."""
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_sim/requests"):
            return self.requests(int(params.get("since", 0)))
        if route == ("POST", "/_sim/requests/clear"):
            self.clear_requests()
            return None
        if route == ("GET", "/_sim/faults"):
            return self.faults()
        if route == ("POST", "/_sim/faults"):
            return self.add_fault(params)
        if route == ("POST", "/_sim/faults/clear"):
            return self.clear_faults()
        if route == ("GET", "/_sim/clock"):
            return self.clock()
        if route == ("POST", "/_sim/clock"):
            if "time_scale" in params:
                self.set_time_scale(float(params["time_scale"]))
            return self.advance(float(params.get("advance", 0)))
        if route == ("GET", "/_sim/state"):
            return self.state()
        raise PveError(501, f"Method '{method} {path}' not implemented")
