"""`proxlb explain VMID`: the multi-line explanation of one guest, in words. Pure.

The facts come from the cycle's plan and its one planning problem (planning/explain.py computes
the candidate verdicts with the planners' own checks); the decision line is the plan's record,
rendered by proxlb.report.sentences like everywhere else.
"""

from __future__ import annotations

from proxlb.domain.model import VmId
from proxlb.domain.plan import Plan
from proxlb.domain.resources import GIB
from proxlb.planning.explain import FailoverView, candidates, failover_of, unit_of, unmet_of
from proxlb.planning.problem import PlanningProblem, fixed_reason
from proxlb.report.sentences import decision_sentence, rejection_text


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


def _failover_lines(view: FailoverView | None) -> list[str]:
    if view is None:
        return []
    node = view.node
    if not view.restarted:
        return [f"  failover: if {node} fails, this guest stays down (not an HA resource PVE restarts)"]
    if view.target is None:
        return [f"  failover: if {node} fails, PVE HA finds no node for it"]
    room = "fits" if view.fits else "does NOT fit (no memory left)"
    return [f"  failover: if {node} fails, PVE HA restarts it on {view.target}, where it {room}"]


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
        lines.append(f"  cannot move: {fixed.detail}")
    for m in (m for m in plan.migrations if m.vmid == vid):
        deps = f", after {', '.join(map(str, m.depends_on))}" if m.depends_on else ""
        lines.append(
            f"  migration: step {m.step + 1}: {m.source} → {m.target} ({m.reason.value}{deps}); {m.detail}; "
            f"spread {m.imbalance_before:.1f} → {m.imbalance_after:.1f} pp"
        )
    if not fixed:
        unit = unit_of(problem, guest)
        if len(unit) > 1:
            lines.append(f"  moves together with: {', '.join(str(v) for v in unit if v != vid)}")
        lines.append("  candidate nodes (before the plan):")
        for c in candidates(problem, guest):
            if c.current:
                where = f", load {c.load:.1f} %" if c.load is not None else ""
                lines.append(f"    {c.node}: current node{where}")
            elif c.rejection is not None:
                lines.append(f"    {c.node}: rejected by {rejection_text(c.rejection)}")
            else:
                lines.append(
                    f"    {c.node}: allowed, load {c.load or 0.0:.1f} %, balance gain {c.gain:.1f} pp"
                )
    lines.extend(_failover_lines(failover_of(problem, guest)))
    decision = plan.decisions.get(vid)
    lines.append(f"  decision: {decision_sentence(decision) if decision else 'not planned'}")
    for un in unmet_of(plan, vid):
        lines.append(f"  unmet: {un.rule}: {un.why}")
    return "\n".join(lines)
