"""Hard and soft placement checks: small named objects in one registry. Pure.

Every check answers one question about moving a *unit* (a guest, or an affinity group that must
stay together) from its node to a target in the current what-if `LoadState`: None when fine,
otherwise its detail ("needs 8.0 GiB, 3.2 GiB free after reserve"), which `first_failure` and
`all_verdicts` hand on as a typed `Rejection` (check name + detail).

Invariants: `hard` checks are never relaxed by any planner; `soft` checks (non-strict pins and
affinity rules) hold for balancing moves and are relaxed only when a drain or a hard-rule repair
has no other way out — that relaxation is then reported as unmet. Checks never mutate the state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from proxlb.domain.decision import Quantity, Rejection
from proxlb.domain.model import VmId
from proxlb.domain.plan import MigrationReason
from proxlb.domain.resources import GIB
from proxlb.planning.metrics import GuestLoad, LoadState, add_loads


@dataclass(frozen=True, slots=True)
class Move:
    """A candidate move of one unit (co-located guests) from src to dst."""

    unit: tuple[VmId, ...]
    src: str
    dst: str
    reason: MigrationReason
    load: GuestLoad

    @staticmethod
    def of(state: LoadState, unit: tuple[VmId, ...], dst: str, reason: MigrationReason) -> Move:
        load = state.gload[unit[0]] if len(unit) == 1 else add_loads([state.gload[v] for v in unit])
        return Move(unit, state.placement[unit[0]], dst, reason, load)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    hard: bool
    run: Callable[[LoadState, Move], CheckAnswer]


# A check's answer: None (fine), its detail, or a Rejection when it has numbers or blocking guests
# to report (the check's name is filled in by `first_failure` / `all_verdicts`).
CheckAnswer = str | Rejection | None


def _no(detail: str, *numbers: Quantity, blocked_by: tuple[VmId, ...] = ()) -> Rejection:
    return Rejection("", detail, numbers, blocked_by)


def _rejection(check: Check, verdict: str | Rejection) -> Rejection:
    if isinstance(verdict, Rejection):
        return replace(verdict, check=check.name)
    return Rejection(check.name, verdict)


def _gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def _node_online(state: LoadState, mv: Move) -> str | None:
    if mv.dst not in state.problem.index.online:
        return f"{mv.dst} is offline"
    return None


def _not_drained(state: LoadState, mv: Move) -> str | None:
    why = state.problem.index.drained.get(mv.dst)
    return f"{mv.dst} is drained ({why})" if why is not None else None


def _memory(state: LoadState, mv: Move) -> CheckAnswer:
    need, used, limit = mv.load.used_mem, state.used_mem[mv.dst], state.mem_limit[mv.dst]
    if need and used + need > limit:
        free = max(0, limit - used)
        return _no(
            f"needs {_gib(need)} memory, {_gib(free)} free after reserve",
            Quantity("needs", need / GIB, "GiB"),
            Quantity("free", free / GIB, "GiB"),
        )
    return None


def _memory_assigned(state: LoadState, mv: Move) -> CheckAnswer:
    from proxlb.planning.policy import Mode

    if state.problem.policy.mode is not Mode.ASSIGNED:
        return None
    need, used, limit = mv.load.assigned_mem, state.assigned[mv.dst], state.mem_limit[mv.dst]
    if need and used + need > limit:
        free = max(0, limit - used)
        return _no(
            f"needs {_gib(need)} assigned memory, {_gib(free)} unassigned after reserve",
            Quantity("needs", need / GIB, "GiB"),
            Quantity("unassigned", free / GIB, "GiB"),
        )
    return None


def _fill(used: float, limit: float) -> float:
    return used / limit if limit > 0 else float("inf")


def _source_fill(
    used: dict[str, float] | dict[str, int], limit: dict[str, float] | dict[str, int], src: str
) -> float:
    """How full the move's source is; 0 for a new guest (best-node), so the cap holds strictly there."""
    return _fill(used[src], limit[src]) if src in limit else 0.0


def _overprovisioning(state: LoadState, mv: Move) -> str | None:
    """No balancing move pushes a node past its usable memory in configured sizes.

    On a cluster that is already over-assigned this would freeze everything, so a move that leaves
    the target less over-assigned than its source was is still allowed: it never makes the worst
    node worse.
    """
    if state.problem.policy.overprovisioning or mv.reason is not MigrationReason.BALANCE:
        return None
    need, used, limit = mv.load.assigned_mem, state.assigned[mv.dst], state.mem_limit[mv.dst]
    source_fill = _source_fill(state.assigned, state.mem_limit, mv.src)
    if need and used + need > limit and _fill(used + need, limit) > source_fill:
        return (
            f"would overprovision {mv.dst}: assigned memory {_gib(used + need)} > {_gib(limit)} usable "
            "(overprovisioning: false)"
        )
    return None


def _cpu_overcommit(state: LoadState, mv: Move) -> CheckAnswer:
    """Σ vCPUs on the target stay within cores × cpu_overcommit.

    Clusters often already run above the cap (3–4 vCPUs per core is common). A move past the cap
    is still allowed when the target ends less overcommitted than its source was: the cluster's
    highest ratio never rises, so balancing an over-committed cluster is not frozen.
    """
    if state.problem.policy.cpu_overcommit is None:
        return None  # no cap set: vCPUs only weigh in the choice between near-equal moves
    need, used, cap = mv.load.vcpu_milli, state.vcpu[mv.dst], state.vcpu_cap[mv.dst]
    source_ratio = _source_fill(state.vcpu, state.vcpu_cap, mv.src)
    if need and used + need > cap and _fill(used + need, cap) > source_ratio:
        ratio = state.problem.policy.cpu_overcommit
        return _no(
            f"{(used + need) / 1000:.0f} vCPUs would exceed {cap / 1000:.0f} (cpu_overcommit {ratio:g})",
            Quantity("vcpus", (used + need) / 1000, "vCPU"),
            Quantity("cap", cap / 1000, "vCPU"),
        )
    return None


