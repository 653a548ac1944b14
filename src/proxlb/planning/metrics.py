"""Node load, the imbalance measures and the mutable what-if state every planner shares. Pure.

Load of a node per resource is a percentage of the node's OWN usable capacity (capacity minus
reserve), so mixed node sizes balance on equal terms:

- mode `used`:     node usage (memory, cores in use, root disk); a guest carries its measured usage
                   (running guests only) and its local-disk bytes.
- mode `assigned`: Σ configured sizes of the guests on the node, stopped ones included (their memory
                   is committed); templates carry nothing.
- mode `psi`:      moves are simulated on the `used` measure; pressure only decides WHEN and FROM
                   WHERE to move (trigger.py), because pressure cannot be added or subtracted.

Two measures, used by every planner so "before/after" means the same thing everywhere:

- spread  = max over balanced resources of (max node % − min node %), in pp — the trigger and stop rule.
- objective = Σ_r w_r · Σ_n (p_nr − mean_r)²  (weights normalised) — smooth, used to choose moves.
  A move's *gain* in pp is the objective drop divided by twice the move's size in pp (its load as a
  share of source and target, averaged). For one resource and equal nodes that is exactly the mean
  of the source–target load gap before and after the move: moving load across a wide gap gains a
  lot, across a narrow one little, and a move that would just swap the two loads gains 0 — whatever
  the cluster or guest size.

Invariants: only nodes in the balance set (online, not drained) count in the measures; guests on
drained nodes still load their node's capacity bookkeeping (used by checks) but not the spread.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from proxlb.domain.constraints import AntiAffinity
from proxlb.domain.model import Guest, VmId
from proxlb.domain.resources import GIB
from proxlb.planning.policy import RESOURCES, Mode
from proxlb.planning.problem import PlanningProblem

Vector = tuple[float, float, float]  # memory, cpu, disk in raw units (bytes, milli-cores, bytes)


@dataclass(frozen=True, slots=True)
class GuestLoad:
    """What a guest brings to a node: mode metric, real memory, running vCPUs, assigned memory, disk."""

    metric: Vector
    used_mem: int
    vcpu_milli: int
    assigned_mem: int
    disk: int
    copy_bytes: int


def guest_load(guest: Guest, mode: Mode) -> GuestLoad:
    """The guest's contribution to a node under `mode`."""
    running = guest.running
    used_mem = guest.usage.mem_bytes if running else 0
    assigned_mem = 0 if guest.template else guest.allocated.mem_bytes
    if mode is Mode.ASSIGNED:
        cpu = 0 if guest.template else guest.allocated.cpu_milli
        metric: Vector = (float(assigned_mem), float(cpu), float(guest.local_disk_bytes))
    else:
        metric = (
            float(used_mem),
            float(guest.usage.cpu_milli if running else 0),
            float(guest.local_disk_bytes),
        )
    return GuestLoad(
        metric=metric,
        used_mem=used_mem,
        vcpu_milli=guest.allocated.cpu_milli if running else 0,
        assigned_mem=assigned_mem,
        disk=guest.local_disk_bytes,
        copy_bytes=used_mem + guest.local_disk_bytes,
    )


def shared_memory_scaled(problem: PlanningProblem, loads: dict[VmId, GuestLoad]) -> dict[VmId, GuestLoad]:
    """Memory contributions scaled to what each node really uses (KSM, ballooning, overcommit).

    When the guests of a node report more memory than the node uses in total (KSM merges their
    identical pages), a guest leaving frees only its share of the real usage: its `mem` × (node
    used ÷ Σ guests' mem). Without this a 16 GiB node whose guests report 38 GiB would be predicted
    nearly empty after two moves. Only the load measure is scaled; room checks (`used_mem`) keep
    the full figure, because the target has to hold the guest's pages before KSM merges them.
    """
    snap = problem.snapshot
    reported: dict[str, int] = {}
    for g in snap.guests:
        host = g.migrating_from or g.node
        reported[host] = reported.get(host, 0) + loads[g.vmid].used_mem
    factor: dict[str, float] = {}
    for node in snap.nodes:
        total = reported.get(node.name, 0)
        if node.online and 0 < node.usage.mem_bytes < total:
            factor[node.name] = node.usage.mem_bytes / total
    out: dict[VmId, GuestLoad] = {}
    for g in snap.guests:
        f = factor.get(g.migrating_from or g.node)
        if f is not None:
            load = loads[g.vmid]
            mem, cpu, disk = load.metric
            out[g.vmid] = replace(load, metric=(mem * f, cpu, disk))
    return out


