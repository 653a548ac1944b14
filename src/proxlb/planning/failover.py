"""Failover headroom: where PVE HA would restart a failed node's guests, and whether they fit. Pure.

For every single-node failure (and every configured failure domain: nodes that fail together) this
replays PVE HA's recovery as pve-ha-manager 5.x does it, on any placement (the cluster now, or a
plan's what-if state):

- the failed nodes' HA resources are recovered one at a time in service-id order ("ct:…" before
  "vm:…", then as text), each to `select_service_node(…, 'best-score')`: the online survivors
  (not in HA maintenance) of its node-affinity rule's highest priority (strict: only listed nodes;
  non-strict: the others at priority -1), minus nodes of its negative resource-affinity partners,
  narrowed to the node holding most of its positive partners, then the best CRS score, ties by name;
- the CRS score follows `/cluster/options` `crs.ha`: 'basic' counts HA resources per node; 'static'
  and 'dynamic' rank nodes by TOPSIS over (average CPU, highest CPU, average memory, highest memory)
  after the guest's start, with weights 1, 2, 5, 10 — static on configured vCPUs and memory,
  dynamic on measured usage; every recovered guest adds to its node before the next is placed;
- a restarted guest brings its measured memory (a running guest's `mem`); non-HA guests of a failed
  node stay down, as do HA resources requested 'stopped' or 'ignored'.

A guest "does not fit" when no node qualifies or its node ends above capacity − reserve
(`node_resource_reserve` keeps its meaning). Survivor memory % is of that usable capacity.

Invariants: deterministic (sorted nodes and sids); reads no clock; the placement given is not changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from proxlb.domain.model import ClusterSnapshot, Guest, GuestKind, VmId

RESTARTED_STATES = frozenset({"started", "migrate", "relocate", "request_start_balance", "freeze", "fence"})
# TOPSIS criteria weights of PVE's static/dynamic CRS: average CPU, highest CPU, average memory,
# highest memory (all to be minimised)
TOPSIS_WEIGHTS = (1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Restart:
    """One recovered guest: where PVE would start it (None = no node qualifies) and whether it fits."""

    vmid: VmId
    target: str | None
    mem_bytes: int
    fits: bool


@dataclass(frozen=True, slots=True)
class Survivor:
    """A survivor's memory after the recovery: used bytes, usable bytes (capacity − reserve)."""

    node: str
    used_bytes: int
    usable_bytes: int
    before_bytes: int = 0  # in use before the failure

    @property
    def short_bytes(self) -> int:
        """Memory the restarts put past usable capacity (an overload from before is not counted)."""
        return max(0, self.used_bytes - max(self.usable_bytes, self.before_bytes))

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.usable_bytes if self.usable_bytes > 0 else 0.0


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    """What losing `failed` (one node, or a failure domain's nodes) would do."""

    name: str  # the node, or "domain <name>"
    failed: tuple[str, ...]
    restarts: tuple[Restart, ...]
    stay_down: tuple[VmId, ...]  # running non-HA (or ignored) guests of the failed nodes
    survivors: tuple[Survivor, ...]

    @property
    def not_fitting(self) -> tuple[VmId, ...]:
        return tuple(r.vmid for r in self.restarts if not r.fits)

    @property
    def fits(self) -> bool:
        return all(r.fits for r in self.restarts)

    @property
    def peak(self) -> Survivor | None:
        return max(self.survivors, key=lambda s: (s.percent, s.node), default=None)

    @property
    def overflow_bytes(self) -> int:
        """Memory past usable capacity on the survivors, plus guests with no node at all."""
        over = sum(s.short_bytes for s in self.survivors)
        return over + sum(r.mem_bytes for r in self.restarts if r.target is None)

    @property
    def headroom_bytes(self) -> int:
        """The smallest free memory left on any survivor (negative: short by that much)."""
        return min((s.usable_bytes - s.used_bytes for s in self.survivors), default=0)


