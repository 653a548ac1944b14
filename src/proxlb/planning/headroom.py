"""Failover headroom in planning: measure it on a what-if state, veto moves that lower it, and
(mode `require`) add moves that restore it. Pure.

- `report_of(problem, state)`: the failover prediction (planning/failover.py) of a what-if state.
- `HeadroomGuard.veto(move)`: a balancing move is refused when it costs failover headroom
  ("failover-headroom" in decisions/explain): in mode prefer when it makes a failure that fits
  stop fitting; in mode require when, after it, the memory PVE HA could not place, summed over
  all failures, would be larger than before it.
- `restore_headroom(draft)`: mode require, while some failure does not fit: the one move (any
  movable unit off a failed node or off an overfilled survivor, to one of the nodes with the most
  free memory) that lowers the overflow most, then the fewest GiB; reason `rule`, detail
  "failover headroom: …". When no move lowers it, a warning says so and what would make it fit.

Invariants: deterministic (ties by GiB, vmid, node); never changes the state it measures except
through `Draft.apply`; cost is one prediction per failure per evaluated candidate, which is why
only planning modes prefer/require pay it (the default 'off' costs nothing).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence

from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, MigrationReason
from proxlb.domain.resources import GIB
from proxlb.planning.checks import Move, first_failure
from proxlb.planning.draft import Draft
from proxlb.planning.failover import ClusterView, FailoverReport, predict
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem

TARGETS = 3  # nodes with the most free memory tried per headroom move
UNITS_PER_SOURCE = 12  # largest-memory units tried per source node


def view_of(problem: PlanningProblem, state: LoadState, moved: dict[VmId, str] | None = None) -> ClusterView:
    """The prediction's input from a what-if state, optionally with `moved` (vmid → node) applied."""
    mem = dict(state.used_mem)
    placement: ChainMap[VmId, str] | dict[VmId, str] = state.placement
    if moved:
        for vmid, dst in moved.items():
            src = state.placement[vmid]
            need = state.gload[vmid].used_mem
            mem[src] -= need
            mem[dst] += need
        placement = ChainMap(dict(moved), state.placement)
    return ClusterView(
        snapshot=problem.snapshot,
        placement=placement,
        mem_used=mem,
        mem_usable=state.mem_limit,
        guest_mem=_GuestMem(state),
    )


class _GuestMem(Mapping[VmId, int]):
    """vmid → memory a restart brings, read from the state on demand (no per-candidate copy)."""

    def __init__(self, state: LoadState) -> None:
        self._loads = state.gload

    def __getitem__(self, vmid: VmId) -> int:
        return self._loads[vmid].used_mem

    def __iter__(self) -> Iterator[VmId]:
        return iter(self._loads)

    def __len__(self) -> int:
        return len(self._loads)


def report_of(
    problem: PlanningProblem, state: LoadState, moved: dict[VmId, str] | None = None
) -> FailoverReport:
    """Failover prediction of `state` (plus `moved`) for every node and configured failure domain."""
    return predict(view_of(problem, state, moved), problem.policy.failover.domains)


def gib(value: int) -> str:
    return f"{value / GIB:.1f} GiB"


def shortfall(report: FailoverReport) -> str:
    """The worst failure that does not fit, in one sentence."""
    bad = [f for f in report.failures if not f.fits]
    if not bad:
        return "every failure fits"
    worst = max(bad, key=lambda f: (f.overflow_bytes, f.name))
    guests = ", ".join(str(v) for v in worst.not_fitting[:6])
    return (
        f"losing {worst.name} leaves {gib(worst.overflow_bytes)} of HA guests without room (guests {guests})"
    )


class HeadroomGuard:
    """Vetoes balancing moves that cost failover headroom (see the module docstring).

    prefer: a move may not turn a failure that fits into one that does not (the number of failures
    without room may not grow); require: the memory without room, summed over all failures, may
    not grow at all.
    """

    def __init__(self, problem: PlanningProblem, state: LoadState) -> None:
        self.problem = problem
        self.state = state
        self.strict = problem.policy.failover.mode == "require"
        base = report_of(problem, state)
        self.base_short = base.overflow_bytes
        self.base_bad = sum(not f.fits for f in base.failures)

    def veto(self, mv: Move) -> str | None:
        after = report_of(self.problem, self.state, dict.fromkeys(mv.unit, mv.dst))
        if self.strict and after.overflow_bytes <= self.base_short:
            return None
        if not self.strict and sum(not f.fits for f in after.failures) <= self.base_bad:
            return None
        return f"it would lower the failover headroom: {shortfall(after)}"