def add_loads(items: list[GuestLoad]) -> GuestLoad:
    """Sum of several guests' loads (an affinity unit)."""
    m = [0.0, 0.0, 0.0]
    for it in items:
        for i in range(3):
            m[i] += it.metric[i]
    return GuestLoad(
        metric=(m[0], m[1], m[2]),
        used_mem=sum(i.used_mem for i in items),
        vcpu_milli=sum(i.vcpu_milli for i in items),
        assigned_mem=sum(i.assigned_mem for i in items),
        disk=sum(i.disk for i in items),
        copy_bytes=sum(i.copy_bytes for i in items),
    )


_NOBODY: frozenset[VmId] = frozenset()


class LoadState:
    """Mutable placement + per-node bookkeeping for what-if moves. Copy with `clone()`."""

    def __init__(self, problem: PlanningProblem) -> None:
        snap, pol, idx = problem.snapshot, problem.policy, problem.index
        self.problem = problem
        self.weights = pol.resource_weights()
        self.active = tuple((RESOURCES.index(r), w) for r, w in self.weights.items())
        self.balance = idx.balance_nodes
        self.in_balance = {n: True for n in self.balance}
        self.placement: dict[VmId, str] = {g.vmid: g.node for g in snap.guests}
        self.gload: dict[VmId, GuestLoad] = {g.vmid: guest_load(g, pol.mode) for g in snap.guests}
        if pol.mode is not Mode.ASSIGNED:
            self.gload.update(shared_memory_scaled(problem, self.gload))
        self.load: dict[str, list[float]] = {}
        self.cap: dict[str, tuple[float, float, float]] = {}
        self.used_mem: dict[str, int] = {}
        self.mem_limit: dict[str, int] = {}
        self.vcpu: dict[str, int] = {}
        self.vcpu_cap: dict[str, float] = {}
        self.assigned: dict[str, int] = {}
        self.disk: dict[str, int] = {}
        self.disk_limit: dict[str, int] = {}
        self.warnings: list[str] = []
        self._anti_on: dict[AntiAffinity, dict[str, set[VmId]]] | None = None  # built on first use
        on_node: dict[str, list[GuestLoad]] = {n.name: [] for n in snap.nodes}
        for g in snap.guests:
            on_node.setdefault(g.node, []).append(self.gload[g.vmid])
        for node in snap.nodes:
            reserve = pol.reserve_for(node.name)
            usable = node.capacity - reserve
            if usable.mem_bytes <= 0 or usable.cpu_milli <= 0:
                self.warnings.append(f"reserve on {node.name} is not smaller than its capacity; ignored")
                usable = node.capacity
            total = add_loads(on_node.get(node.name, []))
            if pol.mode is Mode.ASSIGNED:
                base = list(total.metric)
            else:
                base = [
                    float(node.usage.mem_bytes),
                    float(node.usage.cpu_milli),
                    float(node.usage.disk_bytes),
                ]
            self.load[node.name] = base
            self.cap[node.name] = (
                float(max(usable.mem_bytes, 1)),
                float(max(usable.cpu_milli, 1)),
                float(max(usable.disk_bytes, 0)),
            )
            self.used_mem[node.name] = max(node.usage.mem_bytes, total.used_mem)
            self.mem_limit[node.name] = usable.mem_bytes
            self.vcpu[node.name] = total.vcpu_milli
            ratio = pol.cpu_overcommit
            self.vcpu_cap[node.name] = usable.cpu_milli * ratio if ratio is not None else float("inf")
            self.assigned[node.name] = total.assigned_mem
            self.disk[node.name] = max(node.usage.disk_bytes, total.disk)
            self.disk_limit[node.name] = usable.disk_bytes
        if pol.mode is not Mode.ASSIGNED:
            self._count_inflight_at_destination(problem)
        self.s1 = [0.0, 0.0, 0.0]
        self.s2 = [0.0, 0.0, 0.0]
        for n in self.balance:
            for i in range(3):
                p = self.pct(n, i)
                self.s1[i] += p
                self.s2[i] += p * p

    def _count_inflight_at_destination(self, problem: PlanningProblem) -> None:
        """A guest migrating right now (by anyone) loads its destination, not the node it leaves:
        move its measured load there (the node figures PVE reports still show it on the source)."""
        for g in problem.snapshot.guests:
            src = g.migrating_from
            if src is None or src not in self.load or g.node not in self.load:
                continue
            metric = self.gload[g.vmid].metric
            for i in range(3):
                self.load[src][i] = max(0.0, self.load[src][i] - metric[i])
                self.load[g.node][i] += metric[i]

    @staticmethod
    def of(problem: PlanningProblem) -> LoadState:
        """A fresh state for `problem` (built once per problem, then cloned: planners, sequencing and
        validation each start from the same snapshot state without re-deriving 4 000 guest loads)."""
        template = problem.__dict__.get("_load_state_template")
        if template is None:
            template = LoadState(problem)
            problem.__dict__["_load_state_template"] = template  # a cache, like functools.cached_property
        return template.clone()

    def clone(self) -> LoadState:
        other = object.__new__(LoadState)
        for key, value in self.__dict__.items():
            if key == "_anti_on":
                other._anti_on = None  # rebuilt on first use (it holds sets: a copy would share them)
                continue
            copied = value
            if isinstance(value, dict):
                copied = {k: (list(v) if isinstance(v, list) else v) for k, v in value.items()}
            elif isinstance(value, list):
                copied = list(value)
            other.__dict__[key] = copied
        return other

    # --- measures -------------------------------------------------------------------------------
    def pct(self, node: str, i: int) -> float:
        cap = self.cap[node][i]
        return 100.0 * self.load[node][i] / cap if cap > 0 else 0.0

    def score(self, node: str) -> float:
        """Weighted load % of one node over the balanced resources."""
        return sum(w * self.pct(node, i) for i, w in self.active)

    def spread_of(self, i: int) -> float:
        load, cap = self.load, self.cap
        values = [100.0 * load[n][i] / cap[n][i] if cap[n][i] > 0 else 0.0 for n in self.balance]
        return max(values) - min(values) if values else 0.0

    def members_on(self, rule: AntiAffinity, node: str) -> AbstractSet[VmId]:
        """The members of an anti-affinity rule placed on `node` now (kept up to date by `move`)."""
        index = self._anti_on
        if index is None:
            index = {}
            for r in self.problem.constraints.anti_affinities:
                by_node: dict[str, set[VmId]] = index.setdefault(r, {})
                for m in r.members:
                    at = self.placement.get(m)
                    if at is not None:
                        by_node.setdefault(at, set()).add(m)
            self._anti_on = index
        return index.get(rule, {}).get(node, _NOBODY)

    def spread(self) -> float:
        """The imbalance shown to users: the largest per-resource spread, in pp."""
        return max((self.spread_of(i) for i, _ in self.active), default=0.0)

    def weighted_spread(self) -> float:
        return sum(w * self.spread_of(i) for i, w in self.active)

    def objective(self) -> float:
        n = len(self.balance)
        if n == 0:
            return 0.0
        return sum(w * max(0.0, self.s2[i] - self.s1[i] * self.s1[i] / n) for i, w in self.active)

    def objective_drop(self, load: GuestLoad, src: str, dst: str) -> tuple[float, float]:
        """(objective before − after, move size in pp) for moving `load` from src to dst. O(1)."""
        n = len(self.balance)
        if n == 0:
            return 0.0, 0.0
        total = size = 0.0
        for i, w in self.active:
            c = load.metric[i]
            if c == 0:
                continue
            s1, s2 = self.s1[i], self.s2[i]
            before = s2 - s1 * s1 / n
            if src in self.in_balance and self.cap[src][i] > 0:
                p = self.pct(src, i)
                d = 100.0 * c / self.cap[src][i]
                q = p - d
                s1 += q - p
                s2 += q * q - p * p
                size += w * d / 2
            if dst in self.in_balance and self.cap[dst][i] > 0:
                p = self.pct(dst, i)
                d = 100.0 * c / self.cap[dst][i]
                q = p + d
                s1 += q - p
                s2 += q * q - p * p
                size += w * d / 2
            total += w * (before - (s2 - s1 * s1 / n))
        return total, size

    def gain(self, load: GuestLoad, src: str, dst: str) -> tuple[float, float]:
        """(gain in pp, move size in pp); see the module docstring."""
        drop, size = self.objective_drop(load, src, dst)
        return (drop / (2.0 * size) if size > 0 else 0.0), size

    # --- mutation -------------------------------------------------------------------------------
    def _shift(self, node: str, load: GuestLoad, sign: int) -> None:
        inb = node in self.in_balance
        vec = self.load[node]
        for i in range(3):
            if inb:
                p = self.pct(node, i)
            vec[i] += sign * load.metric[i]
            if inb:
                q = self.pct(node, i)
                self.s1[i] += q - p
                self.s2[i] += q * q - p * p
        self.used_mem[node] += sign * load.used_mem
        self.vcpu[node] += sign * load.vcpu_milli
        self.assigned[node] += sign * load.assigned_mem
        self.disk[node] += sign * load.disk

    def move(self, vmid: VmId, dst: str) -> None:
        src = self.placement[vmid]
        if src == dst:
            return
        load = self.gload[vmid]
        self._shift(src, load, -1)
        self._shift(dst, load, +1)
        self.placement[vmid] = dst
        if self._anti_on is not None:
            for rule in self.problem.index.anti.get(vmid, ()):
                by_node = self._anti_on[rule]
                by_node[src].discard(vmid)
                by_node.setdefault(dst, set()).add(vmid)

    def trial(self) -> Trial:
        """Start what-if moves on this very state that `Trial.rollback` undoes exactly (the touched
        nodes' figures and the sums are restored bit for bit, not recomputed): O(moves), where a
        `clone()` per candidate would be O(guests)."""
        return Trial(self)

    def percentages(self) -> dict[str, dict[str, float]]:
        """Per balance node: load % per resource and the weighted score (for Plan.metrics_*)."""
        out: dict[str, dict[str, float]] = {}
        for n in self.balance:
            row = {r: round(self.pct(n, i), 2) for i, r in enumerate(RESOURCES)}
            row["score"] = round(self.score(n), 2)
            out[n] = row
        return out


