"""PVE 9.2's HA auto-rebalance (the CRM's `load_balance`), on the simulator's clock.

Enabled when the scenario's `options.crs` has `ha-auto-rebalance: 1` and `ha: static|dynamic`
(PVE returns early for 'basic'). Every HA round (`ROUND_S`, 10 s as PVE's CRM loop):

1. nothing while any HA resource is queued for or in a migration (one motion at a time);
2. imbalance = coefficient of variation (population standard deviation ÷ mean) of the node loads,
   a node's load being the mean of its CPU and memory use ratios (static: configured vCPUs and
   memory of its running guests; dynamic: measured usage). Only when it is above
   `ha-auto-rebalance-threshold` (0.3) for `ha-auto-rebalance-hold-duration` (3) rounds in a row;
3. candidates: running, started HA resources without `auto-rebalance: 0`, with their positive
   resource-affinity partners on the same node as one bundle; targets: the online, non-maintenance
   nodes of their node-affinity priority, minus negative partners' nodes and the current node;
4. 'bruteforce': the candidate move that gives the lowest imbalance; it is done only when it lowers
   the imbalance by at least `ha-auto-rebalance-margin` (10 %) relatively — queued as the CRM's own
   HA migration (task user root@pam).

The per-node load combination is our reading of PVE's scheduler (its Rust scoring is not in the
pve-ha-manager sources); it reproduces the imbalance figures of pve-ha-manager's homogeneous
auto-rebalance tests (1.41 → 0.94 → 0.35). Callers hold the cluster lock (engine events do).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxlb_sim.ha_recovery import _crs, _rules

if TYPE_CHECKING:
    from proxlb_sim.simstate import SimHost

log = logging.getLogger(__name__)

ROUND_S = 10.0


def _num(value: object, default: float) -> float:
    try:
        return float(str(value)) if value is not None else default
    except ValueError:
        return default


@dataclass
class AutoRebalancer:
    """The CRM's balancer state: sustained rounds and the migrations it queued (t, sid, from, to)."""

    c: SimHost
    sustained: int = 0
    moves: list[tuple[float, str, str, str]] = field(default_factory=list)

    @property
    def settings(self) -> tuple[str, float, int, float]:
        crs = _crs(self.c)
        return (
            str(crs.get("ha") or "basic"),
            _num(crs.get("ha-auto-rebalance-threshold"), 0.3),
            int(_num(crs.get("ha-auto-rebalance-hold-duration"), 3)),
            _num(crs.get("ha-auto-rebalance-margin"), 0.1),
        )

    def _loads(self, t: float, placement: dict[int, str], nodes: list[str], mode: str) -> list[float]:
        c = self.c
        sample = c.sample(t).guest
        cpu = dict.fromkeys(nodes, 0.0)
        mem = dict.fromkeys(nodes, 0.0)
        for g in c.guests.values():
            where = placement.get(g.vmid, g.node)
            if where not in cpu or not g.running:
                continue
            if mode == "dynamic":
                frac, used = sample.get(g.vmid, (0.0, 0))
                cpu[where] += frac * g.maxcpu
                mem[where] += used
            else:
                cpu[where] += g.maxcpu
                mem[where] += g.maxmem
        return [
            (cpu[n] / max(1.0, float(c.nodes[n].maxcpu)) + mem[n] / max(1, c.nodes[n].maxmem)) / 2
            for n in nodes
        ]

    @staticmethod
    def imbalance(loads: list[float]) -> float:
        if not loads:
            return 0.0
        mean = sum(loads) / len(loads)
        if mean <= 0:
            return 0.0
        return math.sqrt(sum((x - mean) ** 2 for x in loads) / len(loads)) / mean

    def round(self, t: float) -> None:
        """One CRM round of `load_balance`."""
        c = self.c
        mode, threshold, hold, margin = self.settings
        if mode not in ("static", "dynamic"):
            return
        if c.ha_pending or any(m.guest.sid in c.ha_resources for m in c.engine.active):
            return
        nodes = sorted(n for n, node in c.nodes.items() if node.online and not node.ha_maintenance)
        now = self.imbalance(self._loads(t, {}, nodes, mode))
        if now <= threshold:
            self.sustained = 0
            return
        self.sustained += 1
        if self.sustained < hold:
            return
        self.sustained = 0
        best: tuple[float, str, str, list[int]] | None = None
        prio, together, apart = _rules(c)
        for sid in sorted(c.ha_resources):
            res = c.ha_resources[sid]
            g = c.guests.get(int(sid.split(":")[1]))
            if g is None or not g.running or g.lock or g.node not in nodes:
                continue
            if str(res.get("state", "started")) not in ("started", "enabled"):
                continue
            if str(res.get("auto-rebalance", 1)) in ("0", "False", "false"):
                continue
            partners = sorted(together.get(sid, ()))
            if partners and partners[0] < sid:
                continue  # the bundle's leader (first sid) stands for it
            bundle = [g.vmid] + [
                int(p.split(":")[1]) for p in partners if c.guests.get(int(p.split(":")[1])) is not None
            ]
            if any(c.guests[v].node != g.node for v in bundle):
                continue  # not stationary together yet
            entry = prio.get(sid)
            targets = set(nodes)
            if entry is not None:
                pnodes, strict = entry
                ranked = {n: pnodes.get(n, -1) for n in nodes if n in pnodes or not strict}
                top = max(ranked.values(), default=None)
                targets = {n for n, p in ranked.items() if p == top}
            for other in apart.get(sid, ()):
                og = c.guests.get(int(other.split(":")[1]))
                if og is not None:
                    targets.discard(og.node)
            targets.discard(g.node)
            for dst in sorted(targets):
                after = self.imbalance(self._loads(t, dict.fromkeys(bundle, dst), nodes, mode))
                if best is None or after < best[0]:
                    best = (after, sid, dst, bundle)
        if best is None or now <= 0 or (now - best[0]) / now < margin:
            return
        after, sid, dst, _ = best
        g = c.guests[int(sid.split(":")[1])]
        log.info(
            "auto rebalance - migrate %s to %s (expected change for imbalance from %.2f to %.2f)",
            sid,
            dst,
            now,
            after,
        )
        self.moves.append((t, sid, g.node, dst))
        from proxlb_sim.migrate import _ha_queue

        _ha_queue(c, g, dst, t, relocate=g.kind == "lxc")

    def tick(self, t: float) -> None:
        self.round(t)
        self.c.engine.schedule(t + ROUND_S, self.tick)


def attach(c: SimHost) -> AutoRebalancer | None:
    """Start the CRM's balancer rounds when the scenario turns PVE's auto-rebalance on."""
    crs = _crs(c)
    if str(crs.get("ha-auto-rebalance", 0)) not in ("1", "True", "true"):
        return None
    balancer = AutoRebalancer(c)
    c.engine.schedule(c.clock.start + ROUND_S, balancer.tick)
    return balancer
