"""When to plan: the balance trigger (gates + spread), PSI heat, and rule violations. Pure.

Invariants:
- Thresholds are gates: while every balanced node is below the threshold of every balanced
  resource that has one, nothing moves for balance. Otherwise spread > balanciness triggers.
- Hysteresis: once triggered, the planners continue until the spread is at most
  `balanciness × HYSTERESIS` (half of it). Metrics drift between cycles, so a plan that stopped
  just under `balanciness` would be re-triggered by noise alone; ending well below it means
  re-planning after a plan finds nothing to do (no ping-pong).
- Drains and hard-rule violations always trigger repair moves; soft-rule violations only when
  `enforce_affinity` / `enforce_pinning` ask for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proxlb.domain.decision import NO_STOP, Stop
from proxlb.domain.model import PressureSet, VmId
from proxlb.planning.metrics import LoadState
from proxlb.planning.policy import RESOURCES, Mode, PsiLimit
from proxlb.planning.problem import PlanningProblem


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule broken by the current placement. kind: drain | pin | anti-affinity | affinity."""

    kind: str
    rule: str
    vmids: tuple[VmId, ...]
    strict: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Trigger:
    """The cycle's trigger, computed once per problem (`should_rebalance`) and handed to every planner.

    balance: balancing is wanted; repairs: the violations this run must repair; reason: the
    sentence for the plan (`Plan.trigger_reason`); stop: why balancing is not wanted, typed (the
    plan's stop cause when nothing balances); violations: every rule the starting placement
    breaks (planners start from these instead of recomputing them).
    """

    balance: bool
    repairs: tuple[Violation, ...]
    reason: str
    hot_nodes: tuple[str, ...] = ()
    hot_guests: tuple[VmId, ...] = ()
    psi_fallback: bool = False
    stop: Stop = NO_STOP
    violations: tuple[Violation, ...] = ()

    @property
    def triggered(self) -> bool:
        return self.balance or bool(self.repairs)


HYSTERESIS = 0.5  # once balancing, plan down to this fraction of `balanciness`


def balance_wanted(state: LoadState, starting: bool = False, slack: float = 0.0) -> tuple[bool, Stop]:
    """Gate + spread on the current what-if state: (should balancing start / continue, why).

    starting: the cycle's trigger (spread > balanciness); otherwise the planners' continue rule
    (spread > balanciness × HYSTERESIS + slack). Replaying last cycle's moves uses a negative
    slack (the noise band): noise around the target does not drop the plan's last small move.
    The `Stop` names the gate that decided: `nodes`, `<resource>_threshold` (or `thresholds` when
    several resources are gated) or `balanciness`.
    """
    pol = state.problem.policy
    if len(state.balance) < 2:
        return False, Stop("nodes", "fewer than two nodes can take guests")
    gated = [(i, pol.threshold(RESOURCES[i])) for i, _ in state.active]
    gates = [(i, t) for i, t in gated if t is not None]
    if gates:
        over = [
            f"{n} {RESOURCES[i]} {state.pct(n, i):.1f} % ≥ {t:g} %"
            for i, t in gates
            for n in state.balance
            if state.pct(n, i) >= t
        ]
        if not over:
            name = f"{RESOURCES[gates[0][0]]}_threshold" if len(gates) == 1 else "thresholds"
            peaks = [(RESOURCES[i], t, max(state.pct(n, i) for n in state.balance)) for i, t in gates]
            highest = ", ".join(f"{r}_threshold {t:g} %, highest {p:.1f} %" for r, t, p in peaks)
            return False, Stop(name, f"every node is below its threshold ({highest})")
    spread = state.spread()
    if starting:
        if spread > pol.balanciness:
            return True, Stop("balanciness", f"spread {spread:.1f} pp > balanciness {pol.balanciness:g}")
        return False, Stop("balanciness", f"spread {spread:.1f} pp ≤ balanciness {pol.balanciness:g}")
    target = pol.balanciness * HYSTERESIS
    if spread > target + slack:
        return True, Stop("balanciness", f"spread {spread:.1f} pp > target {target:g} (half of balanciness)")
    return False, Stop(
        "balanciness", f"spread {spread:.1f} pp ≤ target {target:g} (half of balanciness {pol.balanciness:g})"
    )


def _hot(pressure: PressureSet, limits: Mapping[str, PsiLimit], resources: tuple[str, ...]) -> str | None:
    for r in resources:
        lim = limits.get(r)
        if lim is None:
            continue
        p = pressure.of(r)
        if (
            p.full >= lim.pressure_full and p.some >= lim.pressure_some
        ) or p.full_spike >= lim.pressure_spikes:
            return f"{r} pressure some {p.some:.1f} % / full {p.full:.1f} % / spike {p.full_spike:.1f} %"
    return None


def psi_heat(problem: PlanningProblem) -> tuple[dict[str, str], dict[VmId, str], bool]:
    """Hot balance nodes and hot guests (with a sentence each); third item: PSI unavailable."""
    snap, idx = problem.snapshot, problem.index
    nodes = [snap.node(n) for n in idx.balance_nodes]
    if any(n is None or not n.pressure.known for n in nodes):
        return {}, {}, True
    active = tuple(problem.policy.resource_weights())
    hot_nodes = {
        n.name: why for n in nodes if n and (why := _hot(n.pressure, problem.policy.psi_nodes, active))
    }
    hot_guests = {
        g.vmid: why
        for g in snap.guests
        if g.vmid not in idx.excluded
        and g.pressure.known
        and (why := _hot(g.pressure, problem.policy.psi_guests, active))
    }
    return hot_nodes, hot_guests, False


