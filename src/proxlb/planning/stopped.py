"""Why a plan stopped above `balanciness`: the rules and caps that held guests back. Pure.

Counted per rule, over the guests that could have eased the balance — those on nodes loaded above
the cluster's mean once the plan is done (the would-be sources):

- a check that rejected a guest's best balancing move (cpu-overcommit, memory, anti-affinity …),
  as the greedy planner recorded it (`Draft.blocked`);
- `min_improvement`: moves that would gain too little for their cost;
- `cooldown`: guests moved within `cooldown_minutes`;
- why a guest may not move at all (excluded, local devices, locked, type not balanced …);
- and the stop itself when it was a limit (`max_migrations`, the PSI window).

When a gate stopped balancing before it could start (every node below its threshold:
`<resource>_threshold`), that gate is the one cause: the rules above never got a say.
Empty when the plan ends at or below `balanciness` (or balancing was never wanted).
Every cause comes from a typed record (`Cause`, `Stop`); no sentence is read back.
"""

from __future__ import annotations

from proxlb.domain.decision import Cause, CauseKind, Stop
from proxlb.domain.model import VmId
from proxlb.domain.plan import StopCause
from proxlb.planning.draft import Draft
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem

GATES = ("thresholds",)  # plus every `<resource>_threshold`


def _is_gate(stop: Stop) -> bool:
    return stop.name in GATES or stop.name.endswith("_threshold")


def _example(vmid: VmId, cause: Cause) -> str:
    """The example sentence of a stop cause (one guest it held back)."""
    if cause.kind is CauseKind.CHECK:
        return f"guest {vmid} → {cause.target}: {cause.detail}"
    if cause.name == "min_improvement":
        return f"guest {vmid} would gain {cause.number('gain') or 0.0:.1f} pp at best"
    return f"guest {vmid}: {cause.detail}"


def stop_causes(
    problem: PlanningProblem, draft: Draft, after: LoadState, stop: Stop
) -> tuple[StopCause, ...]:
    """The rules and caps that kept `after` above balanciness, most guests first."""
    pol = problem.policy
    if after.spread() <= pol.balanciness or len(after.balance) < 2:
        return ()
    scores = {n: after.score(n) for n in after.balance}
    mean = sum(scores.values()) / len(scores)
    heavy = {n for n, s in scores.items() if s > mean}
    if _is_gate(stop):
        movable = [
            g.vmid
            for g in problem.snapshot.guests
            if after.placement.get(g.vmid) in heavy
            and g.vmid not in draft.fixed
            and g.vmid not in draft.by_vmid
        ]
        return (StopCause(stop.name, len(movable), stop.detail),)
    found: dict[str, list[tuple[VmId, str]]] = {}

    def note(rule: str, vmid: VmId, sentence: str) -> None:
        if after.placement.get(vmid) in heavy and vmid not in draft.by_vmid:
            found.setdefault(rule, []).append((vmid, sentence))

    for vmid, cause in sorted(draft.blocked.items()):
        note(cause.name, vmid, _example(vmid, cause))
    limit = pol.cooldown_seconds
    for vmid, when in sorted(problem.recently_moved.items()):
        if limit > 0 and problem.now - when < limit:
            note("cooldown", vmid, f"guest {vmid} moved within cooldown_minutes {pol.cooldown_minutes:g}")
    for vmid, fixed in sorted(draft.fixed.items()):
        guest = problem.snapshot.guest(vmid)
        if guest is not None and not guest.template:
            note(fixed.name, vmid, _example(vmid, fixed))
    causes = [StopCause(rule, len(items), items[0][1]) for rule, items in found.items()]
    if stop.name in ("max_migrations", "psi_window_minutes"):
        held = {v for items in found.values() for v, _ in items}
        free = [
            g.vmid
            for g in problem.snapshot.guests
            if after.placement.get(g.vmid) in heavy
            and g.vmid not in held
            and g.vmid not in draft.fixed
            and g.vmid not in draft.by_vmid
        ]
        causes.append(StopCause(stop.name, len(free), stop.detail))
    return tuple(sorted(causes, key=lambda c: (-c.guests, c.rule)))
