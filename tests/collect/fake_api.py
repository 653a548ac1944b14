"""A scripted, counting `ApiReader` and PVE-shaped answers for collect tests (shapes per pve-api.md)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from proxlb.errors import ApiError

GIB = 1024**3


class FakeReader:
    """Answers GETs from a table keyed by path (and optionally by 'path?k=v&…'); counts calls.

    An answer that is an `ApiError` is raised. A missing path raises ApiError 501 like PVE does
    for unknown methods. `hold` (an Event) makes every call wait, to measure concurrency.
    """

    def __init__(self, answers: dict[str, Any], hold: threading.Event | None = None) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self.counts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._hold = hold

    def get(self, path: str, **params: str | int) -> Any:
        key = path + ("?" + "&".join(f"{k}={v}" for k, v in sorted(params.items())) if params else "")
        with self._lock:
            self.calls.append(key)
            self.counts[key] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._hold is not None:
                self._hold.wait(0.02)
            answer = self.answers.get(
                key, self.answers.get(path, ApiError("Method not implemented", 501, path))
            )
            if isinstance(answer, ApiError):
                raise answer
            return answer
        finally:
            with self._lock:
                self.in_flight -= 1


def node_entry(
    name: str,
    cpu: float = 0.25,
    maxcpu: int = 16,
    mem: int = 32 * GIB,
    maxmem: int = 64 * GIB,
    status: str = "online",
    **extra: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": f"node/{name}",
        "node": name,
        "type": "node",
        "status": status,
        "maxcpu": maxcpu,
        "maxmem": maxmem,
        "maxdisk": 100 * GIB,
    }
    if status == "online":
        entry.update({"cpu": cpu, "mem": mem, "disk": 10 * GIB, "uptime": 1000})
    entry.update(extra)
    return entry


def guest_entry(
    vmid: int,
    node: str,
    kind: str = "qemu",
    status: str = "running",
    cpu: float = 0.5,
    maxcpu: float = 4,
    mem: int = 4 * GIB,
    maxmem: int = 8 * GIB,
    **extra: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": f"{kind}/{vmid}",
        "vmid": vmid,
        "node": node,
        "type": kind,
        "status": status,
        "name": f"g{vmid}",
        "template": 0,
        "maxcpu": maxcpu,
        "cpu": cpu if status == "running" else 0,
        "maxmem": maxmem,
        "mem": mem if status == "running" else 0,
        "maxdisk": 32 * GIB,
        "disk": (2 * GIB if kind == "lxc" else 0),
    }
    entry.update(extra)
    return entry


def rrd_rows(cpu: float, maxcpu: int = 16, rows: int = 3, **extra: Any) -> list[dict[str, Any]]:
    return [{"time": 1000 + 60 * i, "cpu": cpu, "maxcpu": maxcpu, **extra} for i in range(rows)]


def cluster(
    nodes: list[dict[str, Any]],
    guests: list[dict[str, Any]],
    version: str = "9.0.3",
    extra_resources: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Answers for a healthy cluster: every online node runs `version`, rrd cpu = its cpu."""
    answers: dict[str, Any] = {
        "/cluster/resources": nodes + guests + (extra_resources or []),
        "/cluster/status": [
            {"type": "cluster", "id": "cluster", "name": "lab", "quorate": 1, "nodes": len(nodes)}
        ],
        "/cluster/ha/status/current": [
            {"id": "quorum", "type": "quorum", "node": "pve1", "status": "OK", "quorate": 1}
        ],
        "/cluster/ha/status/manager_status": {
            "manager_status": {},
            "quorum": {"node": "pve1", "quorate": "1"},
        },
        "/cluster/ha/rules": [],
        "/cluster/options": {"crs": {"ha": "basic"}},
        "/cluster/ha/groups": [],
        "/cluster/ha/resources": [],
        "/storage": [{"storage": "local", "type": "dir"}, {"storage": "ceph", "type": "rbd"}],
    }
    for n in nodes:
        if n.get("status") != "online":
            continue
        name = n["node"]
        answers[f"/nodes/{name}/version"] = {"version": version, "release": version[:3], "repoid": "abc"}
        answers[f"/nodes/{name}/rrddata?cf=AVERAGE&timeframe=hour"] = rrd_rows(n.get("cpu", 0.0), n["maxcpu"])
        answers[f"/nodes/{name}/rrddata?cf=MAX&timeframe=hour"] = rrd_rows(n.get("cpu", 0.0), n["maxcpu"])
        answers[f"/nodes/{name}/qemu"] = []
        answers[f"/nodes/{name}/lxc"] = []
    return answers
