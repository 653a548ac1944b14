"""The solver's time: deterministic work first, a wall-clock deadline as the hard end. Pure.

`solver.timeout_seconds` is what an administrator sets; it bounds the wall time of all CP-SAT work
of one cycle, however many times the cycle re-plans (the pipeline re-plans once when the solver's
own movers turn out to copy local disks). Two limits apply to every solve:

- deterministic time (CP-SAT's own work measure): `DETERMINISTIC_PER_SECOND` per wall second
  left, so on an ordinary quiet core it ends first and the same cluster gives the same plan;
- the wall-clock deadline (`SolverBudget.left`): on a slow or loaded machine it ends the search
  first, the incumbent so far is kept (never worse than the warm start) and the plan says so.

The clock is injected (the service passes `time.monotonic`; tests pass a fake one): planning reads
no clock itself. Without a budget (in-process callers, tests) only deterministic time applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DETERMINISTIC_PER_SECOND = 0.25  # CP-SAT deterministic s per wall s, below the ~0.35 one core does
FIRST_RUN_SHARE = 0.75  # of the time left: the rest is kept for a re-plan after movers' configs


@dataclass(frozen=True)
class SolverBudget:
    """A wall-clock deadline on `clock`, and the share of the time left this run may plan with."""

    clock: Callable[[], float]
    deadline: float
    share: float = 1.0

    @staticmethod
    def starting(clock: Callable[[], float], seconds: float, share: float = FIRST_RUN_SHARE) -> SolverBudget:
        return SolverBudget(clock, clock() + max(0.0, seconds), share)

    def left(self) -> float:
        """Wall seconds until the deadline (0 once passed)."""
        return max(0.0, self.deadline - self.clock())

    def last_run(self) -> SolverBudget:
        """The same deadline, all of the time left (the cycle's last solver run)."""
        return SolverBudget(self.clock, self.deadline, 1.0)


def deterministic_budget(timeout_seconds: float, budget: SolverBudget | None) -> float:
    """CP-SAT deterministic seconds for one solver run."""
    seconds = max(0.1, timeout_seconds)
    if budget is not None:
        seconds = min(seconds, budget.left()) * budget.share
    return seconds * DETERMINISTIC_PER_SECOND
