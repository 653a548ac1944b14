"""Planning: decide which guests move where, in which order, and why. Pure; no I/O, no clock.

Entry point: `plan_cycle(problem)` — trigger → planner → sequence → validate. See docs/balancing.md.
"""

from proxlb.planning.budget import SolverBudget
from proxlb.planning.cycle import Solving, plan_cycle
from proxlb.planning.policy import Method, Mode, Policy, SolverMode, SolverPolicy, policy_from_config
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.validate import validate

__all__ = [
    "Method",
    "Mode",
    "PlanningProblem",
    "Policy",
    "SolverBudget",
    "SolverMode",
    "SolverPolicy",
    "Solving",
    "plan_cycle",
    "policy_from_config",
    "validate",
]
