"""Order a set of moves into steps that are safe at every instant. Pure.

A step's moves may run concurrently. A move is admitted into a step only when, with every move of
earlier steps finished and the other moves of this step in flight (their memory counted on BOTH
their source and target), its target stays within memory capacity − reserve and hosts no
anti-affinity partner that will not end up there anyway. Moves that wait on each other (a swap on
full nodes) are untangled with a temporary PARKING move to a node with room; a guest is parked at
most once. What still cannot be ordered is dropped and reported as unmet — the plan shrinks, it
never becomes unsafe.

Within a step, moves are listed in the order the executor should start them: by priority (drain <
rule < balance), then the longest expected duration first (LPT, `expected_seconds`: local disks at
storage speed, a running VM's memory at link speed, fixed start/stop, the HA stack's delay), then
the planner's order. Started first, the longest copies overlap the many short ones instead of
running alone at the end while the other lanes idle.

Invariants: deterministic; `depends_on` lists the guests whose earlier moves freed the target or
cleared an anti-affinity partner (the executor relies on it alone: it does not wait for whole steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from proxlb.domain.model import GuestKind, VmId
from proxlb.domain.plan import Migration, MigrationReason, UnmetRule
from proxlb.planning.checks import Move, first_failure
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem

_PRIORITY = {
    MigrationReason.DRAIN: 0,
    MigrationReason.RULE: 1,
    MigrationReason.PARKING: 1,
    MigrationReason.BALANCE: 2,
}


def _partners(problem: PlanningProblem, vmid: VmId, strict_only: bool = False) -> set[VmId]:
    out: set[VmId] = set()
    for rule in problem.index.anti.get(vmid, ()):
        if rule.strict or not strict_only:
            out.update(m for m in rule.members if m != vmid)
    return out


def sequence(
    moves: Sequence[Migration], problem: PlanningProblem
) -> tuple[tuple[Migration, ...], tuple[UnmetRule, ...]]:
    """Steps and dependencies for `moves` (each guest at most once); returns (ordered moves, unmet)."""
    state = LoadState.of(problem)
    final = dict(state.placement)
    for m in moves:
        final[m.vmid] = m.target
    pending = sorted(enumerate(moves), key=lambda im: (_PRIORITY[im[1].reason], im[0]))
    queue = [m for _, m in pending]
    out: list[Migration] = []
    departures: dict[str, list[tuple[int, VmId]]] = {}
    moved_at: dict[VmId, int] = {}
    parked: set[VmId] = set()
    unmet: list[UnmetRule] = []
    step = 0
    while queue:
        incoming: dict[str, int] = {}
        arriving: dict[str, set[VmId]] = {}
        admitted: list[Migration] = []
        rest: list[Migration] = []
        for m in queue:
            if _admissible(problem, state, final, m, incoming, arriving):
                admitted.append(m)
                load = state.gload[m.vmid]
                incoming[m.target] = incoming.get(m.target, 0) + load.used_mem
                arriving.setdefault(m.target, set()).add(m.vmid)
            else:
                rest.append(m)
        if not admitted:
            parking = _park(problem, state, final, rest, parked)
            relaxed = [m for m in rest if _admissible(problem, state, final, m, {}, {}, soft_ok=True)][:1]
            if parking is None and relaxed:
                # only soft anti-affinity holds the queue: let one move share a node briefly
                admitted, rest = relaxed, [m for m in rest if m is not relaxed[0]]
            elif parking is None:
                for m in rest:
                    unmet.append(
                        UnmetRule(
                            f"move of guest {m.vmid} {m.source} → {m.target}",
                            "cannot be ordered without overfilling a node or co-locating an anti-affinity "
                            "pair, and no node can take it temporarily",
                            "sequence",
                            (m.vmid,),
                        )
                    )
                break
            else:
                park_move, index = parking
                parked.add(park_move.vmid)
                admitted = [park_move]
                rest[index] = replace(rest[index], source=park_move.target)
        for m in admitted:
            deps = sorted({v for _, v in departures.get(m.target, ()) if v != m.vmid})
            deps += sorted(p for p in _partners(problem, m.vmid) if p in moved_at and p not in deps)
            out.append(replace(m, step=step, depends_on=tuple(deps)))
        for m in admitted:
            state.move(m.vmid, m.target)
            departures.setdefault(m.source, []).append((step, m.vmid))
            moved_at[m.vmid] = step
        queue = rest
        step += 1
    return _dispatch_order(out, problem), tuple(unmet)


# Nominal figures for ranking moves by expected duration; only their ratios matter for the order.
_LINK_BPS = 1024**3  # a 10 GbE migration network carries about 1 GiB/s
_DISK_BPS = 400 * 1024**2  # local disks are mirrored at storage speed, well below the link
_FIXED_S = {"live": 4.0, "restart": 8.0, "offline": 3.0}  # start/stop around the copy
_HA_S = 10.0  # the HA stack picks a request up on its next round


def expected_seconds(problem: PlanningProblem, m: Migration) -> float:
    """A move's expected duration, for ordering: fixed start/stop + local disks + live memory.

    Local disks copy at storage speed; a running VM's memory goes over the link; a container
    restarts (it copies no memory, but stops and starts); an HA-managed guest waits for the HA stack.
    """
    guest = problem.snapshot.guest(m.vmid)
    if guest is None:
        return m.bytes_to_copy / _LINK_BPS
    live = guest.kind is GuestKind.QEMU and guest.running
    fixed = _FIXED_S["live" if live else "restart" if guest.running else "offline"]
    memory = guest.usage.mem_bytes / _LINK_BPS if live else 0.0
    ha = _HA_S if m.ha_managed or guest.ha_managed else 0.0
    return fixed + ha + guest.local_disk_bytes / _DISK_BPS + memory


def _dispatch_order(moves: list[Migration], problem: PlanningProblem) -> tuple[Migration, ...]:
    """Steps in order; within a step by priority, then longest expected first (LPT), then as planned."""
    ranked = sorted(
        enumerate(moves),
        key=lambda im: (im[1].step, _PRIORITY[im[1].reason], -expected_seconds(problem, im[1]), im[0]),
    )
    return tuple(m for _, m in ranked)


def _admissible(
    problem: PlanningProblem,
    state: LoadState,
    final: dict[VmId, str],
    m: Migration,
    incoming: dict[str, int],
    arriving: dict[str, set[VmId]],
    soft_ok: bool = False,
) -> bool:
    if state.placement.get(m.vmid) != m.source:
        return False
    need = state.gload[m.vmid].used_mem
    if need and state.used_mem[m.target] + incoming.get(m.target, 0) + need > state.mem_limit[m.target]:
        return False
    for p in _partners(problem, m.vmid, strict_only=soft_ok):
        ends_there = final.get(p) == m.target
        if not ends_there and (state.placement.get(p) == m.target or p in arriving.get(m.target, set())):
            return False
    return True


def _park(
    problem: PlanningProblem,
    state: LoadState,
    final: dict[VmId, str],
    rest: list[Migration],
    parked: set[VmId],
) -> tuple[Migration, int] | None:
    """A temporary move that unblocks the queue: (parking migration, index of the move it serves)."""
    for index, m in enumerate(rest):
        if m.vmid in parked or state.placement.get(m.vmid) != m.source:
            continue
        for node in state.balance:
            if node in (m.source, m.target):
                continue
            mv = Move.of(state, (m.vmid,), node, MigrationReason.PARKING)
            if first_failure(state, mv, soft=False) is not None:
                continue
            if any(
                final.get(p) != node and state.placement.get(p) == node for p in _partners(problem, m.vmid)
            ):
                continue
            park = replace(
                m,
                target=node,
                reason=MigrationReason.PARKING,
                detail=f"parks on {node} until {m.target} has room (breaks a dependency cycle)",
            )
            return park, index
    return None