@dataclass(frozen=True, slots=True)
class FailoverReport:
    """Every failure considered, under the CRS scheduler PVE would use."""

    scheduler: str
    failures: tuple[FailureOutcome, ...]

    @property
    def all_fit(self) -> bool:
        return all(f.fits for f in self.failures)

    @property
    def overflow_bytes(self) -> int:
        return sum(f.overflow_bytes for f in self.failures)

    def failure(self, name: str) -> FailureOutcome | None:
        return next((f for f in self.failures if f.name == name), None)


@dataclass(frozen=True)
class ClusterView:
    """The inputs of a prediction: a placement and each node's memory, as now or after moves."""

    snapshot: ClusterSnapshot
    placement: Mapping[VmId, str]
    mem_used: Mapping[str, int]  # node → bytes in use
    mem_usable: Mapping[str, int]  # node → capacity − reserve
    guest_mem: Mapping[VmId, int]  # vmid → bytes a restart brings (0 when not running)


def sid_of(guest: Guest) -> str:
    return f"{'vm' if guest.kind is GuestKind.QEMU else 'ct'}:{guest.vmid}"


def recovered(guest: Guest) -> bool:
    """PVE HA restarts this guest elsewhere when its node fails."""
    return guest.ha_state is not None and guest.ha_state in RESTARTED_STATES and guest.running


class _Affinity:
    """Node-affinity priorities and resource-affinity partners of every HA guest."""

    def __init__(self, snapshot: ClusterSnapshot) -> None:
        self.priorities: dict[VmId, tuple[dict[str, int], bool]] = {}
        self.together: dict[VmId, set[VmId]] = {}
        self.apart: dict[VmId, set[VmId]] = {}
        for rule in snapshot.ha_rules:
            if rule.disabled:
                continue
            if rule.rule_type == "node-affinity":
                for vmid in rule.resources:
                    self.priorities.setdefault(vmid, (dict(rule.nodes), rule.strict))
            elif rule.rule_type == "resource-affinity":
                bucket = self.together if rule.affinity == "positive" else self.apart
                for vmid in rule.resources:
                    bucket.setdefault(vmid, set()).update(v for v in rule.resources if v != vmid)

    def preferred(self, vmid: VmId, online: Sequence[str]) -> set[str]:
        """The online nodes of the highest priority (PVE's `get_node_affinity` second result)."""
        entry = self.priorities.get(vmid)
        if entry is None:
            return set(online)
        prio, strict = entry
        ranked = {n: prio.get(n, -1) for n in online if n in prio or not strict}
        if not ranked:
            return set()
        top = max(ranked.values())
        return {n for n, p in ranked.items() if p == top}


def demand(g: Guest, scheduler: str) -> tuple[float, float]:
    """(cores, bytes) a guest loads a node with in PVE's static (configured) or dynamic (used) CRS."""
    if scheduler == "dynamic":
        return g.usage.cpu_milli / 1000.0, float(g.usage.mem_bytes)
    return g.allocated.cpu_milli / 1000.0, float(g.allocated.mem_bytes)


class _Base:
    """Per-node usage of every online node and the guests of each node, computed once per prediction
    (each failure then only subtracts its failed nodes and replays its own victims)."""

    def __init__(self, view: ClusterView, scheduler: str) -> None:
        snap = view.snapshot
        self.scheduler = scheduler
        self.online = [n.name for n in snap.nodes if n.online and not n.ha_maintenance]
        self.count = dict.fromkeys(self.online, 0)
        self.cpu = dict.fromkeys(self.online, 0.0)
        self.mem = dict.fromkeys(self.online, 0.0)
        self.maxcpu: dict[str, float] = {}
        self.maxmem: dict[str, float] = {}
        for node in snap.nodes:
            self.maxcpu[node.name] = max(1.0, node.capacity.cpu_milli / 1000.0)
            self.maxmem[node.name] = float(max(1, node.capacity.mem_bytes))
        self.on_node: dict[str, list[Guest]] = {}
        for g in snap.guests:
            where = view.placement.get(g.vmid, g.node)
            self.on_node.setdefault(where, []).append(g)
            if where not in self.count:
                continue
            if g.ha_state is not None and g.ha_state not in ("stopped", "request_start", "ignored"):
                self.count[where] += 1
            if g.running:
                cpu, mem = demand(g, scheduler)
                self.cpu[where] += cpu
                self.mem[where] += mem
        self.affinity = _affinity_of(snap)


