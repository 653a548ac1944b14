"""PSI mode: relieve pressure with one what-if-checked move per PSI window. Pure.

Pressure cannot be added or subtracted exactly, so a move is judged by an estimate from the guest's
own pressure and its share of the usage (per balanced resource r, node pressure p, guest pressure g):

- the source's relief: p_src × share of the source's usage the guest carries (its part of the stall);
- the target's pressure after the move: p_dst + g × share of the target's usage it will carry.

A target whose estimate would be hot (the node thresholds) is never picked, nor one that would raise
the spread or the highest node load of the balanced metric (`guard.keeps_balance`). Upstream
documents "at most one migration per 60 minutes" in PSI mode (it never implemented it): a PSI move
is planned only when no balancing move finished within `psi_window_minutes`, and one at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from proxlb.domain.decision import Cause, CauseKind, Stop, held
from proxlb.domain.model import Pressure, VmId
from proxlb.domain.plan import MigrationReason
from proxlb.planning.checks import Move, first_failure
from proxlb.planning.draft import Draft
from proxlb.planning.guard import keeps_balance
from proxlb.planning.metrics import GuestLoad, LoadState
from proxlb.planning.policy import RESOURCES, PsiLimit
from proxlb.planning.trigger import Trigger


@dataclass(frozen=True, slots=True)
class PressureGuess:
    """Estimated pressure of a node per resource after a move (some, full, full spike), in %."""

    by_resource: dict[str, Pressure]

    def hot(self, limits: dict[str, PsiLimit]) -> str | None:
        for r, p in sorted(self.by_resource.items()):
            lim = limits.get(r)
            if lim is None:
                continue
            if (p.full >= lim.pressure_full and p.some >= lim.pressure_some) or (
                p.full_spike >= lim.pressure_spikes
            ):
                return f"{r} pressure would reach some {p.some:.1f} % / full {p.full:.1f} %"
        return None


def _share(part: float, whole: float) -> float:
    return min(1.0, part / whole) if whole > 0 else 0.0


def _scaled(p: Pressure, by: float) -> Pressure:
    return Pressure(p.some * by, p.full * by, p.some_spike * by, p.full_spike * by)


def _plus(a: Pressure, b: Pressure) -> Pressure:
    return Pressure(
        a.some + b.some, a.full + b.full, a.some_spike + b.some_spike, a.full_spike + b.full_spike
    )


def target_pressure(state: LoadState, vmid: VmId, load: GuestLoad, dst: str) -> PressureGuess:
    """The target's pressure once the unit of `vmid` (its `load`) runs there (see the module doc)."""
    snap = state.problem.snapshot
    node, guest = snap.node(dst), snap.guest(vmid)
    out: dict[str, Pressure] = {}
    for i, _ in state.active:
        r = RESOURCES[i]
        now = node.pressure.of(r) if node is not None else Pressure()
        own = guest.pressure.of(r) if guest is not None and guest.pressure.known else Pressure()
        share = _share(load.metric[i], state.load[dst][i] + load.metric[i])
        out[r] = _plus(now, _scaled(own, share))
    return PressureGuess(out)


def source_relief(state: LoadState, load: GuestLoad, src: str) -> float:
    """How much `some` pressure (summed over balanced resources, in %) leaves `src` with the load."""
    node = state.problem.snapshot.node(src)
    if node is None:
        return 0.0
    return sum(
        node.pressure.of(RESOURCES[i]).some * _share(load.metric[i], state.load[src][i])
        for i, _ in state.active
    )


def _window_closed(draft: Draft) -> str | None:
    pb = draft.problem
    window = pb.policy.psi_window_minutes * 60.0
    last = pb.last_move_at
    if last is None or window <= 0 or pb.now - last >= window:
        return None
    until = datetime.fromtimestamp(last + window, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"PSI mode moves at most one guest per psi_window_minutes "
        f"({pb.policy.psi_window_minutes:g}); the next move is possible after {until}"
    )


def _candidates(draft: Draft, trigger: Trigger) -> list[tuple[VmId, str]]:
    state, snap = draft.state, draft.problem.snapshot
    out: list[tuple[VmId, str]] = []
    for vmid in trigger.hot_guests:
        out.append((vmid, f"guest {vmid} is under pressure"))
    for node in trigger.hot_nodes:
        for g in snap.guests_on(node):
            if g.running and state.placement.get(g.vmid) == node:
                out.append((g.vmid, f"relieves pressure on {node}"))
    return out


def _under_pressure(draft: Draft, vmid: VmId, name: str, detail: str) -> None:
    where = draft.state.placement.get(vmid, "")
    draft.decisions.setdefault(
        vmid, held(vmid, where, Cause(CauseKind.LIMIT, name, f"under pressure, but {detail}"))
    )


def psi_relief(draft: Draft, trigger: Trigger, cooldown: dict[VmId, float]) -> Stop:
    """Plan at most one pressure-relieving move (see the module docstring); returns why it stopped."""
    closed = _window_closed(draft)
    if closed is not None:
        for vmid in trigger.hot_guests:
            _under_pressure(draft, vmid, "psi_window_minutes", closed)
        return Stop("psi_window_minutes", closed)
    if not draft.budget_left():
        return Stop("max_migrations", f"max_migrations {draft.problem.policy.max_migrations} reached")
    state, limits = draft.state, dict(draft.problem.policy.psi_nodes)
    cool = [n for n in state.balance if n not in trigger.hot_nodes]
    best: tuple[tuple[float, float, float, int, str], Move, str] | None = None
    turned_down: dict[VmId, str] = {}
    for vmid, purpose in _candidates(draft, trigger):
        unit = draft.sub_unit(vmid)
        if vmid in draft.moved or vmid in cooldown or draft.unit_blocker(unit) is not None:
            continue
        for dst in cool:
            mv = Move.of(state, unit, dst, MigrationReason.BALANCE)
            if mv.src == dst:
                continue
            failure = first_failure(state, mv)
            if failure is not None:
                turned_down.setdefault(vmid, f"{dst}: {failure.detail}")
                continue
            guess = target_pressure(state, vmid, mv.load, dst)
            hot = guess.hot(limits)
            if hot is not None:
                turned_down.setdefault(vmid, f"{dst}: {hot}")
                continue
            if not keeps_balance(state, mv.load, mv.src, dst):
                turned_down.setdefault(vmid, f"{dst}: it would raise the spread or the highest node load")
                continue
            after = sum(p.some for p in guess.by_resource.values())
            relief = source_relief(state, mv.load, mv.src)
            key = (-round(relief, 1), round(after, 1), round(state.score(dst), 0), int(vmid), dst)
            if best is None or key < best[0]:
                best = (key, mv, purpose)
    for vmid in trigger.hot_guests:
        if vmid in turned_down and (best is None or vmid not in best[1].unit):
            _under_pressure(draft, vmid, "psi", f"no cool node fits ({turned_down[vmid]})")
    if best is None:
        return Stop(
            "psi", "pressure relief: no move relieves pressure without making a node hot or the balance worse"
        )
    _, mv, purpose = best
    draft.apply(mv, f"{purpose}; the target stays below its pressure thresholds")
    return Stop("psi", "pressure relief: one move per PSI window")
