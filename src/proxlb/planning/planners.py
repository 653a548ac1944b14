"""Planners as registered strategies: the `Planner` protocol, the two planners, one registry. Pure.

A planner takes the cycle's one `PlanningProblem`, its one `Trigger` (computed once by
`plan_cycle`), optional hints (other plans' moves, warm starts) and an optional wall-clock budget
(planning/budget.py) and returns a `Proposal`: moves, the rules it could not meet, why it
stopped, and its own stats. It never sequences or validates: `plan_cycle` does that for every
planner alike.

- `greedy` (always runs): repairs, then greedy balancing; with last cycle's plan remembered it
  also replays that plan and keeps whichever agrees better (plan stability). Its draft carries
  the per-guest decision records every plan reports.
- `cpsat` (runs when `solver.enable` is set, the configuration's selector): the OR-Tools model in
  planning/cpsat.py, started from the greedy plan; `solver.mode` decides whether its moves may
  replace greedy's (active: when its objective is not higher) or are only compared (shadow).

`PLANNERS` maps a name to an instance; nothing registers itself at import time. A new planner is
a class with `name` and `plan(problem, trigger)`, a `_: Planner = MyPlanner()` line beside it (so
mypy checks the protocol), and an entry in `PLANNERS`; the scenario tests then run it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from proxlb.domain.decision import NO_STOP, Stop
from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, UnmetRule
from proxlb.planning.budget import SolverBudget
from proxlb.planning.draft import Draft
from proxlb.planning.greedy import plan_greedy
from proxlb.planning.headroom import domain_warnings
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.pve_balancer import coexistence_note
from proxlb.planning.trigger import Trigger


@dataclass(frozen=True)
class Proposal:
    """What a planner proposes. moves None: it found no plan (status says why)."""

    planner: str
    moves: tuple[Migration, ...] | None
    unmet: tuple[UnmetRule, ...] = ()
    stop: Stop = NO_STOP
    status: str = ""
    stats: Mapping[str, float] = field(default_factory=dict)
    draft: Draft | None = None  # the greedy draft: decisions, fixed guests, blocked moves, warnings


class Planner(Protocol):
    """A planning strategy (see the module docstring)."""

    @property
    def name(self) -> str: ...

    def plan(
        self,
        problem: PlanningProblem,
        trigger: Trigger,
        hints: Sequence[Sequence[Migration]] = (),
        budget: SolverBudget | None = None,
    ) -> Proposal: ...


def _greedy_draft(
    problem: PlanningProblem, trigger: Trigger, previous: Mapping[VmId, str] | None
) -> tuple[Draft, Stop]:
    draft = Draft.start(problem, LoadState.of(problem))
    note = coexistence_note(problem)
    if note is not None:
        draft.warnings.append(note)
    draft.warnings.extend(domain_warnings(problem))
    if trigger.psi_fallback:
        draft.warnings.append(
            "mode psi: some nodes report no pressure (PVE < 9), so this plan balances on 'used' "
            "(memory/CPU in use) instead of pressure"
        )
    return draft, plan_greedy(draft, trigger, previous)


class GreedyPlanner:
    """Repairs, then greedy local-search balancing (planning/greedy.py), with plan stability.

    When the previous plan of this cluster chose moves that are not done yet, a second greedy run
    replays them first (planning/replay.py); its plan wins when it agrees with the previous plan
    at least as well as the fresh plan does (Jaccard similarity) and ends within `plan_margin` pp
    of the fresh plan's spread — so metric noise between two cycles does not swap the guests
    chosen, and a dry run previews the `--once` that follows. When both choose the same moves, the
    fresh plan (and its order) is kept.
    """

    name = "greedy"

    def plan(
        self,
        problem: PlanningProblem,
        trigger: Trigger,
        hints: Sequence[Sequence[Migration]] = (),
        budget: SolverBudget | None = None,
    ) -> Proposal:
        fresh, stop = _greedy_draft(problem, trigger, None)
        chosen, chosen_stop = fresh, stop
        snap = problem.snapshot
        previous = {
            v: t
            for v, t in problem.previous_moves.items()
            if (g := snap.guest(v)) is not None and g.node != t
        }
        if previous:
            sticky, sticky_stop = _greedy_draft(problem, trigger, previous)
            wanted = set(previous.items())

            def agreement(draft: Draft) -> float:  # Jaccard similarity with the previous plan
                picked = {(m.vmid, m.target) for m in draft.moves}
                return len(picked & wanted) / len(picked | wanted)

            same = {(m.vmid, m.target) for m in sticky.moves} == {(m.vmid, m.target) for m in fresh.moves}
            if (
                not same
                and agreement(sticky) >= agreement(fresh)
                and (sticky.state.spread() <= fresh.state.spread() + problem.policy.plan_margin)
            ):
                chosen, chosen_stop = sticky, sticky_stop
        return Proposal(self.name, tuple(chosen.moves), tuple(chosen.unmet), chosen_stop, draft=chosen)


_: Planner = GreedyPlanner()


class CpsatPlanner:
    """OR-Tools CP-SAT (planning/cpsat.py): an exact model, or large-neighbourhood search above its
    size, warm-started from the best hint, within the budget's deadline."""

    name = "cpsat"

    def plan(
        self,
        problem: PlanningProblem,
        trigger: Trigger,
        hints: Sequence[Sequence[Migration]] = (),
        budget: SolverBudget | None = None,
    ) -> Proposal:
        from proxlb.planning.cpsat import solve_cpsat

        result = solve_cpsat(problem, hints, trigger, budget)
        return Proposal(
            self.name, result.moves, result.unmet, trigger.stop, result.status, dict(result.stats)
        )


_ = CpsatPlanner()
_check: Planner = _

PLANNERS: Mapping[str, Planner] = MappingProxyType({"greedy": GreedyPlanner(), "cpsat": CpsatPlanner()})