def _affinity_of(snapshot: ClusterSnapshot) -> _Affinity:
    """The snapshot's HA rules as look-ups, built once per snapshot (a cache, like LoadState.of)."""
    cached = snapshot.__dict__.get("_failover_affinity")
    if not isinstance(cached, _Affinity):
        cached = _Affinity(snapshot)
        snapshot.__dict__["_failover_affinity"] = cached
    return cached


class _Usage:
    """PVE's online node usage for one scheduler, updated as guests are recovered."""

    def __init__(self, base: _Base, nodes: Sequence[str]) -> None:
        self.scheduler = base.scheduler
        self.nodes = list(nodes)
        self.count = {n: base.count[n] for n in nodes}
        self.cpu = {n: base.cpu[n] for n in nodes}
        self.mem = {n: base.mem[n] for n in nodes}
        self.maxcpu = base.maxcpu
        self.maxmem = base.maxmem

    def demand(self, g: Guest) -> tuple[float, float]:
        return demand(g, self.scheduler)

    def add(self, g: Guest, node: str, count: bool = True) -> None:
        cpu, mem = self.demand(g)
        self.cpu[node] += cpu
        self.mem[node] += mem
        if count:
            self.count[node] += 1

    def scores(self, g: Guest) -> dict[str, float]:
        """Lower is better, as PVE's callers expect."""
        if self.scheduler == "basic":
            return {n: float(self.count[n]) for n in self.nodes}
        cpu, mem = self.demand(g)
        cpu_ratio = {n: self.cpu[n] / self.maxcpu[n] for n in self.nodes}
        mem_ratio = {n: self.mem[n] / self.maxmem[n] for n in self.nodes}
        count = len(self.nodes)
        sum_cpu, sum_mem = sum(cpu_ratio.values()), sum(mem_ratio.values())
        rows: list[tuple[float, float, float, float]] = []
        for n in self.nodes:
            c_new = cpu_ratio[n] + cpu / self.maxcpu[n]
            m_new = mem_ratio[n] + mem / self.maxmem[n]
            rows.append(
                (
                    (sum_cpu - cpu_ratio[n] + c_new) / count,
                    max([c_new, *(cpu_ratio[o] for o in self.nodes if o != n)]),
                    (sum_mem - mem_ratio[n] + m_new) / count,
                    max([m_new, *(mem_ratio[o] for o in self.nodes if o != n)]),
                )
            )
        closeness = topsis_closeness(rows, TOPSIS_WEIGHTS)
        return {n: -c for n, c in zip(self.nodes, closeness, strict=True)}


