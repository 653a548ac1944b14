"""Why each guest moves or stays, as typed records (not sentences). Pure; no I/O.

Every planner fills one `Decision` per guest of the snapshot; every rejected candidate move is a
`Rejection`; every stop of the balancing loop is a `Stop`. Sentences are made from these records
in exactly one place, `proxlb.report.sentences` (text, HTML, JSON, explain, best-node, logs and
metric labels); no code reads a sentence back.

Invariants: frozen; `Cause.name` is a stable machine name (a check name such as `memory`, a config
key such as `min_improvement` / `cooldown_minutes` / `memory_threshold`, or a rule as written);
`Cause.detail` is the human part for that one cause; `Quantity` values carry their unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from proxlb.domain.model import VmId
from proxlb.domain.plan import MigrationReason


class Verdict(StrEnum):
    MOVES = "moves"  # the plan migrates it
    PARKED = "parked"  # the plan moves it to a temporary node first (breaks a dependency cycle)
    STAYS = "stays"  # nothing asked for its move: the plan stopped (see `Cause` of kind stop)
    HELD = "held"  # its move was wanted or possible but a check, rule or limit held it back


class CauseKind(StrEnum):
    CHECK = "check"  # a placement check rejected its best target (planning/checks.py)
    RULE = "rule"  # a rule or property keeps it where it is (excluded, template, locked, pin …)
    UNMET = "unmet"  # a rule the plan could not satisfy names it
    LIMIT = "limit"  # a knob (min_improvement, cooldown_minutes, max_migrations, psi window …)
    STOP = "stop"  # why balancing stopped (balanciness, a threshold gate …); applies to every guest
    PLAN = "plan"  # a move's own purpose (drain, rule repair, balance, parking)


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number with its unit, e.g. Quantity("free", 3.2, "GiB")."""

    name: str
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class Cause:
    """One typed reason. `target`: the node a check rejected (kind check), else None."""

    kind: CauseKind
    name: str
    detail: str = ""
    numbers: tuple[Quantity, ...] = ()
    target: str | None = None
    blocked_by: tuple[VmId, ...] = ()  # guests whose placement or rule holds this one back

    def number(self, name: str) -> float | None:
        """The value of the quantity called `name`, or None."""
        return next((q.value for q in self.numbers if q.name == name), None)


@dataclass(frozen=True, slots=True)
class Stop:
    """Why the balancing loop (or the cycle's trigger) stopped: a machine name and its detail.

    name: `balanciness`, `<resource>_threshold` / `thresholds` (the gate), `nodes`,
    `max_migrations`, `min_improvement`, `rounds`, `psi`, `psi_window_minutes`.
    """

    name: str
    detail: str

    def cause(self) -> Cause:
        return Cause(CauseKind.STOP, self.name, self.detail)


NO_STOP = Stop("balanciness", "")  # a placeholder before anything was judged


@dataclass(frozen=True, slots=True)
class Rejection:
    """A check's verdict against one candidate move: which check said no, and its detail."""

    check: str
    detail: str
    numbers: tuple[Quantity, ...] = ()
    blocked_by: tuple[VmId, ...] = ()

    def cause(self, target: str | None = None) -> Cause:
        return Cause(CauseKind.CHECK, self.check, self.detail, self.numbers, target, self.blocked_by)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the plan decided for one guest, and why.

    source: where it runs now; target/reason/detail: its migration (moves / parked);
    cause: why it stays or is held (None for a move); blocked_by: guests whose rule holds it.
    """

    vmid: VmId
    verdict: Verdict
    source: str
    cause: Cause | None = None
    target: str | None = None
    reason: MigrationReason | None = None
    detail: str = ""
    blocked_by: tuple[VmId, ...] = ()

    @property
    def moves(self) -> bool:
        return self.verdict in (Verdict.MOVES, Verdict.PARKED)


def held(vmid: VmId, source: str, cause: Cause) -> Decision:
    return Decision(vmid, Verdict.HELD, source, cause, blocked_by=cause.blocked_by)


def moving(vmid: VmId, source: str, target: str, reason: MigrationReason, detail: str) -> Decision:
    verdict = Verdict.PARKED if reason is MigrationReason.PARKING else Verdict.MOVES
    return Decision(vmid, verdict, source, target=target, reason=reason, detail=detail)
