"""A plan being built: the what-if state, chosen moves, per-guest decisions, unmet rules. Pure.

Invariants: moves are applied to the state as they are chosen, so every later check sees the
placement the earlier moves produced; target choice is deterministic (ties break on node name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, MigrationReason, UnmetRule
from proxlb.domain.resources import GIB
from proxlb.planning.checks import Move, first_failure
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem, fixed_reason


@dataclass
class Draft:
    problem: PlanningProblem
    state: LoadState
    moves: list[Migration] = field(default_factory=list)
    decisions: dict[VmId, str] = field(default_factory=dict)
    unmet: list[UnmetRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    moved: set[VmId] = field(default_factory=set)
    fixed: dict[VmId, str] = field(default_factory=dict)

    @staticmethod
    def start(problem: PlanningProblem, state: LoadState | None = None) -> Draft:
        state = state or LoadState(problem)
        draft = Draft(problem, state)
        draft.warnings.extend(state.warnings)
        for g in problem.snapshot.guests:
            why = fixed_reason(problem, g)
            if why is not None:
                draft.fixed[g.vmid] = why
        return draft

    def budget_left(self) -> bool:
        limit = self.problem.policy.max_migrations
        return limit is None or len(self.moved) < limit

    def sub_unit(self, vmid: VmId) -> tuple[VmId, ...]:
        """The guest plus its affinity partners currently on the same node (they move together)."""
        node = self.state.placement[vmid]
        members = self.problem.index.members_of(vmid)
        return tuple(v for v in members if self.state.placement.get(v) == node)

    def unit_blocker(self, unit: tuple[VmId, ...]) -> str | None:
        for vmid in unit:
            if vmid in self.fixed:
                return f"guest {vmid} {self.fixed[vmid]}"
            if vmid in self.moved:
                return f"guest {vmid} already moves in this plan"
        return None

    def apply(self, mv: Move, detail: str) -> None:
        """Record the move of every unit member and update the state."""
        snap = self.problem.snapshot
        for vmid in mv.unit:
            guest = snap.guest(vmid)
            assert guest is not None
            before = self.state.spread()
            self.state.move(vmid, mv.dst)
            after = self.state.spread()
            load = self.state.gload[vmid]
            self.moves.append(
                Migration(
                    vmid=vmid,
                    name=guest.name,
                    kind=guest.kind,
                    source=mv.src,
                    target=mv.dst,
                    reason=mv.reason,
                    detail=detail,
                    bytes_to_copy=load.copy_bytes,
                    imbalance_before=round(before, 3),
                    imbalance_after=round(after, 3),
                    ha_managed=guest.ha_managed,
                    running=guest.running,
                )
            )
            self.moved.add(vmid)
            self.decisions[vmid] = f"moves {mv.src} → {mv.dst} ({mv.reason.value}): {detail}"

    def best_target(
        self,
        unit: tuple[VmId, ...],
        reason: MigrationReason,
        prefer: Callable[[str], float] | None = None,
        allowed: frozenset[str] | None = None,
    ) -> tuple[Move | None, bool, list[str]]:
        """Best valid target for a unit: (move, soft rules had to be relaxed, rejection sentences).

        Ranking: targets passing the soft checks first, then `prefer` (lower first), then the
        target's weighted load after the move, then name.
        """
        state = self.state
        best: tuple[tuple[int, float, float, str], Move] | None = None
        rejected: list[str] = []
        for dst in state.balance:
            if allowed is not None and dst not in allowed:
                continue
            mv = Move.of(state, unit, dst, reason)
            if mv.src == dst:
                continue
            hard = first_failure(state, mv, soft=False)
            if hard is not None:
                rejected.append(f"{dst}: {hard[1]}")
                continue
            soft = first_failure(state, mv, soft=True)
            after = sum(
                w * 100.0 * (state.load[dst][i] + mv.load.metric[i]) / state.cap[dst][i]
                for i, w in state.active
                if state.cap[dst][i] > 0
            )
            key = (1 if soft else 0, prefer(dst) if prefer else 0.0, round(after, 6), dst)
            if best is None or key < best[0]:
                best = (key, mv)
        if best is None:
            return None, False, rejected
        return best[1], best[0][0] == 1, rejected


def gib_text(value: int) -> str:
    return f"{value / GIB:.1f} GiB"