def violations(problem: PlanningProblem, placement: Mapping[VmId, str]) -> list[Violation]:
    """Every rule the placement breaks, drains first, then pins, anti-affinity, affinity."""
    idx = problem.index
    out: list[Violation] = []
    for node, why in idx.drained.items():
        on = tuple(sorted(v for v, n in placement.items() if n == node))
        if on:
            out.append(
                Violation("drain", f"drain of {node} ({why})", on, True, f"{len(on)} guest(s) on {node}")
            )
    for vmid in sorted(idx.pin_rules):
        at = placement.get(vmid)
        if at is None:
            continue
        for pin in idx.pin_rules[vmid]:
            if at not in pin.nodes:
                kind = "pinned" if pin.strict else "prefers"
                detail = f"guest {vmid} runs on {at}, {kind} {sorted(pin.nodes)}"
                out.append(Violation("pin", f"pin {pin.source}", (vmid,), pin.strict, detail))
    for rule in sorted(problem.constraints.anti_affinities, key=lambda r: r.group):
        by_node: dict[str, list[VmId]] = {}
        for vmid in sorted(rule.members):
            if vmid in placement:
                by_node.setdefault(placement[vmid], []).append(vmid)
        for node, members in sorted(by_node.items()):
            if len(members) > 1:
                detail = f"guests {', '.join(map(str, members))} share {node}"
                out.append(
                    Violation(
                        "anti-affinity", f"anti-affinity {rule.source}", tuple(members), rule.strict, detail
                    )
                )
    for prule in sorted(problem.constraints.affinities, key=lambda r: r.group):
        nodes = sorted({placement[v] for v in prule.members if v in placement})
        if len(nodes) > 1:
            together = tuple(sorted(v for v in prule.members if v in placement))
            detail = f"members spread over {', '.join(nodes)}"
            out.append(Violation("affinity", f"affinity {prule.source}", together, prule.strict, detail))
    return out


def wanted_repairs(problem: PlanningProblem, found: list[Violation]) -> tuple[Violation, ...]:
    """Violations this run must try to repair (hard always; soft when enforce_* says so)."""
    pol, idx = problem.policy, problem.index
    keep = []
    for v in found:
        if v.kind == "anti-affinity" and not v.strict and len({idx.members_of(x) for x in v.vmids}) == 1:
            # guests that a strict keep-together binds into one unit: moving the unit cannot part
            # them, and re-routing it back and forth would only let loop parity pick the node
            continue
        if v.kind == "affinity" and not v.strict and idx.split.intersection(v.vmids):
            continue  # a keep-apart rule won over this keep-together (ProblemIndex.conflicts)
        if (
            v.strict
            or v.kind == "drain"
            or (v.kind == "pin" and pol.enforce_pinning)
            or (v.kind in ("affinity", "anti-affinity") and pol.enforce_affinity)
        ):
            keep.append(v)
    return tuple(keep)


def _repair_phrases(repairs: Sequence[Violation]) -> list[str]:
    """Plain words for what must be repaired: "1 node to empty (maintenance)", "2 broken rules
    (anti-affinity)" — one count per kind of work, not a count of internal repair steps."""
    drains = [v for v in repairs if v.kind == "drain"]
    rules = [v for v in repairs if v.kind != "drain"]
    out = []
    if drains:
        out.append(f"{len(drains)} node{'s' if len(drains) > 1 else ''} to empty (maintenance)")
    if rules:
        kinds = ", ".join(sorted({v.kind for v in rules}))
        out.append(f"{len(rules)} broken rule{'s' if len(rules) > 1 else ''} ({kinds})")
    return out


def should_rebalance(problem: PlanningProblem, state: LoadState | None = None) -> Trigger:
    """Does this cycle need any move, and why. Computed once per problem (`plan_cycle`)."""
    state = state or LoadState.of(problem)
    found = tuple(violations(problem, state.placement))
    repairs = wanted_repairs(problem, list(found))
    parts = _repair_phrases(repairs)
    if problem.policy.mode is Mode.PSI:
        hot_nodes, hot_guests, unavailable = psi_heat(problem)
        if not unavailable:
            balance = bool(hot_nodes or hot_guests) and len(state.balance) >= 2
            why = (
                f"pressure: {len(hot_nodes)} hot node(s), {len(hot_guests)} hot guest(s)"
                if balance
                else "no node or guest under pressure"
            )
            parts.append(why)
            return Trigger(
                balance,
                repairs,
                "; ".join(parts),
                tuple(sorted(hot_nodes)),
                tuple(sorted(hot_guests)),
                stop=Stop("psi", why),
                violations=found,
            )
        balance, stop = balance_wanted(state, starting=True)
        parts.append(stop.detail)
        return Trigger(balance, repairs, "; ".join(parts), psi_fallback=True, stop=stop, violations=found)
    balance, stop = balance_wanted(state, starting=True)
    parts.append(stop.detail)
    return Trigger(balance, repairs, "; ".join(parts), stop=stop, violations=found)
