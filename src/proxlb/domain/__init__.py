"""Pure data shared by every stage: resources, nodes, guests, snapshots, constraints, plans.

Invariants: every value here is frozen; nothing in this package does I/O, reads a clock or logs.
"""

from proxlb.domain.constraints import (
    Affinity,
    AntiAffinity,
    ConstraintSet,
    Drain,
    Exclude,
    NodePin,
    RuleSource,
    SourceKind,
)
from proxlb.domain.crs import CrsOptions
from proxlb.domain.decision import Cause, CauseKind, Decision, Quantity, Rejection, Stop, Verdict
from proxlb.domain.model import (
    ClusterSnapshot,
    Guest,
    GuestKind,
    HaGroup,
    HaRule,
    Node,
    Pressure,
    PressureSet,
    VmId,
)
from proxlb.domain.plan import Migration, MigrationReason, Plan, StopCause, UnmetRule
from proxlb.domain.resources import GIB, MIB, Resources

__all__ = [
    "GIB",
    "MIB",
    "Affinity",
    "AntiAffinity",
    "Cause",
    "CauseKind",
    "ClusterSnapshot",
    "ConstraintSet",
    "CrsOptions",
    "Decision",
    "Drain",
    "Exclude",
    "Guest",
    "GuestKind",
    "HaGroup",
    "HaRule",
    "Migration",
    "MigrationReason",
    "Node",
    "NodePin",
    "Plan",
    "Pressure",
    "PressureSet",
    "Quantity",
    "Rejection",
    "Resources",
    "RuleSource",
    "SourceKind",
    "Stop",
    "StopCause",
    "UnmetRule",
    "Verdict",
    "VmId",
]
