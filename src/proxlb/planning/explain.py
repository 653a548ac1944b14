"""Why a guest moves or stays: a multi-line, human explanation built from a plan. Pure.

Invariants: read-only over the plan and the problem; candidate verdicts are evaluated on the state
BEFORE the plan with the same checks the planners use, so "rejected by memory" here is the very
sentence a planner would have seen.
"""

from __future__ import annotations

from proxlb.domain.model import VmId
from proxlb.domain.plan import MigrationReason, Plan
from proxlb.domain.resources import GIB
from proxlb.planning.checks import Move, all_verdicts
from proxlb.planning.failover import recovered
from proxlb.planning.headroom import guard_for, report_of
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem, fixed_reason


def _rules(problem: PlanningProblem, vmid: VmId) -> list[str]:
    idx = problem.index
    out: list[str] = []
    if vmid in idx.excluded:
        out.append(f"excluded: {idx.excluded[vmid]}")
    for pin in idx.pin_rules.get(vmid, ()):
        prio = ", ".join(f"{n}:{p}" for n, p in pin.priorities)
        kind = "strict" if pin.strict else "preferred"
        out.append(
            f"{kind} pin {pin.source} → {', '.join(sorted(pin.nodes))}"
            + (f" (priorities {prio})" if prio else "")
        )
    for rule in idx.anti.get(vmid, ()):
        others = ", ".join(str(m) for m in sorted(rule.members) if m != vmid)
        out.append(f"{'strict' if rule.strict else 'soft'} anti-affinity {rule.source} with {others}")
    for arule in idx.affinity.get(vmid, ()):
        others = ", ".join(str(m) for m in sorted(arule.members) if m != vmid)
        out.append(f"{'strict' if arule.strict else 'soft'} affinity {arule.source} with {others}")
    return out


def _failover_lines(problem: PlanningProblem, vmid: VmId, node: str) -> list[str]:
    """With `failover_headroom` on: where PVE HA would restart this guest if its node failed now."""
    guest = problem.snapshot.guest(vmid)
    if problem.policy.failover.mode == "off" or guest is None:
        return []
    if not recovered(guest):
        return [f"  failover: if {node} fails, this guest stays down (not an HA resource PVE restarts)"]
    outcome = report_of(problem, LoadState.of(problem)).failure(node)
    restart = next((r for r in outcome.restarts if r.vmid == vmid), None) if outcome else None
    if restart is None or restart.target is None:
        return [f"  failover: if {node} fails, PVE HA finds no node for it"]
    room = "fits" if restart.fits else "does NOT fit (no memory left)"
    return [f"  failover: if {node} fails, PVE HA restarts it on {restart.target}, where it {room}"]


def explain_guest(plan: Plan, problem: PlanningProblem, vmid: int) -> str:
    """Where the guest is, which rules touch it, what each node would say, and the decision."""
    guest = problem.snapshot.guest(vmid)
    if guest is None:
        return f"guest {vmid} is not in the snapshot"
    vid = guest.vmid
    a, u = guest.allocated, guest.usage
    lines = [
        f"guest {vid} ({guest.name}, {guest.kind.value}, {guest.status}) on {guest.node}",
        f"  size: {a.mem_bytes / GIB:.1f} GiB memory ({u.mem_bytes / GIB:.1f} GiB used), "
        f"{a.cpu_milli / 1000:g} vCPUs ({u.cpu_milli / 1000:.2f} cores used), "
        f"{guest.local_disk_bytes / GIB:.1f} GiB local disk",
    ]
    rules = _rules(problem, vid)
    lines.append("  rules: " + ("; ".join(rules) if rules else "none"))
    fixed = fixed_reason(problem, guest)
    if fixed:
        lines.append(f"  cannot move: {fixed}")
    legs = [m for m in plan.migrations if m.vmid == vid]
    for m in legs:
        deps = f", after {', '.join(map(str, m.depends_on))}" if m.depends_on else ""
        lines.append(
            f"  migration: step {m.step + 1}: {m.source} → {m.target} ({m.reason.value}{deps}); {m.detail}; "
            f"spread {m.imbalance_before:.1f} → {m.imbalance_after:.1f} pp"
        )
    if not fixed:
        state = LoadState.of(problem)
        members = problem.index.members_of(vid)
        unit = tuple(v for v in members if state.placement.get(v) == guest.node)
        if len(unit) > 1:
            lines.append(f"  moves together with: {', '.join(str(v) for v in unit if v != vid)}")
        reason = MigrationReason.DRAIN if guest.node in problem.index.drained else MigrationReason.BALANCE
        guard = guard_for(problem, state) if reason is MigrationReason.BALANCE else None
        lines.append("  candidate nodes (before the plan):")
        for node in problem.snapshot.node_names:
            if node == guest.node:
                lines.append(
                    f"    {node}: current node, load {state.score(node):.1f} %"
                    if node in state.in_balance
                    else f"    {node}: current node"
                )
                continue
            verdicts = all_verdicts(state, Move.of(state, unit, node, reason))
            veto = guard.veto(Move.of(state, unit, node, reason)) if guard and not verdicts else None
            if veto is not None:
                verdicts = [("failover-headroom", veto)]
            if verdicts:
                lines.append(f"    {node}: rejected by {verdicts[0][0]}: {verdicts[0][1]}")
            else:
                gain, _ = state.gain(Move.of(state, unit, node, reason).load, guest.node, node)
                lines.append(
                    f"    {node}: allowed, load {state.score(node):.1f} %, balance gain {gain:.1f} pp"
                )
    lines.extend(_failover_lines(problem, guest.vmid, guest.node))
    lines.append(f"  decision: {plan.decisions.get(vid, 'not planned')}")
    for un in plan.unmet:
        if str(vid) in un.why or str(vid) in un.rule:
            lines.append(f"  unmet: {un.rule}: {un.why}")
    return "\n".join(lines)
