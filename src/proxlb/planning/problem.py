"""The planning problem: snapshot + constraints + policy + history, with derived look-ups. Pure.

Invariants: built once per cycle and never mutated; every derived index is computed lazily and
deterministically (sorted by node name / vmid); `now` and `recently_moved` come from the caller,
never from a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from proxlb.domain.constraints import Affinity, AntiAffinity, ConstraintSet, NodePin, affinity_components
from proxlb.domain.decision import Cause, CauseKind
from proxlb.domain.model import ClusterSnapshot, Guest, VmId
from proxlb.planning.policy import Policy


@dataclass(frozen=True)
class PlanningProblem:
    """Everything one planning run needs. `recently_moved`: vmid → epoch seconds of its last move.

    last_move_at: when this cluster's latest successful balancing migration finished (PSI window).
    previous_moves: vmid → target of the moves the previous plan of this cluster chose (kept by
    the service), which this plan prefers while they stay about as good (plan stability).
    recently_left: vmid → nodes it left by a balancing move within the return window (the last
    `balancing.return_window_cycles` cycles or 2 × cooldown, whichever is longer); balancing (greedy,
    replay and CP-SAT) never moves it back there, so noisy metrics cannot make it ping-pong whatever
    `cooldown_minutes` is.
    """

    snapshot: ClusterSnapshot
    constraints: ConstraintSet
    policy: Policy = field(default_factory=Policy)
    recently_moved: Mapping[VmId, float] = field(default_factory=dict)
    now: float = 0.0
    last_move_at: float | None = None
    previous_moves: Mapping[VmId, str] = field(default_factory=dict)
    recently_left: Mapping[VmId, frozenset[str]] = field(default_factory=dict)

    @cached_property
    def index(self) -> ProblemIndex:
        return ProblemIndex.build(self)


@dataclass(frozen=True)
class ProblemIndex:
    """Look-ups derived from a problem (constraint membership, drains, fixed guests, units)."""

    drained: Mapping[str, str]  # node -> why it is drained
    online: frozenset[str]
    balance_nodes: tuple[str, ...]  # online, not drained: where load is measured and guests may go
    excluded: Mapping[VmId, str]
    strict_pins: Mapping[VmId, frozenset[str]]
    soft_pins: Mapping[VmId, frozenset[str]]
    priorities: Mapping[VmId, Mapping[str, int]]
    pin_rules: Mapping[VmId, tuple[NodePin, ...]]
    anti: Mapping[VmId, tuple[AntiAffinity, ...]]
    affinity: Mapping[VmId, tuple[Affinity, ...]]
    component: Mapping[VmId, tuple[VmId, ...]]  # affinity-connected guests (incl. itself), sorted
    conflicts: tuple[str, ...] = ()  # affinity units split because a keep-apart rule wins over them
    conflict_guests: tuple[tuple[VmId, ...], ...] = ()  # the guests of each conflict, in the same order
    split: frozenset[VmId] = frozenset()  # the guests of those units

    @staticmethod
    def build(problem: PlanningProblem) -> ProblemIndex:
        snap, cons = problem.snapshot, problem.constraints
        known = {g.vmid for g in snap.guests}
        drained = {d.node: d.reason for d in sorted(cons.drains, key=lambda d: d.node)}
        for node in snap.nodes:
            if node.ha_maintenance and node.name not in drained:
                drained[node.name] = "HA maintenance mode"
        online = frozenset(n.name for n in snap.nodes if n.online)
        balance_nodes = tuple(n for n in snap.node_names if n in online and n not in drained)
        excluded = {e.vmid: e.reason for e in sorted(cons.excludes, key=lambda e: e.vmid)}
        strict: dict[VmId, frozenset[str]] = {}
        soft: dict[VmId, frozenset[str]] = {}
        prio: dict[VmId, dict[str, int]] = {}
        pin_rules: dict[VmId, list[NodePin]] = {}
        for pin in cons.pins:
            if pin.vmid not in known:
                continue
            pin_rules.setdefault(pin.vmid, []).append(pin)
            target = strict if pin.strict else soft
            target[pin.vmid] = target[pin.vmid] & pin.nodes if pin.vmid in target else pin.nodes
            for pnode, value in pin.priorities:
                prio.setdefault(pin.vmid, {})[pnode] = max(value, prio.get(pin.vmid, {}).get(pnode, value))
        anti: dict[VmId, list[AntiAffinity]] = {}
        for arule in cons.anti_affinities:
            for vmid in arule.members:
                anti.setdefault(vmid, []).append(arule)
        aff: dict[VmId, list[Affinity]] = {}
        for rule in cons.affinities:
            for vmid in sorted(m for m in rule.members if m in known):
                aff.setdefault(vmid, []).append(rule)
        component: dict[VmId, tuple[VmId, ...]] = {}
        conflicts: list[str] = []
        conflict_guests: list[tuple[VmId, ...]] = []
        split: set[VmId] = set()
        for unit, groups in affinity_components(cons.affinities, known):
            members = sorted(unit)
            together_strict = any(a.strict for a in groups)
            clash = sorted(
                r.group
                for r in cons.anti_affinities
                if (r.strict or not together_strict) and len(r.members & frozenset(members)) > 1
            )
            if clash:
                # keep-together and keep-apart on the same guests cannot both hold: apart wins unless
                # only keep-together is strict, and each guest moves alone. Kept as one unit, a
                # keep-apart repair would re-route the whole unit back and forth, and the parity of
                # that loop, not the cluster, would decide where the guests go.
                conflicts.append(
                    f"guests {', '.join(map(str, members))} are bound together by affinity but "
                    f"{', '.join(clash)} keeps some of them apart; they are moved one by one"
                )
                conflict_guests.append(tuple(members))
                split.update(members)
                continue
            component.update({v: tuple(members) for v in members})
        return ProblemIndex(
            drained=drained,
            online=online,
            balance_nodes=balance_nodes,
            excluded=excluded,
            strict_pins=strict,
            soft_pins=soft,
            priorities=prio,
            pin_rules={k: tuple(v) for k, v in pin_rules.items()},
            anti={k: tuple(v) for k, v in anti.items()},
            affinity={k: tuple(v) for k, v in aff.items()},
            component=component,
            conflicts=tuple(conflicts),
            conflict_guests=tuple(conflict_guests),
            split=frozenset(split),
        )

    def members_of(self, vmid: VmId) -> tuple[VmId, ...]:
        return self.component.get(vmid, (vmid,))


def fixed_reason(problem: PlanningProblem, guest: Guest) -> Cause | None:
    """Why this guest may not be migrated at all (None = movable). Checked in this order.

    The cause's name is the rule or knob (`excluded`, `template`, `locked`, `balance_types`,
    `local devices`, `with_local_disks`, `node offline`), its detail the human part.
    """
    idx, pol = problem.index, problem.policy

    def rule(name: str, detail: str) -> Cause:
        return Cause(CauseKind.RULE, name, detail)

    if guest.vmid in idx.excluded:
        return rule("excluded", f"excluded: {idx.excluded[guest.vmid]}")
    if guest.template:
        return rule("template", "template")
    if guest.lock:
        return rule("locked", f"locked ({guest.lock})")
    if guest.kind.balance_type not in pol.balance_types:
        return rule("balance_types", f"type '{guest.kind.balance_type}' not in balance_types")
    if guest.local_devices:
        return rule("local devices", f"local devices ({', '.join(guest.local_devices)})")
    if guest.local_disk_bytes > 0 and not pol.with_local_disks:
        return rule("with_local_disks", "has local disks and with_local_disks is false")
    if guest.node not in idx.online:
        return rule("node offline", f"node {guest.node} is offline")
    return None
