"""What `explain` needs to know about one guest, as records: its unit, every node's verdict, and
where PVE HA would restart it. Pure.

Invariants: read-only over the plan and the problem; candidate verdicts are evaluated on the state
BEFORE the plan with the same checks the planners use (and, with failover headroom on, the same
guard), so "rejected by memory" here is the very rejection a planner would have seen. The words
are made by proxlb.report.explain.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxlb.domain.decision import Rejection
from proxlb.domain.model import Guest, VmId
from proxlb.domain.plan import MigrationReason, Plan, UnmetRule
from proxlb.planning.checks import Move, all_verdicts
from proxlb.planning.failover import recovered
from proxlb.planning.headroom import guard_for, report_of
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem


@dataclass(frozen=True, slots=True)
class Candidate:
    """One node judged as a target for the guest's unit, before the plan.

    load: the node's weighted load % (None when it takes no guests); rejection: the first check
    that says no (None: allowed); gain: the balance gain of the move in pp when allowed.
    """

    node: str
    current: bool
    load: float | None
    rejection: Rejection | None = None
    gain: float = 0.0


@dataclass(frozen=True, slots=True)
class FailoverView:
    """With failover headroom on: what PVE HA would do with this guest if its node failed now.

    restarted: it is an HA resource PVE restarts; target: where (None: no node found); fits: the
    target has the memory for it.
    """

    node: str
    restarted: bool
    target: str | None = None
    fits: bool = False


def unit_of(problem: PlanningProblem, guest: Guest) -> tuple[VmId, ...]:
    """The guest and the affinity partners that sit on its node (they move together)."""
    state = LoadState.of(problem)
    members = problem.index.members_of(guest.vmid)
    return tuple(v for v in members if state.placement.get(v) == guest.node)


def candidates(problem: PlanningProblem, guest: Guest) -> tuple[Candidate, ...]:
    """Every node of the snapshot as a target for the guest's unit, in node order."""
    state = LoadState.of(problem)
    unit = unit_of(problem, guest)
    reason = MigrationReason.DRAIN if guest.node in problem.index.drained else MigrationReason.BALANCE
    guard = guard_for(problem, state) if reason is MigrationReason.BALANCE else None
    out: list[Candidate] = []
    for node in problem.snapshot.node_names:
        load = state.score(node) if node in state.in_balance else None
        if node == guest.node:
            out.append(Candidate(node, True, load))
            continue
        mv = Move.of(state, unit, node, reason)
        verdicts = all_verdicts(state, mv)
        veto = guard.veto(mv) if guard and not verdicts else None
        if veto is not None:
            verdicts = [Rejection("failover-headroom", veto)]
        if verdicts:
            out.append(Candidate(node, False, load, verdicts[0]))
        else:
            gain, _ = state.gain(mv.load, guest.node, node)
            out.append(Candidate(node, False, state.score(node), None, gain))
    return tuple(out)


def failover_of(problem: PlanningProblem, guest: Guest) -> FailoverView | None:
    """Where PVE HA would restart the guest if its node failed now (None: failover headroom off)."""
    if problem.policy.failover.mode == "off":
        return None
    if not recovered(guest):
        return FailoverView(guest.node, False)
    outcome = report_of(problem, LoadState.of(problem)).failure(guest.node)
    restart = next((r for r in outcome.restarts if r.vmid == guest.vmid), None) if outcome else None
    if restart is None or restart.target is None:
        return FailoverView(guest.node, True)
    return FailoverView(guest.node, True, restart.target, restart.fits)


def unmet_of(plan: Plan, vmid: int) -> tuple[UnmetRule, ...]:
    """The unmet rules that concern this guest (matched by vmid, never by searching the text)."""
    return tuple(u for u in plan.unmet if vmid in u.vmids)