def _disk(state: LoadState, mv: Move) -> CheckAnswer:
    need = mv.load.disk
    if not need:
        return None
    node = state.problem.snapshot.node(mv.dst)
    if node is not None and node.storages:
        for vmid in mv.unit:
            guest = state.problem.snapshot.guest(vmid)
            missing = sorted(guest.local_storages - node.storages) if guest else []
            if missing:
                return f"{mv.dst} lacks local storage {', '.join(missing)}"
    limit, used = state.disk_limit[mv.dst], state.disk[mv.dst]
    if limit > 0 and used + need > limit:
        free = max(0, limit - used)
        return _no(
            f"needs {_gib(need)} local disk, {_gib(free)} free after reserve",
            Quantity("needs", need / GIB, "GiB"),
            Quantity("free", free / GIB, "GiB"),
        )
    return None


def _pins(strict: bool) -> Callable[[LoadState, Move], str | None]:
    def run(state: LoadState, mv: Move) -> str | None:
        idx = state.problem.index
        table = idx.strict_pins if strict else idx.soft_pins
        for vmid in mv.unit:
            allowed = table.get(vmid)
            if allowed is None or mv.dst in allowed:
                continue
            if not strict and mv.src not in allowed and mv.reason is MigrationReason.BALANCE:
                continue  # already outside its preferred nodes: moving elsewhere makes nothing worse
            kind = "pinned" if strict else "prefers"
            return f"guest {vmid} is {kind} to {', '.join(sorted(allowed))}"
        return None

    return run


def _priorities(state: LoadState, mv: Move) -> str | None:
    if mv.reason is not MigrationReason.BALANCE:
        return None
    for vmid in mv.unit:
        prio = state.problem.index.priorities.get(vmid)
        if prio and prio.get(mv.dst, 0) < prio.get(mv.src, 0):
            return (
                f"guest {vmid} prefers {mv.src} (HA priority {prio.get(mv.src, 0)} > {prio.get(mv.dst, 0)})"
            )
    return None


def _no_return(state: LoadState, mv: Move) -> str | None:
    """Balancing never sends a guest back to a node it left within the return window (ping-pong);
    drains and rule repairs may (they are not balancing)."""
    if mv.reason is not MigrationReason.BALANCE:
        return None
    left = state.problem.recently_left
    for vmid in mv.unit:
        if mv.dst in left.get(vmid, ()):
            return f"guest {vmid} left {mv.dst} recently (no return move for balance)"
    return None


def _anti_affinity(strict: bool) -> Callable[[LoadState, Move], CheckAnswer]:
    def run(state: LoadState, mv: Move) -> CheckAnswer:
        for vmid in mv.unit:
            for rule in state.problem.index.anti.get(vmid, ()):
                if rule.strict != strict:
                    continue
                there = state.members_on(rule, mv.dst)  # O(members on that node), not O(rule)
                others = [o for o in there if o not in mv.unit]
                if others:
                    why = f"anti-affinity {rule.group}: guest {min(others)} already runs on {mv.dst}"
                    return _no(why, blocked_by=(min(others),))
        return None

    return run


CHECKS: tuple[Check, ...] = (
    Check("node-online", True, _node_online),
    Check("not-drained", True, _not_drained),
    Check("strict-pin", True, _pins(strict=True)),
    Check("anti-affinity", True, _anti_affinity(strict=True)),
    Check("memory", True, _memory),
    Check("memory-assigned", True, _memory_assigned),
    Check("cpu-overcommit", True, _cpu_overcommit),
    Check("disk", True, _disk),
    Check("overprovisioning", True, _overprovisioning),
    Check("preferred-pin", False, _pins(strict=False)),
    Check("ha-priority", False, _priorities),
    Check("soft-anti-affinity", False, _anti_affinity(strict=False)),
    Check("no-return", False, _no_return),
)
HARD_CHECKS: tuple[Check, ...] = tuple(c for c in CHECKS if c.hard)
SOFT_CHECKS: tuple[Check, ...] = tuple(c for c in CHECKS if not c.hard)


def soft_failure(state: LoadState, mv: Move) -> Rejection | None:
    """The first soft check that rejects a move already known to pass every hard check (what
    `first_failure(soft=True)` would answer then, without running the hard checks again)."""
    for check in SOFT_CHECKS:
        why = check.run(state, mv)
        if why is not None:
            return _rejection(check, why)
    return None


def first_failure(state: LoadState, mv: Move, soft: bool = True) -> Rejection | None:
    """The first check that rejects the move, or None when all pass."""
    if mv.dst == mv.src:
        return Rejection("same-node", f"already on {mv.dst}")
    for check in CHECKS if soft else HARD_CHECKS:  # hard ones come first in CHECKS
        why = check.run(state, mv)
        if why is not None:
            return _rejection(check, why)
    return None


def all_verdicts(state: LoadState, mv: Move) -> list[Rejection]:
    """Every failing check (for explanations)."""
    out = []
    for check in CHECKS:
        why = check.run(state, mv)
        if why is not None:
            out.append(_rejection(check, why))
    return out
