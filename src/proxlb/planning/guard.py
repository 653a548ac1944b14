"""Never worse: no plan raises the spread or the highest node load of the balanced metric, unless a
hard rule (drain, anti-affinity, pin) or an enforced rule requires it — and then it says which. Pure.

Both measures are taken over the balance nodes (online, not drained) and the resources the method
balances, in the mode's own measure (used, assigned; psi moves are simulated on `used`):

- spread: max over those resources of (highest node % − lowest node %), as `LoadState.spread`;
- peak:   the highest node % of any of those resources.

`keeps_balance` judges one candidate move (PSI relief); `enforce_never_worse` is the last word on a
whole plan: balancing moves that leave it worse are dropped, latest first, until it is not (rule
repairs are kept, and the plan names the rules that made it worse).
"""

from __future__ import annotations

from collections.abc import Sequence

from proxlb.domain.plan import Migration, MigrationReason
from proxlb.planning.metrics import GuestLoad, LoadState
from proxlb.planning.problem import PlanningProblem

EPSILON_PP = 1e-6


def measures(state: LoadState) -> tuple[float, float]:
    """(spread, peak) of the balanced metric, in pp / %."""
    peak = max((state.pct(n, i) for i, _ in state.active for n in state.balance), default=0.0)
    return state.spread(), peak


def keeps_balance(state: LoadState, load: GuestLoad, src: str, dst: str) -> bool:
    """Would moving `load` from src to dst leave both the spread and the peak no higher? O(nodes)."""
    spread0, peak0 = measures(state)
    spread1 = peak1 = 0.0
    for i, _ in state.active:
        values = []
        for n in state.balance:
            cap = state.cap[n][i]
            value = (
                state.load[n][i]
                - (load.metric[i] if n == src else 0.0)
                + (load.metric[i] if n == dst else 0.0)
            )
            values.append(100.0 * value / cap if cap > 0 else 0.0)
        if values:
            spread1 = max(spread1, max(values) - min(values))
            peak1 = max(peak1, *values)
    return spread1 <= spread0 + EPSILON_PP and peak1 <= peak0 + EPSILON_PP


def _after(problem: PlanningProblem, moves: Sequence[Migration]) -> LoadState:
    state = LoadState.of(problem)
    for m in moves:
        state.move(m.vmid, m.target)
    return state


def enforce_never_worse(
    problem: PlanningProblem, moves: Sequence[Migration]
) -> tuple[list[Migration], list[Migration], str | None]:
    """(kept moves, dropped balancing moves, note naming the rules that made the balance worse).

    The limit is the cluster as it is — or, where the rule repairs alone (drains, pins,
    anti-affinity, enforced affinity) end worse than that, what they require. Balancing moves that
    push past the limit are dropped, latest first. The note is None when the plan is not worse
    than the cluster as it is.
    """
    start = measures(LoadState.of(problem))
    repaired = measures(_after(problem, [m for m in moves if m.reason is not MigrationReason.BALANCE]))
    limit = (max(start[0], repaired[0]), max(start[1], repaired[1]))
    kept = list(moves)
    dropped: list[Migration] = []

    def worse(state: LoadState, than: tuple[float, float]) -> bool:
        spread, peak = measures(state)
        return spread > than[0] + EPSILON_PP or peak > than[1] + EPSILON_PP

    end = _after(problem, kept)
    while worse(end, limit):
        balance = [m for m in kept if m.reason is MigrationReason.BALANCE]
        if not balance:
            break
        last = balance[-1]
        kept = [m for m in kept if m.vmid != last.vmid]
        dropped.append(last)
        end = _after(problem, kept)
    if not worse(end, start):
        return kept, dropped, None
    spread, peak = measures(end)
    rules = sorted({_rule_of(m) for m in kept if m.reason is not MigrationReason.BALANCE})
    note = (
        f"the balance gets worse (spread {start[0]:.1f} → {spread:.1f} pp, highest node load "
        f"{start[1]:.1f} → {peak:.1f} %) because rules require it: {'; '.join(rules)}"
    )
    return kept, dropped, note


def _rule_of(m: Migration) -> str:
    """The purpose a drain or repair serves ("leaves drain of pve4 (…)", "repairs anti-affinity …")."""
    return m.serves or m.reason.value