class Trial:
    """An undo log over a LoadState: `move` like LoadState.move, `rollback` restores the state."""

    __slots__ = ("_nodes", "_placement", "_s1", "_s2", "_state")

    def __init__(self, state: LoadState) -> None:
        self._state = state
        self._s1, self._s2 = list(state.s1), list(state.s2)
        self._nodes: dict[str, tuple[list[float], int, int, int, int]] = {}
        self._placement: dict[VmId, str] = {}

    def _save(self, node: str) -> None:
        st = self._state
        if node not in self._nodes:
            self._nodes[node] = (
                list(st.load[node]),
                st.used_mem[node],
                st.vcpu[node],
                st.assigned[node],
                st.disk[node],
            )

    def move(self, vmid: VmId, dst: str) -> None:
        st = self._state
        src = st.placement[vmid]
        if src == dst:
            return
        self._save(src)
        self._save(dst)
        self._placement.setdefault(vmid, src)
        st.move(vmid, dst)

    def rollback(self) -> None:
        st = self._state
        for vmid, node in self._placement.items():
            now = st.placement[vmid]
            st.placement[vmid] = node
            if st._anti_on is not None and now != node:
                for rule in st.problem.index.anti.get(vmid, ()):
                    st._anti_on[rule][now].discard(vmid)
                    st._anti_on[rule].setdefault(node, set()).add(vmid)
        for node, (load, used, vcpu, assigned, disk) in self._nodes.items():
            st.load[node] = load
            st.used_mem[node] = used
            st.vcpu[node] = vcpu
            st.assigned[node] = assigned
            st.disk[node] = disk
        st.s1, st.s2 = self._s1, self._s2
        self._nodes, self._placement = {}, {}
        self._s1, self._s2 = list(st.s1), list(st.s2)


def to_gib(value: float) -> float:
    return value / GIB