def guard_for(problem: PlanningProblem, state: LoadState) -> HeadroomGuard | None:
    """A guard when the policy plans with failover headroom and some guest is HA managed."""
    if not problem.policy.failover.plans or not any(g.ha_state for g in problem.snapshot.guests):
        return None
    return HeadroomGuard(problem, state)


def _candidates(draft: Draft, report: FailoverReport) -> list[tuple[tuple[VmId, ...], str]]:
    state = draft.state
    sources: set[str] = set()
    for f in report.failures:
        if not f.fits:
            sources.update(f.failed)
            sources.update(s.node for s in f.survivors if s.short_bytes > 0)
    seen: set[VmId] = set()
    out: list[tuple[tuple[VmId, ...], str]] = []
    for src in sorted(sources):
        units = []
        for vmid, node in sorted(state.placement.items()):
            if node != src or vmid in seen:
                continue
            unit = draft.sub_unit(vmid)
            seen.update(unit)
            if draft.unit_blocker(unit, reroute=True) is None:
                units.append(unit)
        units.sort(key=lambda u: (-sum(state.gload[v].used_mem for v in u), u[0]))
        out.extend((u, src) for u in units[:UNITS_PER_SOURCE])
    return out


def restore_headroom(draft: Draft) -> None:
    """Mode require: moves that restore failover headroom (see the module docstring)."""
    problem, state = draft.problem, draft.state
    if problem.policy.failover.mode != "require":
        return
    if not any(g.ha_state for g in problem.snapshot.guests):
        return
    report = report_of(problem, state)
    while not report.all_fit and draft.budget_left():
        free = sorted(state.balance, key=lambda n: (state.used_mem[n] - state.mem_limit[n], n))
        best: tuple[tuple[int, int, int, str], Move, FailoverReport] | None = None
        for unit, src in _candidates(draft, report):
            mv_load = Move.of(state, unit, src, MigrationReason.RULE).load
            for dst in [n for n in free if n != src][:TARGETS]:
                mv = Move(unit, src, dst, MigrationReason.RULE, mv_load)
                if first_failure(state, mv, soft=False) is not None:
                    continue
                after = report_of(problem, state, dict.fromkeys(unit, dst))
                key = (after.overflow_bytes, mv_load.copy_bytes, int(unit[0]), dst)
                if best is None or key < best[0]:
                    best = (key, mv, after)
        if best is None or best[2].overflow_bytes >= report.overflow_bytes:
            draft.warnings.append(f"failover headroom cannot be restored by moving guests: {advice(report)}")
            return
        _, mv, after = best
        draft.apply(
            mv,
            f"failover headroom: {shortfall(report)}; "
            f"after this move {gib(after.overflow_bytes)} short in all",
        )
        report = after
    if not report.all_fit:
        draft.warnings.append(f"failover headroom not restored within max_migrations: {advice(report)}")


def advice(report: FailoverReport) -> str:
    """What would make every failure fit: memory to free, or which HA guests to make non-HA."""
    bad = [f for f in report.failures if not f.fits]
    if not bad:
        return "every failure fits"
    worst = max(bad, key=lambda f: (f.overflow_bytes, f.name))
    guests = sorted((r for r in worst.restarts if not r.fits), key=lambda r: (-r.mem_bytes, int(r.vmid)))
    names = ", ".join(str(r.vmid) for r in guests[:8])
    return (
        f"{shortfall(report)}; free {gib(worst.overflow_bytes)} of memory on the survivors "
        f"(or add capacity), or make guests {names} non-HA"
    )


def failover_now_and_after(
    problem: PlanningProblem, moves: Sequence[Migration]
) -> tuple[FailoverReport, FailoverReport] | None:
    """(now, after the plan) when `failover_headroom` is not off and some guest is HA managed."""
    if problem.policy.failover.mode == "off" or not any(g.ha_state for g in problem.snapshot.guests):
        return None
    state = LoadState.of(problem)
    now = report_of(problem, state)
    for m in moves:
        state.move(m.vmid, m.target)
    return now, report_of(problem, state)


def domain_warnings(problem: PlanningProblem) -> list[str]:
    """One sentence per failure-domain node the cluster does not have (a typo would otherwise make
    the domain silently smaller), when failover headroom is on."""
    if problem.policy.failover.mode == "off":
        return []
    known = set(problem.snapshot.node_names)
    out = []
    for name, nodes in sorted(problem.policy.failover.domains.items()):
        missing = sorted(n for n in nodes if n not in known)
        present = ", ".join(n for n in nodes if n in known) or "empty"
        if missing:
            out.append(
                f"balancing.failover_headroom.failure_domains.{name}: node(s) {', '.join(missing)} "
                f"are not in the cluster; the domain is {present}"
            )
    return out
