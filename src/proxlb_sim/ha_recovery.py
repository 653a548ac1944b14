"""Node failure → fence → HA recovery, as pve-ha-manager's CRM does it, on the simulator's state.

`fail_node(cluster, name, t)` powers a node off (its migrations abort); its non-HA guests (and HA
resources requested stopped/ignored) stay down; after fencing, the CRM recovers each HA resource
of the node in service-id order to `select_service_node(…, 'best-score')`:

- candidates: online nodes not in HA maintenance; a node-affinity rule keeps its highest-priority
  online nodes (strict: only listed ones; non-strict: unlisted ones count at priority -1);
- negative resource-affinity partners' nodes are removed; with positive partners already placed,
  only the node holding most of them stays;
- the CRS scheduler of `options.crs.ha` ranks the rest: 'basic' by the number of HA resources on
  the node; 'static'/'dynamic' by TOPSIS over average/highest CPU and average/highest memory
  (weights 1, 2, 5, 10; static on configured vCPUs and memory, dynamic on measured usage) after the
  start; lowest score first, ties by node name. Each recovery adds its usage before the next.

`schedule_failure` does the same at a virtual time, with the fence delay PVE's watchdog needs.
Callers hold the cluster lock. Returns/logs the CRM's own sentences ("recover service 'vm:101' from
fenced node 'pve2' to node 'pve3'").
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxlb_sim.simstate import SimHost
    from proxlb_sim.state import SimGuest

log = logging.getLogger(__name__)

FENCE_DELAY_S = 120.0  # LRM watchdog expiry (60 s) + CRM fencing round, roughly as on real clusters
WEIGHTS = (1.0, 2.0, 5.0, 10.0)


def _crs(c: SimHost) -> dict[str, object]:
    crs = c.scenario.options.get("crs") or {}
    if isinstance(crs, str):  # property-string form "ha=static,ha-auto-rebalance=1"
        out: dict[str, object] = {}
        for part in crs.split(","):
            key, sep, val = part.partition("=")
            out[key.strip() if sep else "ha"] = val.strip() if sep else key.strip()
        return out
    return dict(crs) if isinstance(crs, dict) else {}


def scheduler(c: SimHost) -> str:
    mode = str(_crs(c).get("ha") or "basic")
    return mode if mode in ("basic", "static", "dynamic") else "basic"


def _sid_vmid(sid: str) -> int:
    return int(sid.split(":")[1])


def _rules(
    c: SimHost,
) -> tuple[dict[str, tuple[dict[str, int], bool]], dict[str, set[str]], dict[str, set[str]]]:
    prio: dict[str, tuple[dict[str, int], bool]] = {}
    together: dict[str, set[str]] = {}
    apart: dict[str, set[str]] = {}
    for r in c.ha_rules:  # the rules as stored now (the scenario's, then API writes)
        if r.get("disable"):
            continue
        sids = [s.strip() for s in str(r["resources"]).split(",") if s.strip()]
        if r["type"] == "node-affinity":
            nodes: dict[str, int] = {}
            for part in str(r.get("nodes") or "").split(","):
                name, _, p = part.strip().partition(":")
                if name:
                    nodes[name] = int(p) if p.strip().lstrip("-").isdigit() else 0
            for sid in sids:
                prio.setdefault(sid, (nodes, bool(r.get("strict"))))
        else:
            bucket = together if r.get("affinity") == "positive" else apart
            for sid in sids:
                bucket.setdefault(sid, set()).update(s for s in sids if s != sid)
    for g in c.scenario.ha.groups:  # PVE 8 groups: node affinity by another name
        nodes = {}
        for part in g.nodes.split(","):
            name, _, p = part.strip().partition(":")
            if name:
                nodes[name] = int(p) if p.strip().isdigit() else 0
        for sid, res in c.ha_resources.items():
            if res.get("group") == g.group:
                prio.setdefault(sid, (nodes, bool(g.restricted)))
    return prio, together, apart


class _Usage:
    def __init__(self, c: SimHost, nodes: list[str], mode: str, t: float) -> None:
        self.mode, self.nodes = mode, nodes
        sample = c.sample(t).guest
        self.sample = sample
        self.count = dict.fromkeys(nodes, 0)
        self.cpu = dict.fromkeys(nodes, 0.0)
        self.mem = dict.fromkeys(nodes, 0.0)
        for g in c.guests.values():
            if g.node not in self.count:
                continue
            res = c.ha_resources.get(g.sid)
            if res is not None and str(res.get("state", "started")) in ("started", "enabled") and g.running:
                self.count[g.node] += 1
            if g.running:
                self.add(g, g.node, count=False)

    def demand(self, g: SimGuest) -> tuple[float, float]:
        if self.mode == "dynamic":
            cpu, mem = self.sample.get(g.vmid, (0.0, 0))
            if not g.running:  # fenced: its last known usage (the nominal figures of the scenario)
                cpu, mem = g.cpu_frac, g.mem
            return cpu * g.maxcpu, float(mem)
        return float(g.maxcpu), float(g.maxmem)

    def add(self, g: SimGuest, node: str, count: bool = True) -> None:
        cpu, mem = self.demand(g)
        self.cpu[node] += cpu
        self.mem[node] += mem
        self.count[node] += int(count)

    def score(self, c: SimHost, g: SimGuest) -> dict[str, float]:
        if self.mode == "basic":
            return {n: float(self.count[n]) for n in self.nodes}
        cpu, mem = self.demand(g)
        maxcpu = {n: max(1.0, float(c.nodes[n].maxcpu)) for n in self.nodes}
        maxmem = {n: float(max(1, c.nodes[n].maxmem)) for n in self.nodes}
        alternatives = []
        for n in self.nodes:
            cr = [(self.cpu[o] + (cpu if o == n else 0.0)) / maxcpu[o] for o in self.nodes]
            mr = [(self.mem[o] + (mem if o == n else 0.0)) / maxmem[o] for o in self.nodes]
            alternatives.append((sum(cr) / len(cr), max(cr), sum(mr) / len(mr), max(mr)))
        total = sum(WEIGHTS)
        norm = [math.sqrt(sum(a[j] ** 2 for a in alternatives)) or 1.0 for j in range(4)]
        weighted = [[a[j] / norm[j] * WEIGHTS[j] / total for j in range(4)] for a in alternatives]
        ideal = [min(w[j] for w in weighted) for j in range(4)]
        anti = [max(w[j] for w in weighted) for j in range(4)]
        out = {}
        for n, w in zip(self.nodes, weighted, strict=True):
            near = math.dist(w, ideal)
            far = math.dist(w, anti)
            out[n] = -(0.5 if near + far == 0 else far / (near + far))
        return out


def recover(c: SimHost, failed: set[str], t: float) -> list[str]:
    """The CRM's recovery of every HA resource on the fenced nodes `failed`; returns its log lines."""
    mode = scheduler(c)
    online = sorted(
        n for n, node in c.nodes.items() if node.online and not node.ha_maintenance and n not in failed
    )
    usage = _Usage(c, online, mode, t)
    prio, together, apart = _rules(c)
    lines: list[str] = []
    for sid in sorted(c.ha_resources):
        g = c.guests.get(_sid_vmid(sid))
        if g is None or g.node not in failed:
            continue
        state = str(c.ha_resources[sid].get("state", "started"))
        if state == "ignored":
            continue
        entry = prio.get(sid)
        if entry is None:
            pri = set(online)
        else:
            nodes, strict = entry
            ranked = {n: nodes.get(n, -1) for n in online if n in nodes or not strict}
            top = max(ranked.values(), default=None)
            pri = {n for n, p in ranked.items() if p == top}
        placed = {s: c.guests[_sid_vmid(s)].node for s in c.ha_resources if c.guests[_sid_vmid(s)].running}
        for partner in apart.get(sid, ()):
            if placed.get(partner) in pri and placed.get(partner) not in failed:
                pri.discard(placed[partner])
        votes: dict[str, int] = {}
        for partner in together.get(sid, ()):
            node = placed.get(partner)
            if node in pri:
                votes[node] = votes.get(node, 0) + 1
        if votes:
            pri = {min(votes, key=lambda n: (-votes[n], n))}
        if not pri:
            lines.append(
                f"recovering service '{sid}' from fenced node '{g.node}' failed, no recovery node found"
            )
            continue
        scores = usage.score(c, g)
        target = min(pri, key=lambda n: (scores[n], n))
        lines.append(f"recover service '{sid}' from fenced node '{g.node}' to node '{target}'")
        was_running = g.running
        g.node = target
        if state in ("started", "enabled"):
            usage.add(g, target)  # before it starts: the usage sample was taken while it was down
            if not was_running:
                c.set_running(g, True, t)
        elif was_running:
            c.set_running(g, False, t)
    c.bump()
    for line in lines:
        log.info("%s", line)
    return lines


def fail_node(c: SimHost, name: str, t: float, fence: bool = True) -> list[str]:
    """Node `name` loses power: its guests stop; with `fence`, HA resources are recovered at once."""
    c.set_node_online(name, False)
    for g in c.guests.values():
        if g.node == name and g.running:
            c.set_running(g, False, t)
    return recover(c, {name}, t) if fence else []


def schedule_failure(c: SimHost, name: str, at: float, fence_delay: float = FENCE_DELAY_S) -> None:
    """Fail `name` at virtual time `at`; the CRM recovers its HA resources `fence_delay` later."""

    def fail(t: float) -> None:
        fail_node(c, name, t, fence=False)

    def fence(t: float) -> None:
        recover(c, {name}, t)

    c.engine.schedule(at, fail)
    c.engine.schedule(at + fence_delay, fence)
