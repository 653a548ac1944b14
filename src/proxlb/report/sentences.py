"""The one renderer of decision records into words: every sentence about a plan's decisions.

Text summary, HTML report, JSON, `explain`, `best-node` and the log lines all take their wording
from here; the planners produce only records (`Decision`, `Cause`, `Stop`, `Rejection`,
`StopCause`, `UnmetRule`, `Migration`). Pure: no I/O.

Invariants: the sentences are those ProxLB has always printed ("moves pve1 → pve3 (balance): …",
"stays: in cooldown until …", "stays, although … is unmet: …"), so JSON and scripts reading them
see no change; `cause_doc` is the structured form JSON adds beside each sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from proxlb.domain.decision import Cause, CauseKind, Decision, Rejection, Verdict
from proxlb.domain.model import ClusterSnapshot
from proxlb.domain.plan import Migration, Plan, StopCause, UnmetRule
from proxlb.planning.best_node import BestNodeAnswer, NodeVerdict


def cause_text(cause: Cause) -> str:
    """Why a guest stays or is held, after "stays: " (the human part of one cause)."""
    if cause.kind is CauseKind.CHECK and cause.target is not None:
        return f"best target {cause.target} rejected ({cause.name}: {cause.detail})"
    return cause.detail


def decision_sentence(decision: Decision) -> str:
    """One line per guest: 'moves A → B (reason): detail' or 'stays: why'."""
    d = decision
    if d.verdict in (Verdict.MOVES, Verdict.PARKED):
        reason = d.reason.value if d.reason is not None else ""
        return f"moves {d.source} → {d.target} ({reason}): {d.detail}"
    if d.cause is None:
        return "stays"
    if d.cause.kind is CauseKind.UNMET:
        return f"stays, {stays_reason(d)}"
    return f"stays: {stays_reason(d)}"


def stays_reason(decision: Decision) -> str:
    """Why a guest that does not move stays (the sentence after 'stays')."""
    c = decision.cause
    if c is None:
        return ""
    if c.kind is CauseKind.UNMET:
        return f"although {c.name} is unmet: {c.detail}"
    return cause_text(c)


def cause_doc(decision: Decision) -> dict[str, Any]:
    """The structured cause for JSON: verdict, kind, name, numbers with units, target, blocked-by."""
    c = decision.cause
    doc: dict[str, Any] = {"verdict": decision.verdict.value}
    if decision.reason is not None:
        doc["reason"] = decision.reason.value
    if decision.target is not None:
        doc["target"] = decision.target
    if c is not None:
        doc.update({"kind": c.kind.value, "name": c.name, "detail": c.detail})
        if c.numbers:
            doc["numbers"] = [{"name": q.name, "value": round(q.value, 3), "unit": q.unit} for q in c.numbers]
        if c.target is not None:
            doc["rejected_target"] = c.target
    if decision.blocked_by:
        doc["blocked_by"] = [int(v) for v in decision.blocked_by]
    return doc


def rejection_text(rejection: Rejection) -> str:
    """'check: detail' (explain's candidate lines and best-node's verdicts)."""
    return f"{rejection.check}: {rejection.detail}"


def stop_summary(causes: Iterable[StopCause]) -> str:
    """'cpu-overcommit (12 guests), cooldown (3 guests)' — the summary, logs and HTML heading."""
    return ", ".join(f"{c.rule} ({c.guests} guest{'s' if c.guests != 1 else ''})" for c in causes)


def unmet_sentence(unmet: UnmetRule) -> str:
    return f"{unmet.rule}: {unmet.why}"


def move_line(m: Migration) -> str:
    """A planned move for the log: 'qemu 101 (web1) pve1 → pve2 [balance] detail'."""
    return f"{m.kind.value} {m.vmid} ({m.name}) {m.source} → {m.target} [{m.reason.value}] {m.detail}"


def move_inputs_line(snapshot: ClusterSnapshot, m: Migration) -> str:
    """What the planner knew about a move (sizes, nodes, rules; never a secret), for DEBUG logs."""
    g = snapshot.guest(m.vmid)
    size = (
        f"mem used {g.usage.mem_bytes} of {g.allocated.mem_bytes} B, cpu {g.usage.cpu_milli / 1000:.2f} "
        f"of {g.allocated.cpu_milli / 1000:.0f} vCPU, local disks {g.local_disk_bytes} B, tags "
        f"{','.join(g.tags) or '-'}, pool {g.pool or '-'}, status {g.status}"
        if g is not None
        else "guest not in snapshot"
    )
    return (
        f"{m.kind.value} {m.vmid} {m.source} → {m.target} step {m.step + 1} after "
        f"{','.join(map(str, m.depends_on)) or 'nothing'}; {size}; copies {m.bytes_to_copy} B; "
        f"imbalance {m.imbalance_before:.3f} → {m.imbalance_after:.3f}; HA-managed {m.ha_managed}"
    )


def plan_lines(plan: Plan) -> list[tuple[str, str]]:
    """The log lines of a final plan, as (kind, message): summary, warnings, stop causes, moves.

    Kinds: "plan" (what the CLI's plan table also shows: the summary and each move), "info" (the
    stop cause), "warning". The caller picks the log level of "plan" lines."""
    trig = f" ({plan.trigger_reason})" if plan.trigger_reason else ""
    out = [
        (
            "plan",
            f"plan: {len(plan.migrations)} migration(s); imbalance {plan.imbalance_before:.1f} → "
            f"{plan.imbalance_after:.1f}{trig}",
        )
    ]
    out += [("warning", f"plan: {w}") for w in plan.warnings]
    if plan.stopped_by:
        out.append(("info", f"plan stopped above balanciness, held back by: {stop_summary(plan.stopped_by)}"))
    out += [("plan", f"planned: {move_line(m)}") for m in plan.migrations]
    return out


def stays_groups(plan: Plan) -> list[tuple[str, list[int]]]:
    """Guests that do not move, grouped by their cause's wording, most common first (HTML report)."""
    groups: dict[str, list[int]] = {}
    for vmid, d in sorted(plan.decisions.items()):
        if d.moves:
            continue
        groups.setdefault(stays_reason(d), []).append(int(vmid))
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))


def node_verdict_text(v: NodeVerdict) -> str:
    """best-node's verdict on one node: 'ok', 'ok (but check: detail)' or 'check: detail'."""
    if v.rejection is not None:
        return rejection_text(v.rejection)
    if v.soft is not None:
        return f"ok (but {rejection_text(v.soft)})"
    return "ok"


def best_node_reason(answer: BestNodeAnswer) -> str:
    """Why this node (or why none): 'pve2: lowest load after placement (41.0 %)'."""
    if answer.node is None:
        why = "; ".join(f"{v.node}: {node_verdict_text(v)}" for v in answer.ranking[:4]) or "no nodes"
        return f"no node can take this guest ({why})"
    reason = f"{answer.node}: lowest load after placement ({answer.load_after:.1f} %)"
    return reason + ("; " + "; ".join(answer.notes) if answer.notes else "")


def best_node_doc(answer: BestNodeAnswer, after_plan: bool) -> dict[str, Any]:
    """`best-node --json`: node, reason, and each node's load after placement and verdict."""
    return {
        "node": answer.node,
        "reason": best_node_reason(answer),
        "after_plan": after_plan,
        "ranking": [
            {"node": v.node, "load_after": v.load_after, "verdict": node_verdict_text(v)}
            for v in answer.ranking
        ],
    }
