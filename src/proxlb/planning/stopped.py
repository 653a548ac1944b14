"""Why a plan stopped above `balanciness`: the rules and caps that held guests back. Pure.

Counted per rule, over the guests that could have eased the balance — those on nodes loaded above
the cluster's mean once the plan is done (the would-be sources):

- a check that rejected a guest's best balancing move (cpu-overcommit, memory, anti-affinity …),
  as the greedy planner recorded it (`Draft.blocked`);
- `min_improvement`: moves that would gain too little for their cost;
- `cooldown`: guests moved within `cooldown_minutes`;
- why a guest may not move at all (excluded, local devices, locked, type not balanced …);
- and the stop itself when it was a limit (`max_migrations`, the PSI window).

Empty when the plan ends at or below `balanciness` (or balancing was never wanted).
"""

from __future__ import annotations

from proxlb.domain.model import VmId
from proxlb.domain.plan import StopCause
from proxlb.planning.draft import Draft
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem


def _fixed_rule(why: str) -> str:
    head = why.split(":", 1)[0].split("(", 1)[0].strip()
    if head.startswith("type "):
        return "balance_types"
    if head.startswith("has local disks"):
        return "with_local_disks"
    if head.startswith("node ") and head.endswith("offline"):
        return "node offline"
    return head


def stop_causes(problem: PlanningProblem, draft: Draft, after: LoadState, stop: str) -> tuple[StopCause, ...]:
    """The rules and caps that kept `after` above balanciness, most guests first."""
    pol = problem.policy
    if after.spread() <= pol.balanciness or len(after.balance) < 2:
        return ()
    scores = {n: after.score(n) for n in after.balance}
    mean = sum(scores.values()) / len(scores)
    heavy = {n for n, s in scores.items() if s > mean}
    found: dict[str, list[tuple[VmId, str]]] = {}

    def note(rule: str, vmid: VmId, sentence: str) -> None:
        if after.placement.get(vmid) in heavy and vmid not in draft.by_vmid:
            found.setdefault(rule, []).append((vmid, sentence))

    for vmid, (rule, sentence) in sorted(draft.blocked.items()):
        note(rule, vmid, sentence)
    limit = pol.cooldown_seconds
    for vmid, when in sorted(problem.recently_moved.items()):
        if limit > 0 and problem.now - when < limit:
            note("cooldown", vmid, f"guest {vmid} moved within cooldown_minutes {pol.cooldown_minutes:g}")
    for vmid, why in sorted(draft.fixed.items()):
        guest = problem.snapshot.guest(vmid)
        if guest is not None and not guest.template:
            note(_fixed_rule(why), vmid, f"guest {vmid}: {why}")
    causes = [StopCause(rule, len(items), items[0][1]) for rule, items in found.items()]
    for limit_name in ("max_migrations", "psi_window_minutes"):
        if limit_name in stop:
            held = {v for items in found.values() for v, _ in items}
            free = [
                g.vmid
                for g in problem.snapshot.guests
                if after.placement.get(g.vmid) in heavy
                and g.vmid not in held
                and g.vmid not in draft.fixed
                and g.vmid not in draft.by_vmid
            ]
            causes.append(StopCause(limit_name, len(free), stop))
    return tuple(sorted(causes, key=lambda c: (-c.guests, c.rule)))


def stopped_sentence(causes: tuple[StopCause, ...]) -> str:
    """One line for logs and the text summary: 'cpu-overcommit (12 guests), cooldown (3 guests)'."""
    return ", ".join(f"{c.rule} ({c.guests} guest{'s' if c.guests != 1 else ''})" for c in causes)
