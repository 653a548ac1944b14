"""A plan being built: the what-if state, chosen moves, per-guest decision records, unmet rules. Pure.

Invariants: moves are applied to the state as they are chosen, so every later check sees the
placement the earlier moves produced; target choice is deterministic (ties break on node name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from proxlb.domain.decision import Cause, Decision, moving
from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, MigrationReason, UnmetRule
from proxlb.domain.resources import GIB
from proxlb.planning.checks import Move, first_failure, soft_failure
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem, fixed_reason


@dataclass
class Draft:
    problem: PlanningProblem
    state: LoadState
    by_vmid: dict[VmId, Migration] = field(default_factory=dict)  # insertion order = choice order
    decisions: dict[VmId, Decision] = field(default_factory=dict)
    unmet: list[UnmetRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixed: dict[VmId, Cause] = field(default_factory=dict)
    changes: int = 0  # bumped by every applied move (new or re-routed)
    blocked: dict[VmId, Cause] = field(default_factory=dict)  # vmid → what held its best move back

    @staticmethod
    def start(problem: PlanningProblem, state: LoadState | None = None) -> Draft:
        state = state or LoadState.of(problem)
        draft = Draft(problem, state)
        draft.warnings.extend(state.warnings)
        draft.unmet.extend(
            UnmetRule("affinity vs anti-affinity", text, "conflict", vmids)
            for text, vmids in zip(problem.index.conflicts, problem.index.conflict_guests, strict=True)
        )
        for g in problem.snapshot.guests:
            why = fixed_reason(problem, g)
            if why is not None:
                draft.fixed[g.vmid] = why
        return draft

    @property
    def moves(self) -> list[Migration]:
        return list(self.by_vmid.values())

    @property
    def moved(self) -> set[VmId]:
        return set(self.by_vmid)

    def budget_left(self) -> bool:
        limit = self.problem.policy.max_migrations
        return limit is None or len(self.by_vmid) < limit

    def sub_unit(self, vmid: VmId) -> tuple[VmId, ...]:
        """The guest plus its affinity partners currently on the same node (they move together)."""
        node = self.state.placement[vmid]
        members = self.problem.index.members_of(vmid)
        return tuple(v for v in members if self.state.placement.get(v) == node)

    def unit_blocker(self, unit: tuple[VmId, ...], reroute: bool = False) -> str | None:
        """Why this unit cannot move now; `reroute` allows changing the target of a planned move."""
        for vmid in unit:
            if vmid in self.fixed:
                return f"guest {vmid} {self.fixed[vmid].detail}"
            if vmid in self.by_vmid and not reroute:
                return f"guest {vmid} already moves in this plan"
        return None

    def apply(self, mv: Move, detail: str, serves: str = "") -> None:
        """Record the move of every unit member and update the state.

        A member that already moves in this plan is re-routed (its one migration gets the new
        target; back to where it started means no migration), so no guest ever moves twice.
        """
        snap = self.problem.snapshot
        self.changes += 1
        inherited = [self.by_vmid[v].reason for v in mv.unit if v in self.by_vmid]
        reason = mv.reason
        if mv.reason is MigrationReason.BALANCE and inherited:
            # the unit is re-routed as a whole: newcomers serve the same drain/repair as the group
            reason = min(inherited, key=lambda r: ("drain", "rule", "balance", "parking").index(r.value))
        for vmid in mv.unit:
            self.blocked.pop(vmid, None)
            guest = snap.guest(vmid)
            assert guest is not None
            before = self.state.spread()
            self.state.move(vmid, mv.dst)
            after = self.state.spread()
            earlier = self.by_vmid.get(vmid)
            if earlier is not None:
                if mv.dst == earlier.source:
                    del self.by_vmid[vmid]
                    self.decisions.pop(vmid, None)
                    continue
                text = f"{earlier.detail}; then routed to {mv.dst}: {detail}"
                self.by_vmid[vmid] = replace(
                    earlier, target=mv.dst, detail=text, imbalance_after=round(after, 3)
                )
                self.decisions[vmid] = moving(vmid, earlier.source, mv.dst, earlier.reason, text)
                continue
            load = self.state.gload[vmid]
            self.by_vmid[vmid] = Migration(
                vmid=vmid,
                name=guest.name,
                kind=guest.kind,
                source=mv.src,
                target=mv.dst,
                reason=reason,
                detail=detail,
                bytes_to_copy=load.copy_bytes,
                imbalance_before=round(before, 3),
                imbalance_after=round(after, 3),
                ha_managed=guest.ha_managed,
                running=guest.running,
                serves=serves,
            )
            self.decisions[vmid] = moving(vmid, mv.src, mv.dst, reason, detail)

    def best_target(
        self,
        unit: tuple[VmId, ...],
        reason: MigrationReason,
        prefer: Callable[[str], float] | None = None,
        allowed: frozenset[str] | None = None,
    ) -> tuple[Move | None, bool, list[str]]:
        """Best valid target for a unit: (move, soft rules had to be relaxed, rejection sentences).

        Ranking: targets passing the soft checks first, then `prefer` (lower first), then the
        target's weighted load after the move in steps of the noise band, then name. Last cycle's
        target for this guest wins while it is in the same class and its load after the move is
        within `plan_margin` pp of the best's (stable plans: noise does not swap targets).
        """
        state, pol = self.state, self.problem.policy
        band = max(pol.noise_band, 1e-9)
        previous = self.problem.previous_moves.get(unit[0])
        src = state.placement[unit[0]]
        load = Move.of(state, unit, src, reason).load
        # cheap part of the key for every node first; checks then run in key order and stop at the
        # first target that passes them all (it is the best), so a repair costs O(nodes) arithmetic
        # and a few checks instead of every check on every node
        cands: list[tuple[tuple[float, int, str], int, float]] = []
        for pos, dst in enumerate(state.balance):
            if (allowed is not None and dst not in allowed) or dst == src:
                continue
            after = sum(
                w * 100.0 * (state.load[dst][i] + load.metric[i]) / state.cap[dst][i]
                for i, w in state.active
                if state.cap[dst][i] > 0
            )
            cands.append(((prefer(dst) if prefer else 0.0, round(after / band), dst), pos, after))
        cands.sort()
        ranked: list[tuple[tuple[int, float, int, str], float, Move]] = []
        rejected: list[tuple[int, str]] = []
        seen: set[str] = set()

        def judge(pre: tuple[float, int, str], pos: int, after: float) -> bool:
            dst = pre[2]
            seen.add(dst)
            mv = Move(unit, src, dst, reason, load)
            hard = first_failure(state, mv, soft=False)
            if hard is not None:
                rejected.append((pos, f"{dst}: {hard.detail}"))
                return False
            soft = soft_failure(state, mv)
            ranked.append(((1 if soft else 0, *pre), after, mv))
            return soft is None

        for pre, pos, after in cands:
            if judge(pre, pos, after):
                break
        for pre, pos, after in cands:
            if pre[2] == previous and previous not in seen:
                judge(pre, pos, after)
        reasons = [text for _, text in sorted(rejected)]
        if not ranked:
            return None, False, reasons
        best_key, best_after, best = min(ranked, key=lambda r: r[0])
        for key, after, mv in ranked:
            if mv.dst == previous and key[:2] == best_key[:2] and after <= best_after + pol.plan_margin:
                best_key, best = key, mv
        return best, best_key[0] == 1, reasons


def gib_text(value: int) -> str:
    return f"{value / GIB:.1f} GiB"
