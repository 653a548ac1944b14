"""What the CP-SAT model needs, computed once per problem: units, their allowed nodes, costs and
penalties in the model's integer scale, the loads that do not move, and the per-node caps. Pure.

A unit is an affinity group that moves as one (a lone guest otherwise). Its `allowed` nodes always
include the node it starts on when all its members share one (staying is always possible, so the
model is never infeasible because of a cap or a rule): staying on a drained node or outside a
wanted pin costs `UNMET` per member instead. Balance-only units (no member drained or in a broken
wanted rule) keep greedy's cooldown and no-return rules.

Caps follow `validate` (so a model solution validates): real memory and local disk ≤ capacity −
reserve on a node that receives a guest (a node already over it accepts no newcomer); vCPUs ≤ cap ×
the highest ratio the cluster already had when `cpu_overcommit` is set; assigned memory in mode
`assigned`, or ≤ the highest fill the cluster already had with `overprovisioning: false` on a node
that receives a balancing move (validation's rule): a repair's or a drain's target alone is exempt,
as in greedy.

Scale: one model unit is 1/(nodes × 10⁶) pp² of J (planning/score.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proxlb.domain.model import VmId
from proxlb.domain.plan import UnmetRule
from proxlb.domain.resources import GIB
from proxlb.planning.eligibility import cooldown_until, fixed_reason, static_allowed
from proxlb.planning.metrics import LoadState
from proxlb.planning.policy import Mode
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.score import UNMET_PP2
from proxlb.planning.trigger import Trigger, should_rebalance

PP = 100  # load in the model: hundredths of a percentage point


@dataclass
class Unit:
    members: tuple[VmId, ...]
    start: tuple[str, ...]  # per member
    allowed: tuple[str, ...]
    cost: dict[str, int]  # node → model cost of ending there (moves + unmet penalties)
    repair: bool  # a move of it is a drain or a repair (caps that exempt repairs)
    raw: tuple[float, float, float]  # Σ members' load metric (bytes, milli-cores, bytes)
    used_mem: int = 0
    vcpu: int = 0
    assigned: int = 0
    disk: int = 0

    @property
    def home(self) -> str | None:
        return self.start[0] if len(set(self.start)) == 1 else None


@dataclass
class Prepared:
    problem: PlanningProblem
    state: LoadState
    nodes: tuple[str, ...]  # balance nodes
    units: list[Unit]
    unit_of: dict[VmId, int]
    wanted: bool
    scale: float  # model units per pp²
    unmet_cost: int
    broken: frozenset[VmId]
    anti: list[tuple[frozenset[VmId], int, bool]]  # (members, penalty per extra member, strict)
    base: dict[str, list[float]] = field(default_factory=dict)  # metric raw, per node, without units
    base_mem: dict[str, int] = field(default_factory=dict)
    base_vcpu: dict[str, int] = field(default_factory=dict)
    base_asg: dict[str, int] = field(default_factory=dict)
    base_disk: dict[str, int] = field(default_factory=dict)
    mem_cap: dict[str, int] = field(default_factory=dict)
    vcpu_cap: dict[str, int] = field(default_factory=dict)
    disk_cap: dict[str, int] = field(default_factory=dict)
    asg_cap: dict[str, int] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)  # over real memory/disk now: no newcomer
    unmet: list[UnmetRule] = field(default_factory=list)

    def pct_units(self, node: str, i: int, raw: float) -> int:
        cap = self.state.cap[node][i]
        return round(PP * 100.0 * raw / cap) if cap > 0 else 0


def _penalty(problem: PlanningProblem, members: tuple[VmId, ...], node: str) -> int:
    """Wanted rules broken per member when the unit ends on `node` (drain, pins)."""
    idx, pol = problem.index, problem.policy
    count = 0
    for m in members:
        if node in idx.drained:
            count += 1
        strict = idx.strict_pins.get(m)
        soft = idx.soft_pins.get(m)
        if (strict is not None and node not in strict) or (
            pol.enforce_pinning and soft is not None and node not in soft
        ):
            count += 1
    return count


def prepare(problem: PlanningProblem, trigger: Trigger | None = None) -> Prepared:
    """The model's inputs; `trigger`: the cycle's one trigger (computed here when absent) — the
    balance term counts only when it wants balancing (in PSI mode: pressure, not the spread)."""
    state = LoadState.of(problem)
    idx, pol = problem.index, problem.policy
    nodes = tuple(state.balance)
    trigger = trigger if trigger is not None else should_rebalance(problem, state)
    wanted = trigger.balance
    scale = max(1, len(nodes)) * 1e6
    unmet_cost = round(UNMET_PP2 * scale)
    broken = frozenset(v for viol in trigger.repairs for v in viol.vmids if viol.kind != "drain")
    cooling = frozenset(cooldown_until(problem))  # greedy's cooldown, PVE-balancer guests included
    pb = Prepared(problem, state, nodes, [], {}, wanted, scale, unmet_cost, broken, [])
    seen: set[VmId] = set()

    def plain(members: tuple[VmId, ...]) -> bool:  # no pin and no local storage: every node fits
        return not any(
            m in idx.strict_pins
            or m in idx.soft_pins
            or getattr(problem.snapshot.guest(m), "local_storages", None)
            for m in members
        )

    half = {  # per node and active resource: w × 50 / capacity (half a move's size per unit of load)
        n: [
            w * 50.0 / state.cap[n][i] if n in state.in_balance and state.cap[n][i] > 0 else 0.0
            for i, w in state.active
        ]
        for n in state.load
    }
    for g in problem.snapshot.guests:
        if g.vmid in seen:
            continue
        members = idx.members_of(g.vmid)
        seen.update(members)
        start = tuple(state.placement[m] for m in members)
        fixed = [m for m in members if fixed_reason(problem, problem.snapshot.guest(m)) is not None]  # type: ignore[arg-type]
        homes = set(start)
        balance_only = not any(s in idx.drained or m in broken for m, s in zip(members, start, strict=True))
        if fixed or (balance_only and len(homes) == 1 and any(m in cooling for m in members)):
            at = {state.placement[m] for m in fixed} or homes
            if len(at) > 1:
                pb.unmet.append(
                    UnmetRule(
                        f"affinity of guests {list(members)}",
                        "immovable members sit on several nodes",
                        "affinity",
                        tuple(members),
                    )
                )
            allowed = [sorted(at)[0]] if len(homes) > 1 and len(at) == 1 and not (at - set(nodes)) else []
            if not allowed:
                allowed = sorted(homes)[:1] if len(homes) == 1 else []
            if not allowed:  # split and held by members on several nodes: stays as it is
                pb.units.append(_unit(pb, members, start, (), balance_only, half))
                continue
        else:
            everywhere = plain(members)  # once per unit, not per node (1.9 M calls at 128 × 16 000)
            allowed = [n for n in nodes if everywhere or static_allowed(problem, state.placement, members, n)]
            if balance_only:
                left = frozenset().union(*(problem.recently_left.get(m, frozenset()) for m in members))
                allowed = [n for n in allowed if n in homes or n not in left]
            if len(homes) == 1 and start[0] not in allowed:
                allowed.append(start[0])  # staying is always possible (at a penalty when it breaks a rule)
            if not allowed:
                pb.unmet.append(
                    UnmetRule(
                        f"placement of guests {list(members)}",
                        "no node satisfies every hard rule",
                        "placement",
                        tuple(members),
                    )
                )
        pb.units.append(_unit(pb, members, start, tuple(allowed), balance_only, half))
    for u, unit in enumerate(pb.units):
        for m in unit.members:
            pb.unit_of[m] = u
    _bases(pb)
    _caps(pb)
    broken_rules = {v.rule for v in trigger.violations if v.kind == "anti-affinity"}
    for rule in problem.constraints.anti_affinities:
        holders = {pb.unit_of[m] for m in rule.members if m in pb.unit_of}
        if any(sum(1 for m in pb.units[u].members if m in rule.members) > 1 for u in holders):
            pb.unmet.append(
                UnmetRule(
                    f"anti-affinity {rule.source}",
                    "members are also bound together by affinity",
                    "anti-affinity",
                    tuple(sorted(rule.members)),
                )
            )
        enforced = rule.strict or pol.enforce_affinity
        if enforced or f"anti-affinity {rule.source}" not in broken_rules:
            pb.anti.append((rule.members, unmet_cost if enforced else unmet_cost // 100, rule.strict))
    return pb


def _unit(
    pb: Prepared,
    members: tuple[VmId, ...],
    start: tuple[str, ...],
    allowed: tuple[str, ...],
    balance_only: bool,
    half: dict[str, list[float]],
) -> Unit:
    """The unit with its cost per allowed node: Σ over members that leave their node of
    score.move_cost (2 × size × charge), computed from per-node factors, plus broken-rule penalties."""
    state, problem, pol = pb.state, pb.problem, pb.problem.policy
    cost: dict[str, int] = {}
    per_member = []
    for m, s in zip(members, start, strict=True):
        ld = state.gload[m]
        charge = 2.0 * (pol.min_improvement + pol.cost_per_gib * ld.copy_bytes / GIB)
        metric = [ld.metric[i] for i, _ in state.active]
        src = sum(c * f for c, f in zip(metric, half.get(s, ()), strict=False))
        per_member.append((s, charge, metric, src))
    rules = any(m in problem.index.strict_pins or m in problem.index.soft_pins for m in members)
    if len(per_member) == 1 and len(per_member[0][2]) == 1:  # a lone guest, one balanced resource
        s, charge, (c0,), src = per_member[0]
        scale = pb.scale  # the same arithmetic, in the same order, as the general case below
        cost = {n: 0 if n == s else round(charge * (src + c0 * half[n][0]) * scale) for n in allowed}
    else:
        for n in allowed:
            factors = half[n]
            pp2 = 0.0
            for s, charge, metric, src in per_member:
                if s != n:
                    pp2 += charge * (src + sum(c * f for c, f in zip(metric, factors, strict=True)))
            cost[n] = round(pp2 * pb.scale)
    if rules or any(n in problem.index.drained for n in allowed):
        for n in allowed:
            if rules or n in problem.index.drained:
                cost[n] += pb.unmet_cost * _penalty(problem, members, n)
    loads = [state.gload[m] for m in members]
    return Unit(
        members,
        start,
        allowed,
        cost,
        not balance_only,
        (
            sum(ld.metric[0] for ld in loads),
            sum(ld.metric[1] for ld in loads),
            sum(ld.metric[2] for ld in loads),
        ),
        used_mem=sum(ld.used_mem for ld in loads),
        vcpu=sum(ld.vcpu_milli for ld in loads),
        assigned=sum(ld.assigned_mem for ld in loads),
        disk=sum(ld.disk for ld in loads),
    )


def _bases(pb: Prepared) -> None:
    state = pb.state
    for n in state.load:
        pb.base[n] = list(state.load[n])
        pb.base_mem[n], pb.base_vcpu[n] = state.used_mem[n], state.vcpu[n]
        pb.base_asg[n], pb.base_disk[n] = state.assigned[n], state.disk[n]
    for unit in pb.units:
        for m, s in zip(unit.members, unit.start, strict=True):
            if s not in pb.base:
                continue
            ld = state.gload[m]
            for i in range(3):
                pb.base[s][i] -= ld.metric[i]
            pb.base_mem[s] -= ld.used_mem
            pb.base_vcpu[s] -= ld.vcpu_milli
            pb.base_asg[s] -= ld.assigned_mem
            pb.base_disk[s] -= ld.disk


def _caps(pb: Prepared) -> None:
    state, pol = pb.state, pb.problem.policy
    vcpu_ratio = max(
        (state.vcpu[n] / c for n, c in state.vcpu_cap.items() if 0 < c < float("inf")), default=1.0
    )
    asg_fill = max((state.assigned[n] / lim for n, lim in state.mem_limit.items() if lim > 0), default=1.0)
    for n in pb.nodes:
        pb.mem_cap[n] = state.mem_limit[n]
        if state.used_mem[n] > state.mem_limit[n] or 0 < state.disk_limit[n] < state.disk[n]:
            pb.closed.add(n)
        if pol.cpu_overcommit is not None:
            pb.vcpu_cap[n] = int(max(state.vcpu_cap[n], vcpu_ratio * state.vcpu_cap[n]))
        if state.disk_limit[n] > 0:
            pb.disk_cap[n] = state.disk_limit[n]
        if pol.mode is Mode.ASSIGNED:
            pb.asg_cap[n] = state.mem_limit[n]
            if state.assigned[n] > state.mem_limit[n]:
                pb.closed.add(n)
        elif not pol.overprovisioning:
            pb.asg_cap[n] = int(max(state.mem_limit[n], asg_fill * state.mem_limit[n]))
