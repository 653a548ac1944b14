"""Migration plans: what moves where, in which order, and why. Pure; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from proxlb.domain.model import GuestKind, VmId

if TYPE_CHECKING:
    from proxlb.domain.decision import Decision


class MigrationReason(StrEnum):
    DRAIN = "drain"  # leaving a maintenance / drained node
    RULE = "rule"  # repairing an affinity, anti-affinity or pin violation
    BALANCE = "balance"  # evening out load
    PARKING = "parking"  # temporary move that breaks a dependency cycle


@dataclass(frozen=True, slots=True)
class Migration:
    """One planned move.

    step: the sequencing step (0-based); moves of one step may run concurrently.
    depends_on: vmids whose migrations must finish before this one starts.
    imbalance_before/after: the planner's imbalance score around this single move.
    serves: for a drain or rule repair, the purpose it serves (typed beside the human `detail`).
    """

    vmid: VmId
    name: str
    kind: GuestKind
    source: str
    target: str
    reason: MigrationReason
    detail: str
    bytes_to_copy: int = 0
    imbalance_before: float = 0.0
    imbalance_after: float = 0.0
    step: int = 0
    depends_on: tuple[VmId, ...] = ()
    ha_managed: bool = False
    running: bool = True
    serves: str = ""  # a drain / repair: the purpose it serves ("repairs pin tag 'plb_pin_pve4'")


@dataclass(frozen=True, slots=True)
class UnmetRule:
    """A rule the plan could not satisfy, and why.

    kind: drain | pin | anti-affinity | affinity | relaxed (a soft rule given up for a repair) |
    conflict | placement | sequence | solver; vmids: the guests it concerns (matched by vmid,
    never by searching the text).
    """

    rule: str  # e.g. "anti-affinity tag 'plb_anti_affinity_db'"
    why: str
    kind: str = ""
    vmids: tuple[VmId, ...] = ()


@dataclass(frozen=True, slots=True)
class StopCause:
    """A rule or cap that kept the plan above `balanciness`, and how many guests it held back.

    rule: the check or limit by name (e.g. "cpu-overcommit", "cooldown", "min_improvement",
    "max_migrations", "excluded"); guests: how many guests that could have eased the most loaded
    nodes it blocked; detail: one human sentence (an example).
    """

    rule: str
    guests: int
    detail: str


@dataclass(frozen=True)
class Plan:
    """An ordered, validated, explained set of migrations for one snapshot.

    decisions: per guest, the typed record of why it moves or stays (rendered by report/sentences).
    metrics_before/after: per-node load percentages and the spread, as the planner measured them.
    """

    snapshot_fingerprint: str
    migrations: tuple[Migration, ...] = ()
    decisions: Mapping[VmId, Decision] = field(default_factory=dict)
    unmet: tuple[UnmetRule, ...] = ()
    imbalance_before: float = 0.0
    imbalance_after: float = 0.0
    metrics_before: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    metrics_after: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    triggered: bool = False
    trigger_reason: str = ""
    planner: str = "greedy"
    stats: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # planner notes, e.g. PSI unavailable → fell back to 'used'
    stopped_by: tuple[StopCause, ...] = ()  # only when the plan ends above balanciness

    @property
    def bytes_to_copy(self) -> int:
        return sum(m.bytes_to_copy for m in self.migrations)

    def migration_of(self, vmid: int) -> Migration | None:
        for m in self.migrations:
            if m.vmid == vmid:
                return m
        return None
