"""The one objective every planner's plan is judged by (greedy, CP-SAT, LNS). Pure.

    J = [balancing wanted] · Σ_r w_r (Σ_n (p_nr − mean_r)² + N · spread_r²)     (pp²)
        + Σ_moved guests 2 · size · (min_improvement + cost_per_gib · GiB to copy)
        + UNMET_PP2 · (wanted repairs the placement still breaks)

The balance term is greedy's objective (LoadState.objective) plus the spread users see (max −
min, squared, × N nodes): variance alone rewards evening out the middle nodes as much as the
extremes, while the spread is what the trigger and the users judge.
`size` is the move's size in pp (its load as a share of source and target, averaged: the measure
greedy's gain divides by), so a move lowers J exactly when its objective drop beats
`min_improvement` + its cost per GiB — greedy's acceptance rule, summed over the plan. Broken rules
count one per guest on a drained node, per guest outside its wanted pin, per extra member of an
anti-affinity rule on one node, and per wanted affinity group still split; each weighs more than any
balance the cluster could gain, so repairs come first.

Invariants: balancing counts only when the start state triggers it (`balance_wanted`, the trigger
the planners share); the value depends on the final placement and the set of moved guests only,
never on the order of the moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from proxlb.domain.model import VmId
from proxlb.domain.resources import GIB
from proxlb.planning.metrics import GuestLoad, LoadState
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.trigger import balance_wanted, violations, wanted_repairs

UNMET_PP2 = 1e7  # above any Σ (p − mean)² a cluster can have (≤ nodes × 100²)


def move_size(state: LoadState, load: GuestLoad, src: str, dst: str) -> float:
    """The move's size in pp: Σ_r w_r · (share of src + share of dst) / 2 (balance nodes only)."""
    size = 0.0
    for i, w in state.active:
        c = load.metric[i]
        for node in (src, dst):
            cap = state.cap[node][i] if node in state.cap else 0.0
            if c and node in state.in_balance and cap > 0:
                size += w * 100.0 * c / cap / 2
    return size


def move_cost(problem: PlanningProblem, state: LoadState, vmid: VmId, src: str, dst: str) -> float:
    """What moving one guest adds to J (pp²)."""
    pol = problem.policy
    load = state.gload[vmid]
    return (
        2.0
        * move_size(state, load, src, dst)
        * (pol.min_improvement + pol.cost_per_gib * load.copy_bytes / GIB)
    )


def broken_count(problem: PlanningProblem, placement: Mapping[VmId, str]) -> int:
    """How many wanted repairs `placement` still leaves undone (see the module docstring)."""
    count = 0
    for v in wanted_repairs(problem, violations(problem, placement)):
        count += (
            len(v.vmids) - 1 if v.kind == "anti-affinity" else 1 if v.kind == "affinity" else len(v.vmids)
        )
    return count


def balance_term(state: LoadState) -> float:
    """Σ_r w_r (Σ_n (p_nr − mean_r)² + N · spread_r²): the variance greedy lowers, plus the spread
    users see, squared and weighted by the number of nodes so both count alike."""
    n = len(state.balance)
    return state.objective() + n * sum(w * state.spread_of(i) ** 2 for i, w in state.active)


def objective(
    problem: PlanningProblem,
    after: LoadState,
    moved: Iterable[tuple[VmId, str, str]],
    start: LoadState | None = None,
) -> float:
    """J of a final state reached by `moved` (vmid, source, target) from the problem's start."""
    start = start or LoadState.of(problem)
    wanted, _ = balance_wanted(start, starting=True)
    value = balance_term(after) if wanted else 0.0
    value += sum(move_cost(problem, start, v, s, t) for v, s, t in moved if s != t)
    return value + UNMET_PP2 * broken_count(problem, after.placement)