def topsis_closeness(rows: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """Relative closeness (0..1, higher is better) of each alternative; every criterion minimised.

    Columns are normalised by their Euclidean norm and weighted (weights normalised to sum 1); the
    ideal is each column's minimum, the anti-ideal its maximum. Equal alternatives all get 0.5.
    """
    total = sum(weights)
    cols = len(weights)
    norms = [math.sqrt(sum(r[j] ** 2 for r in rows)) for j in range(cols)]
    scaled = [
        [(r[j] / norms[j] if norms[j] > 0 else 0.0) * weights[j] / total for j in range(cols)] for r in rows
    ]
    best = [min(s[j] for s in scaled) for j in range(cols)]
    worst = [max(s[j] for s in scaled) for j in range(cols)]
    out: list[float] = []
    for s in scaled:
        d_best = math.sqrt(sum((s[j] - best[j]) ** 2 for j in range(cols)))
        d_worst = math.sqrt(sum((s[j] - worst[j]) ** 2 for j in range(cols)))
        out.append(0.5 if d_best + d_worst == 0 else d_worst / (d_best + d_worst))
    return out


def _select(
    g: Guest, usage: _Usage, aff: _Affinity, where: Callable[[VmId], str | None], online: Sequence[str]
) -> str | None:
    """PVE's `select_service_node(…, 'best-score')` for a guest being recovered."""
    pri = aff.preferred(g.vmid, online)
    if not pri:
        return None
    for partner in aff.apart.get(g.vmid, ()):
        node = where(partner)
        if node is not None:
            pri.discard(node)
    together: dict[str, int] = {}
    for partner in aff.together.get(g.vmid, ()):
        node = where(partner)
        if node is not None and node in pri:
            together[node] = together.get(node, 0) + 1
    if together:
        majority = sorted(together, key=lambda n: (-together[n], n))[0]
        pri = {majority}
    if not pri:
        return None
    scores = usage.scores(g)
    return min(pri, key=lambda n: (scores[n], n))


def predict_failure(view: ClusterView, failed: Sequence[str], scheduler: str, name: str) -> FailureOutcome:
    """Replay PVE HA's recovery of the guests of `failed` on `view` (see the module docstring)."""
    return _failure(view, _Base(view, scheduler), failed, name)


def _failure(view: ClusterView, base: _Base, failed: Sequence[str], name: str) -> FailureOutcome:
    down = set(failed)
    online = [n for n in base.online if n not in down]
    usage = _Usage(base, online)
    alive = set(online)
    recovered_to: dict[VmId, str] = {}

    def where(vmid: VmId) -> str | None:
        if vmid in recovered_to:
            return recovered_to[vmid]
        g = view.snapshot.guest(vmid)
        node = view.placement.get(vmid, g.node) if g is not None else None
        return node if g is not None and g.running and node in alive else None

    mem = {n: int(view.mem_used.get(n, 0)) for n in online}
    victims = sorted((g for n in sorted(down) for g in base.on_node.get(n, ())), key=sid_of)
    restarts: list[Restart] = []
    stay_down: list[VmId] = []
    for g in victims:
        if not recovered(g):
            if g.running:
                stay_down.append(g.vmid)
            continue
        need = int(view.guest_mem.get(g.vmid, 0))
        target = _select(g, usage, base.affinity, where, online)
        if target is None:
            restarts.append(Restart(g.vmid, None, need, False))
            continue
        usage.add(g, target)
        recovered_to[g.vmid] = target
        mem[target] += need
        restarts.append(Restart(g.vmid, target, need, mem[target] <= view.mem_usable.get(target, 0)))
    survivors = tuple(
        Survivor(n, mem[n], int(view.mem_usable.get(n, 0)), int(view.mem_used.get(n, 0))) for n in online
    )
    return FailureOutcome(name, tuple(sorted(down)), tuple(restarts), tuple(stay_down), survivors)


def predict(
    view: ClusterView, domains: Mapping[str, Sequence[str]] | None = None, scheduler: str | None = None
) -> FailoverReport:
    """Every single-node failure of an online node, then every failure domain (sorted by name)."""
    snap = view.snapshot
    mode = scheduler or snap.crs.effective_scheduler
    base = _Base(view, mode)
    failures = [_failure(view, base, (n.name,), n.name) for n in snap.nodes if n.online]
    known = set(snap.node_names)
    for dname in sorted(domains or {}):
        members = tuple(sorted(n for n in (domains or {})[dname] if n in known))
        if members:
            failures.append(_failure(view, base, members, f"domain {dname}"))
    return FailoverReport(mode, tuple(failures))
