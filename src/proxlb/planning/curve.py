"""The gain curve of a plan and the migration budget's best prefix. Pure.

Gain curve: the spread and the objective (planning/metrics.py) after the first k moves of a plan,
k = 0 … N, against the GiB copied so far. It shows where extra moves stop paying: a flat tail
means the last migrations copy data for little balance.

Best prefix: with `balancing.max_migrations` = N, a planner that returns more than N moves (CP-SAT
decides placements, not an order) is cut to the N moves that pay most: drains and rule repairs
first (they are why the cycle exists; if one does not fit, no balancing move takes its place), then
balancing moves one affinity group at a time, each time the group that lowers the objective most.
The greedy planner already stops at N, so for it the prefix is its own plan.

Invariants: deterministic (ties break on the planner's order); guests of one affinity unit that
move together are kept or dropped together; parking legs are not counted (as in validate()).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, MigrationReason, Plan
from proxlb.domain.resources import GIB
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """The cluster after the first `k` moves of the plan (k = 0: as it is now)."""

    k: int
    vmid: VmId | None  # the k-th move's guest (None for k = 0)
    reason: str  # the k-th move's reason ("" for k = 0)
    spread: float  # pp, the largest per-resource spread over the balance nodes
    objective: float
    gib_copied: float  # cumulative memory + local disk copied by moves 1 … k


def gain_curve(problem: PlanningProblem, plan: Plan) -> tuple[CurvePoint, ...]:
    """Spread and objective after each prefix of `plan.migrations`, in the plan's (execution) order."""
    state = LoadState.of(problem)
    points = [CurvePoint(0, None, "", round(state.spread(), 3), round(state.objective(), 3), 0.0)]
    copied = 0
    for k, m in enumerate(plan.migrations, start=1):
        if m.vmid in state.placement:
            state.move(m.vmid, m.target)
        copied += m.bytes_to_copy
        points.append(
            CurvePoint(
                k,
                m.vmid,
                m.reason.value,
                round(state.spread(), 3),
                round(state.objective(), 3),
                round(copied / GIB, 3),
            )
        )
    return tuple(points)


def knee(points: Sequence[CurvePoint], share: float = 0.9) -> int:
    """The fewest moves that reach `share` of the plan's whole spread reduction (0 if none)."""
    if len(points) < 2:
        return 0
    total = points[0].spread - points[-1].spread
    if total <= 0:
        return 0
    for p in points:
        if points[0].spread - p.spread >= share * total - 1e-9:
            return p.k
    return points[-1].k


def _groups(problem: PlanningProblem, moves: Sequence[Migration]) -> list[list[Migration]]:
    """Moves bundled per affinity unit travelling together (same source and target), planner order."""
    groups: list[list[Migration]] = []
    where: dict[tuple[tuple[VmId, ...], str, str], int] = {}
    for m in moves:
        key = (problem.index.members_of(m.vmid), m.source, m.target)
        if key in where:
            groups[where[key]].append(m)
        else:
            where[key] = len(groups)
            groups.append([m])
    return groups


def best_prefix(
    problem: PlanningProblem, moves: Sequence[Migration], limit: int | None
) -> tuple[list[Migration], list[Migration]]:
    """(the best moves within `limit`, the moves left for a later cycle). No limit: all moves kept."""
    real = [m for m in moves if m.reason is not MigrationReason.PARKING]
    if limit is None or len(real) <= limit:
        return list(moves), []
    state = LoadState.of(problem)
    kept: list[Migration] = []
    left: list[Migration] = []
    rest: list[list[Migration]] = []
    for group in _groups(problem, real):
        if group[0].reason is MigrationReason.BALANCE:
            rest.append(group)
        elif len(kept) + len(group) <= limit:
            kept.extend(group)
            for m in group:
                state.move(m.vmid, m.target)
        else:
            left.extend(group)
    while rest and not left:  # a drain or repair that did not fit comes before any balancing
        best: tuple[float, int] | None = None
        for i, group in enumerate(rest):
            if len(kept) + len(group) > limit:
                continue
            before = state.objective()
            for m in group:
                state.move(m.vmid, m.target)
            drop = before - state.objective()
            for m in reversed(group):
                state.move(m.vmid, m.source)
            if best is None or drop > best[0] + 1e-9:
                best = (drop, i)
        if best is None or best[0] <= 1e-9:
            break
        group = rest.pop(best[1])
        kept.extend(group)
        for m in group:
            state.move(m.vmid, m.target)
    for group in rest:
        left.extend(group)
    return kept, left
