"""Exact placement with OR-Tools CP-SAT for small and medium clusters. Pure (no I/O; no clock).

Model: one boolean x[u, n] per movable unit (a guest with its whole affinity group) and allowed
node n (balance nodes ∩ strict pins ∩ preferred pins the unit already honours ∩ nodes holding its
local storages). Hard: each unit on exactly one node; drained nodes never chosen; real memory,
CPU overcommit, local disk and (mode `assigned` / `overprovisioning: false`) assigned memory
within capacity − reserve; no two members of an anti-affinity rule on one node (soft rules too,
unless already broken). A node already over a limit accepts no newcomers. A unit whose move
would be a balancing move (no member on a drained node or in a broken rule) stays home while a
member is in cooldown, and is never placed on a node a member left within the return window
(`recently_left`) — the same soft no-return rule and cooldown greedy and replay honour; a drain or
a repair may still go back there, as `checks._no_return` allows.
Objective (integer, basis points = 1/100 pp): Σ_r w_r · (max_r − min_r) of node load % when
balancing is wanted, plus for every moved unit 100 × (min_improvement + cost_per_gib × GiB) — so
a move must buy more spread than it costs, the same margin the greedy planner uses.

Invariants: deterministic (single worker, fixed seed, `max_deterministic_time` from
solver.timeout_seconds); the result is only a proposal — the caller sequences and validates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxlb.domain.model import VmId
from proxlb.domain.plan import Migration, MigrationReason, UnmetRule
from proxlb.domain.resources import GIB, MIB
from proxlb.planning.metrics import LoadState, add_loads
from proxlb.planning.policy import Mode
from proxlb.planning.problem import PlanningProblem, fixed_reason
from proxlb.planning.pve_balancer import moved_lately, pve_owned
from proxlb.planning.trigger import balance_wanted, violations


@dataclass(frozen=True)
class SolverResult:
    moves: tuple[Migration, ...] | None
    status: str
    unmet: tuple[UnmetRule, ...] = ()
    stats: dict[str, float] = field(default_factory=dict)


def _units(problem: PlanningProblem, state: LoadState) -> tuple[list[tuple[VmId, ...]], list[UnmetRule]]:
    """Movable units (whole affinity groups); groups held by an immovable member on 2+ nodes stay."""
    seen: set[VmId] = set()
    units: list[tuple[VmId, ...]] = []
    unmet: list[UnmetRule] = []
    for g in problem.snapshot.guests:
        if g.vmid in seen:
            continue
        members = problem.index.members_of(g.vmid)
        seen.update(members)
        fixed_nodes = {
            state.placement[m]
            for m in members
            if fixed_reason(problem, problem.snapshot.guest(m)) is not None  # type: ignore[arg-type]
        }
        if len(fixed_nodes) > 1:
            unmet.append(
                UnmetRule(f"affinity of guests {list(members)}", "immovable members sit on several nodes")
            )
            continue
        units.append(members)
    return units, unmet


def solve_cpsat(problem: PlanningProblem) -> SolverResult:
    """Optimal (or best found in time) placement; moves None when no solution was found or skipped."""
    from ortools.sat.python import cp_model

    pol, idx = problem.policy, problem.index
    state = LoadState.of(problem)
    units, unmet = _units(problem, state)
    if len(units) > pol.solver.max_units:
        return SolverResult(None, f"skipped: {len(units)} units > {pol.solver.max_units}")
    nodes = list(state.balance)
    if not nodes:
        return SolverResult(None, "no node can take guests")
    wanted, _ = balance_wanted(state, starting=True)
    broken = _broken(problem, state)
    cooling = _in_cooldown(problem)
    model = cp_model.CpModel()
    x: dict[tuple[int, str], Any] = {}
    fixed_units: dict[int, str] = {}
    for u, members in enumerate(units):
        fixed = [m for m in members if fixed_reason(problem, problem.snapshot.guest(m)) is not None]  # type: ignore[arg-type]
        homes = {state.placement[m] for m in members}
        balance_only = not any(state.placement[m] in idx.drained or m in broken for m in members)
        if balance_only and len(homes) == 1 and any(m in cooling for m in members):
            fixed_units[u] = next(iter(homes))  # cooldown: no balancing move, as in greedy
            continue
        if fixed:
            home = state.placement[fixed[0]]
            if home not in idx.online or home in idx.drained or len(homes) == 1:
                fixed_units[u] = home
                continue
            allowed = [home] if home in nodes else []
        else:
            allowed = [n for n in nodes if _allowed(problem, state, members, n)]
            if balance_only:  # no-return: never balanced back to a node a member just left
                left = frozenset().union(*(problem.recently_left.get(m, frozenset()) for m in members))
                allowed = [n for n in allowed if n in homes or n not in left]
        if not allowed:
            if len(homes) == 1 and next(iter(homes)) in nodes:
                allowed = list(homes)
            else:
                unmet.append(
                    UnmetRule(f"placement of guests {list(members)}", "no node satisfies every hard rule")
                )
                fixed_units[u] = state.placement[members[0]]
                continue
        for n in allowed:
            x[u, n] = model.new_bool_var(f"x{u}_{n}")
        model.add_exactly_one(x[u, n] for n in allowed)
    # loads of what stays put (fixed units and guests outside the model)
    movable = {u for u in range(len(units)) if u not in fixed_units}
    loads = {u: add_loads([state.gload[m] for m in units[u]]) for u in movable}
    residual = {n: list(state.load[n]) for n in nodes}
    res_mem = {n: state.used_mem[n] for n in nodes}
    res_cpu = {n: state.vcpu[n] for n in nodes}
    res_asg = {n: state.assigned[n] for n in nodes}
    res_disk = {n: state.disk[n] for n in nodes}
    for u in movable:
        for m in units[u]:
            here = state.placement[m]
            if here in residual:
                gl = state.gload[m]
                for i in range(3):
                    residual[here][i] -= gl.metric[i]
                res_mem[here] -= gl.used_mem
                res_cpu[here] -= gl.vcpu_milli
                res_asg[here] -= gl.assigned_mem
                res_disk[here] -= gl.disk
    check_assigned = pol.mode is Mode.ASSIGNED or not pol.overprovisioning
    for n in nodes:
        cands = [u for u in movable if (u, n) in x]
        limits = [
            (res_mem[n], state.used_mem[n], state.mem_limit[n], [loads[u].used_mem for u in cands], MIB),
        ]
        if pol.cpu_overcommit is not None:
            limits.append(
                (res_cpu[n], state.vcpu[n], int(state.vcpu_cap[n]), [loads[u].vcpu_milli for u in cands], 1)
            )
        if state.disk_limit[n] > 0:
            limits.append(
                (res_disk[n], state.disk[n], state.disk_limit[n], [loads[u].disk for u in cands], MIB)
            )
        if check_assigned:
            limits.append(
                (
                    res_asg[n],
                    state.assigned[n],
                    state.mem_limit[n],
                    [loads[u].assigned_mem for u in cands],
                    MIB,
                )
            )
        for residual_value, current, limit, sizes, scale in limits:
            terms = [
                x[u, n] * (s // scale + (1 if s % scale else 0))
                for u, s in zip(cands, sizes, strict=True)
                if s
            ]
            if current > limit:  # already over: only what is tcands now may stay
                for u in cands:
                    if not all(state.placement[m] == n for m in units[u]):
                        model.add(x[u, n] == 0)
                continue
            model.add(sum(terms) <= (limit - residual_value) // scale)
    broken_rules = {v.rule for v in violations(problem, state.placement) if v.kind == "anti-affinity"}
    for rule in problem.constraints.anti_affinities:
        if not rule.strict and f"anti-affinity {rule.source}" in broken_rules:
            continue
        holders = [u for u in movable if any(m in rule.members for m in units[u])]
        if any(sum(1 for m in units[u] if m in rule.members) > 1 for u in holders):
            unmet.append(
                UnmetRule(f"anti-affinity {rule.source}", "members are also bound together by affinity")
            )
            continue
        for n in nodes:
            fixed_here = sum(
                1 for u, h in fixed_units.items() if h == n for m in units[u] if m in rule.members
            )
            terms = [x[u, n] for u in holders if (u, n) in x]
            if terms:
                model.add(sum(terms) <= max(0, 1 - fixed_here))
    # objective
    objective = []
    if wanted:
        for i, w in state.active:
            lo, hi = model.new_int_var(0, 10**7, f"lo{i}"), model.new_int_var(0, 10**7, f"hi{i}")
            for n in nodes:
                cap = state.cap[n][i]
                if cap <= 0:
                    continue
                expr = round(10000 * residual[n][i] / cap) + sum(
                    x[u, n] * round(10000 * loads[u].metric[i] / cap) for u in movable if (u, n) in x
                )
                model.add(hi >= expr)
                model.add(lo <= expr)
            objective.append(round(100 * w) * (hi - lo))
    for u in movable:
        home = state.placement[units[u][0]]
        if (u, home) in x and all(state.placement[m] == home for m in units[u]):
            penalty = round(100 * 100 * (pol.min_improvement + pol.cost_per_gib * loads[u].copy_bytes / GIB))
            objective.append((1 - x[u, home]) * max(1, penalty))
    model.minimize(sum(objective))
    solver = cp_model.CpSolver()
    solver.parameters.num_search_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = max(0.1, pol.solver.timeout_seconds)
    solver.parameters.max_time_in_seconds = max(0.1, 3 * pol.solver.timeout_seconds)
    code = solver.solve(model)
    status = solver.status_name(code)
    stats = {
        "cpsat_status_optimal": 1.0 if code == cp_model.OPTIMAL else 0.0,
        "cpsat_units": float(len(movable)),
    }
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SolverResult(None, status, tuple(unmet), stats)
    stats["cpsat_objective"] = float(solver.objective_value)
    moves = _moves(problem, state, units, movable, x, solver, broken)
    return SolverResult(moves, status, tuple(unmet), stats)


def _broken(problem: PlanningProblem, state: LoadState) -> frozenset[VmId]:
    """Guests in a broken rule (other than a drain): their moves are repairs, not balancing."""
    viols = violations(problem, state.placement)
    return frozenset(v for viol in viols for v in viol.vmids if viol.kind != "drain")


def _in_cooldown(problem: PlanningProblem) -> frozenset[VmId]:
    """Guests moved within `cooldown_minutes` (greedy's `_in_cooldown`): no balancing move for them."""
    limit = problem.policy.cooldown_seconds
    recent = problem.recently_moved.items()
    # HA resources left to PVE 9.2's auto-rebalance stay home for balance too (planning/pve_balancer.py)
    recently = frozenset(v for v, t in recent if limit > 0 and problem.now - t < limit)
    return recently | frozenset(moved_lately(problem)) | pve_owned(problem)


def _allowed(problem: PlanningProblem, state: LoadState, members: tuple[VmId, ...], node: str) -> bool:
    idx = problem.index
    snap_node = problem.snapshot.node(node)
    for m in members:
        strict = idx.strict_pins.get(m)
        if strict is not None and node not in strict:
            return False
        soft = idx.soft_pins.get(m)
        if soft is not None and state.placement[m] in soft and node not in soft:
            return False
        guest = problem.snapshot.guest(m)
        storages = snap_node.storages if snap_node else frozenset()
        if guest and guest.local_storages and storages and not guest.local_storages <= storages:
            return False
    return True


def _moves(
    problem: PlanningProblem,
    state: LoadState,
    units: list[tuple[VmId, ...]],
    movable: set[int],
    x: dict[tuple[int, str], Any],
    solver: Any,
    broken: frozenset[VmId],
) -> tuple[Migration, ...]:
    idx = problem.index
    out: list[Migration] = []
    for u in sorted(movable):
        for (uu, n), var in x.items():
            if uu != u or not solver.value(var):
                continue
            for m in units[u]:
                src = state.placement[m]
                if src == n:
                    continue
                guest = problem.snapshot.guest(m)
                assert guest is not None
                reason = (
                    MigrationReason.DRAIN
                    if src in idx.drained
                    else MigrationReason.RULE
                    if m in broken
                    else MigrationReason.BALANCE
                )
                out.append(
                    Migration(
                        vmid=m,
                        name=guest.name,
                        kind=guest.kind,
                        source=src,
                        target=n,
                        reason=reason,
                        detail=f"CP-SAT placement ({reason.value})",
                        bytes_to_copy=state.gload[m].copy_bytes,
                        ha_managed=guest.ha_managed,
                        running=guest.running,
                    )
                )
    return tuple(out)
