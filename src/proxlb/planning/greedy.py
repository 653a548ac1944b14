"""The fast planner: repairs (phase A), then greedy local-search balancing (phase B). Pure.

Phase B repeats: rank nodes by weighted load; for the most loaded node that has a qualifying move,
evaluate every movable unit on it against the few least loaded nodes; take the move with the best
net gain (gain − cost_per_gib × GiB copied) if its gain exceeds min_improvement + that cost; apply
it to the what-if state. It stops when `balance_wanted` says no (thresholds, spread ≤ balanciness),
when no move qualifies, or at max_migrations. Every accepted move lowers the objective strictly, so
the loop ends, and its end state is a fixed point: re-planning from it yields no balancing move.

Cost: O(moves × units-per-node × K) objective evaluations, each O(1) thanks to incremental sums;
checks run only for a candidate that would beat the current best.

Invariants: deterministic (ties on rounded net gain, then guest size per
balance_larger_guests_first, then vmid, then node name); never moves a guest twice; never moves a
guest in cooldown for balance.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping
from datetime import UTC, datetime

from proxlb.domain.decision import Cause, CauseKind, Quantity, Rejection, Stop, held
from proxlb.domain.model import VmId
from proxlb.domain.plan import MigrationReason
from proxlb.domain.resources import GIB
from proxlb.planning.checks import Move, first_failure
from proxlb.planning.draft import Draft
from proxlb.planning.eligibility import cooldown_until
from proxlb.planning.headroom import guard_for, restore_headroom
from proxlb.planning.metrics import GuestLoad, LoadState, add_loads
from proxlb.planning.policy import Mode
from proxlb.planning.psi import psi_relief
from proxlb.planning.pve_balancer import OWNED
from proxlb.planning.repair import repair
from proxlb.planning.replay import replay
from proxlb.planning.trigger import Trigger, balance_wanted

TARGETS_PER_ROUND = 4
WINDOW = 12
REPAIR_ROUNDS = 4
EPSILON_PP = 1e-6  # below float noise of the incremental sums, a gain is no gain

Unit = tuple[tuple[VmId, ...], GuestLoad]


def _in_cooldown(draft: Draft) -> dict[VmId, float]:
    """Guests not to move for balance → until when (planning/eligibility.py, shared with CP-SAT)."""
    return cooldown_until(draft.problem)


def _units_by_node(draft: Draft, cooldown: dict[VmId, float]) -> dict[str, list[Unit]]:
    state = draft.state
    seen: set[VmId] = set()
    out: dict[str, list[Unit]] = {n: [] for n in state.balance}
    for g in draft.problem.snapshot.guests:
        if g.vmid in seen:
            continue
        unit = draft.sub_unit(g.vmid)
        seen.update(unit)
        node = state.placement[g.vmid]
        if node not in out:
            continue
        if draft.unit_blocker(unit, reroute=True) is not None:
            continue
        cooling = [v for v in unit if v in cooldown]
        if any(cooldown[v] == float("inf") for v in cooling):
            for v in unit:
                draft.decisions.setdefault(v, held(v, node, OWNED))
            continue
        if cooling:
            end = cooldown[cooling[0]]
            until = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d %H:%M UTC")
            cause = Cause(
                CauseKind.LIMIT,
                "cooldown_minutes",
                f"in cooldown until {until}",
                (Quantity("until", end, "s"),),
            )
            for v in unit:
                draft.decisions.setdefault(v, held(v, node, cause))
            continue
        load = state.gload[unit[0]] if len(unit) == 1 else add_loads([state.gload[v] for v in unit])
        out[node].append((unit, load))
    return out


Chosen = tuple[tuple[float, float, int, int, str], Move, float, float]


class _Scan:
    """One round of phase B: the best qualifying move among some units of one source."""

    def __init__(
        self, draft: Draft, best_seen: dict[VmId, Cause], banned: frozenset[tuple[tuple[VmId, ...], str]]
    ) -> None:
        pol = draft.problem.policy
        self.state = draft.state
        self.margin, self.per_gib = pol.min_improvement, pol.cost_per_gib
        self.larger = -1 if pol.balance_larger_guests_first else 1
        self.band = max(pol.noise_band, 1e-9)
        self.best_seen = best_seen
        self.chosen: Chosen | None = None
        self.moving = draft.by_vmid
        self.blocked = draft.blocked
        self.banned = banned  # (unit, target) pairs the failover headroom guard refused this round

    def vcpu_ratio(self, dst: str, load: GuestLoad) -> float:
        cores = self.state.cap[dst][1]
        return (self.state.vcpu[dst] + load.vcpu_milli) / cores if cores > 0 else 0.0

    def units(self, src: str, dsts: list[str], candidates: list[Unit]) -> None:
        state, margin = self.state, self.margin
        for unit, load in candidates:
            if any(v in self.moving for v in unit):  # re-routing: only members not yet moving copy anew
                extra = sum(state.gload[v].copy_bytes for v in unit if v not in self.moving)
            else:
                extra = load.copy_bytes
            cost = self.per_gib * extra / GIB
            best_gain = float("-inf")
            for dst in dsts:
                gain, size = state.gain(load, src, dst)
                best_gain = max(best_gain, gain)
                if gain <= margin + cost + EPSILON_PP:
                    continue
                # value = objective drop net of cost (pp·pp), compared in steps of the noise band so
                # that metric noise cannot reorder near-equal moves; ties then break on stable keys:
                # the target's vCPUs per core after the move (CPU weighs even without a cap), the
                # guest's configured size, vmid, node name — never on a measured (noisy) value
                key = (
                    -round(size * (gain - cost) / self.band),
                    round(self.vcpu_ratio(dst, load), 1),
                    self.larger * load.assigned_mem,
                    unit[0],
                    dst,
                )
                if self.chosen is not None and key >= self.chosen[0]:
                    continue
                if self.banned and (unit, dst) in self.banned:
                    continue
                mv = Move(unit, src, dst, MigrationReason.BALANCE, load)
                failure = first_failure(state, mv)
                if failure is not None:
                    self.best_seen[unit[0]] = self.blocked[unit[0]] = failure.cause(dst)
                    continue
                self.chosen = (key, mv, gain, cost)
            if best_gain <= margin + cost + EPSILON_PP:
                gained = max(best_gain, 0.0)
                too_little = Cause(
                    CauseKind.LIMIT,
                    "min_improvement",
                    f"moving it would gain only {gained:.1f} pp (< min_improvement {margin:g} pp + cost "
                    f"{cost:.1f} pp for {extra / GIB:.1f} GiB to copy)",
                    (
                        Quantity("gain", gained, "pp"),
                        Quantity("min_improvement", margin, "pp"),
                        Quantity("cost", cost, "pp"),
                        Quantity("to_copy", extra / GIB, "GiB"),
                    ),
                )
                self.blocked.setdefault(unit[0], too_little)
                self.best_seen[unit[0]] = too_little


def _window(state: LoadState, src: str, dsts: list[str], sized: list[tuple[float, Unit]]) -> list[Unit]:
    """Units whose size is near the ideal amount to move towards each target (candidate pruning)."""
    keys = [k for k, _ in sized]
    picked: dict[int, None] = {}
    for dst in dsts:
        inv_s = sum(w / state.cap[src][i] for i, w in state.active if state.cap[src][i] > 0)
        inv_t = sum(w / state.cap[dst][i] for i, w in state.active if state.cap[dst][i] > 0)
        gap = state.score(src) - state.score(dst)
        ideal = gap * inv_s / (inv_s + inv_t) if inv_s + inv_t > 0 else gap / 2
        at = bisect_left(keys, ideal)
        for j in range(max(0, at - WINDOW), min(len(sized), at + WINDOW)):
            picked[j] = None
    return [sized[j][1] for j in sorted(picked)]


def _scan_round(
    draft: Draft,
    best_seen: dict[VmId, Cause],
    ranked: list[str],
    targets: list[str],
    sized: dict[str, list[tuple[float, Unit]]],
) -> _Scan:
    """One round's choice: the best qualifying move of the first source that has one.

    With failover headroom planned (prefer/require) the chosen move is checked by the guard only
    once chosen; a refused (unit, target) is banned and the round scanned again, which picks exactly
    the move an eager check of every candidate would, with one headroom prediction per refusal
    instead of one per improving candidate.
    """
    state = draft.state
    guard = guard_for(draft.problem, state)
    banned: set[tuple[tuple[VmId, ...], str]] = set()
    while True:
        scan = _Scan(draft, best_seen, frozenset(banned))
        for full in (False, True):
            for src in ranked:
                dsts = [d for d in targets if d != src and state.score(d) < state.score(src)]
                if not dsts or not sized[src]:
                    continue
                rows = sized[src]
                cands = (
                    [u for _, u in rows]
                    if full or len(rows) <= 2 * WINDOW
                    else _window(state, src, dsts, rows)
                )
                scan.units(src, dsts, cands)
                if scan.chosen is not None:
                    break
            if scan.chosen is not None:
                break
        if scan.chosen is None or guard is None:
            return scan
        mv = scan.chosen[1]
        veto = guard.veto(mv)
        if veto is None:
            return scan
        vetoed = Rejection("failover-headroom", veto).cause(mv.dst)
        best_seen[mv.unit[0]] = draft.blocked[mv.unit[0]] = vetoed
        banned.add((mv.unit, mv.dst))


def _balance(draft: Draft, started: bool) -> tuple[Stop, bool]:
    """Phase B. Returns why it stopped, and whether balancing has started.

    Not yet started (the cycle was triggered by repairs only): balance only if the spread now
    exceeds `balanciness`. Once started, continue down to the hysteresis target.
    """
    state, pol = draft.state, draft.problem.policy
    by_node = _units_by_node(draft, _in_cooldown(draft))
    sized: dict[str, list[tuple[float, Unit]]] = {}
    for node, units in by_node.items():
        rows = [
            (
                sum(
                    w * 100.0 * ld.metric[i] / state.cap[node][i]
                    for i, w in state.active
                    if state.cap[node][i] > 0
                ),
                (u, ld),
            )
            for u, ld in units
        ]
        sized[node] = sorted(rows, key=lambda r: (r[0], r[1][0][0]))
    best_seen: dict[VmId, Cause] = {}
    # every accepted move lowers the objective by more than EPSILON_PP × its size; the cap is a backstop
    for _ in range(10 * sum(len(rows) for rows in sized.values()) + 100):
        wanted, why = balance_wanted(state, starting=not started)
        if not wanted:
            return why, started
        started = True
        if not draft.budget_left():
            return Stop("max_migrations", f"max_migrations {pol.max_migrations} reached"), started
        band = max(pol.noise_band, 1e-9)  # nodes within the noise band of each other rank by name
        ranked = sorted(state.balance, key=lambda n: (-round(state.score(n) / band), n))
        targets = list(reversed(ranked))[:TARGETS_PER_ROUND]
        scan = _scan_round(draft, best_seen, ranked, targets, sized)
        if scan.chosen is None:
            for vmid, cause in best_seen.items():
                for v in draft.sub_unit(vmid):
                    draft.decisions.setdefault(v, held(v, state.placement[v], cause))
            margin = pol.min_improvement
            text = f"no move improves the balance by more than min_improvement {margin:g} pp + its cost"
            return Stop("min_improvement", text), started
        _, mv, gain, cost = scan.chosen
        copied = mv.load.copy_bytes / GIB
        draft.apply(mv, f"gains {gain:.1f} pp of balance (cost {cost:.1f} pp for {copied:.1f} GiB to copy)")
        rows = sized[mv.src]
        at = next(i for i, r in enumerate(rows) if r[1][0] == mv.unit)
        row = rows.pop(at)
        key = sum(
            w * 100.0 * mv.load.metric[i] / state.cap[mv.dst][i]
            for i, w in state.active
            if state.cap[mv.dst][i] > 0
        )
        insort(sized[mv.dst], (key, row[1]), key=lambda r: (r[0], r[1][0][0]))
    return Stop("rounds", "stopped at the safety cap on balancing rounds"), started


def plan_greedy(draft: Draft, trigger: Trigger, previous: Mapping[VmId, str] | None = None) -> Stop:
    """Phases A and B on `draft`; returns why balancing stopped.

    Balancing can make room for a repair that failed before (a partner left, memory freed), so
    A and B alternate until a repair round changes nothing (at most REPAIR_ROUNDS rounds) — the end
    state then offers neither a repair nor a balancing move, which is what re-planning would see.
    `previous` (last cycle's planned vmid → target) is replayed first (planning/replay.py).
    """
    base = list(draft.unmet)
    stop = Stop(trigger.stop.name, trigger.reason)
    started = trigger.balance
    if previous and not (trigger.hot_nodes or trigger.hot_guests):
        started = replay(draft, previous, trigger, started, _in_cooldown(draft))
    for round_no in range(REPAIR_ROUNDS):
        kept = [u for u in draft.unmet if u.kind == "relaxed"]
        draft.unmet = base + [u for u in kept if u not in base]
        before = draft.changes
        repair(draft)
        restore_headroom(draft)  # mode require only
        if round_no > 0 and draft.changes == before:
            break
        if trigger.hot_nodes or trigger.hot_guests:
            return psi_relief(draft, trigger, _in_cooldown(draft)) if round_no == 0 else stop
        if draft.problem.policy.mode is Mode.PSI and not trigger.psi_fallback:
            return stop
        stop, started = _balance(draft, started)
    return stop
