"""One CP-SAT solve over some free units, the others held where the incumbent has them. Pure.

Model: x[u, n] per free unit u and node n of its domain (its allowed nodes within the
neighbourhood, plus where the incumbent has it); exactly one per unit. Caps (cpsat_prep) as rows
on the nodes the free units may reach, each with its right-hand side at least what the incumbent
already puts there, so the incumbent is always a solution: the model is never infeasible and the
hint (AddHint) is complete. Anti-affinity: Σ members on a node − 1 ≤ v, v ≥ 0 penalised per extra
member. Objective: the shared J (planning/score.py) in integers: Σ_r W_r (N Σ_n P_n² − S_r²) with
P in hundredths of a pp (when balancing is wanted), plus each unit's cost of its node (moves and
broken pins/drains), plus the anti-affinity penalties.

Invariants: deterministic for a fixed seed (one worker, `max_deterministic_time`); the answer never
has a higher objective than the incumbent it was hinted with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxlb.domain.model import VmId
from proxlb.planning.cpsat_prep import PP, Prepared
from proxlb.planning.policy import Mode

Placement = list[str | None]  # per unit: its node, or None = every member where it started


@dataclass(frozen=True)
class SubResult:
    changed: dict[int, str]  # unit → new node (only units that moved)
    status: str
    improved: bool
    bound: float | None  # lower bound of the model objective + held units' costs (model units)
    deterministic_time: float
    variables: int
    wall_time: float = 0.0  # CP-SAT's own search time (model building not included)
    wall_limited: bool = False  # the wall-clock limit, not the deterministic one, ended the search


class Totals:
    """Per node, what the units of a placement bring (kept up to date as units move)."""

    def __init__(self, pb: Prepared, placement: Placement) -> None:
        self.pb = pb
        self.raw = {n: list(v) for n, v in pb.base.items()}
        self.mem, self.vcpu = dict(pb.base_mem), dict(pb.base_vcpu)
        self.asg, self.asg_row, self.disk = dict(pb.base_asg), dict(pb.base_asg), dict(pb.base_disk)
        for u, at in enumerate(placement):
            self.shift(u, at, +1)

    def shift(self, u: int, at: str | None, sign: int) -> None:
        pb = self.pb
        unit = pb.units[u]
        for m, s in zip(unit.members, unit.start, strict=True):
            node = at if at is not None else s
            if node not in self.raw:
                continue
            ld = pb.state.gload[m]
            for i in range(3):
                self.raw[node][i] += sign * ld.metric[i]
            self.mem[node] += sign * ld.used_mem
            self.vcpu[node] += sign * ld.vcpu_milli
            self.asg[node] += sign * ld.assigned_mem
            self.disk[node] += sign * ld.disk
            if not (unit.repair and s != node):  # a repair's target is exempt from the assigned cap
                self.asg_row[node] += sign * ld.assigned_mem


OBJECTIVE_REACH = 2**60  # CP-SAT refuses (MODEL_INVALID) an objective that might overflow int64


class Objective:
    """The objective's terms, each with the most its variable can be: when the sum of |coef| × most
    could pass OBJECTIVE_REACH (a large neighbourhood on many nodes, with rule penalties far above
    any balance term), every coefficient is divided by one factor, rounded — the order of plans is
    kept up to that rounding, and the incumbent is still a solution."""

    def __init__(self) -> None:
        self.terms: list[tuple[int, Any, int]] = []

    def add(self, coef: int, var: Any, most: int = 1) -> None:
        if coef:
            self.terms.append((coef, var, max(1, most)))

    def minimize(self, model: Any) -> int:
        """Set the model's objective; returns the factor the coefficients were divided by."""
        from ortools.sat.python import cp_model

        reach = sum(abs(c) * m for c, _, m in self.terms)
        divisor = max(1, -(-reach // OBJECTIVE_REACH))
        kept = [(var, round(c / divisor)) for c, var, _ in self.terms if round(c / divisor)]
        model.minimize(cp_model.LinearExpr.weighted_sum([v for v, _ in kept], [c for _, c in kept]))
        return divisor


def _newcomer(pb: Prepared, u: int, node: str) -> bool:
    return any(s != node for s in pb.units[u].start)


def solve_sub(
    pb: Prepared,
    free: list[int],
    restrict: set[str] | None,
    placement: Placement,
    totals: Totals,
    det_time: float,
    seed: int,
    keep_spread: bool = False,
    wall_left: float | None = None,
) -> SubResult:
    """Re-optimise the `free` units (each within `restrict` ∪ its incumbent node) around the rest.

    `keep_spread`: the second, lexicographic phase — no balanced resource's spread (max − min, in
    the model's own rounding) above the incumbent's, and the fewest bytes copied (MiB; broken-rule
    penalties still count). `wall_left`: wall seconds this solve may take at most (the cycle's
    deadline, planning/budget.py); None: only the deterministic limit and a generous backstop."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x: dict[tuple[int, str], Any] = {}
    dom: dict[int, list[str]] = {}
    for u in free:
        unit, inc = pb.units[u], placement[u]
        assert inc is not None
        nodes = [n for n in unit.allowed if restrict is None or n in restrict or n == inc]
        nodes = [n for n in nodes if n == inc or n not in pb.closed or not _newcomer(pb, u, n)]
        dom[u] = nodes
        for n in nodes:
            x[u, n] = model.new_bool_var(f"x{u}_{n}")
        model.add_exactly_one(x[u, n] for n in nodes)
        model.add_hint(x[u, inc], True)
        for n in nodes:
            if n != inc:
                model.add_hint(x[u, n], False)
    touched = sorted({n for nodes in dom.values() for n in nodes if n in pb.state.in_balance})
    by_node: dict[str, list[int]] = {n: [] for n in touched}
    for u in free:
        for n in dom[u]:
            if n in by_node:
                by_node[n].append(u)
    _caps(model, pb, x, by_node, placement, totals)
    objective = Objective()
    _balance(model, pb, x, by_node, placement, totals, objective, keep_spread)
    _anti(model, pb, x, dom, free, placement, objective)
    for u in free:
        if not keep_spread:
            for n in dom[u]:
                objective.add(pb.units[u].cost[n], x[u, n])
            continue
        unit = pb.units[u]
        for n in dom[u]:
            mib = sum(
                pb.state.gload[m].copy_bytes for m, s in zip(unit.members, unit.start, strict=True) if s != n
            )
            weight = -(-mib // 2**20) + unit.cost[n] // pb.unmet_cost * pb.unmet_cost
            objective.add(weight, x[u, n])
    divisor = objective.minimize(model)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = max(0.01, det_time)
    # wall clock: the cycle's deadline when one is given, else a backstop that ends a solve only on
    # a machine ~30× slower than one core's ~0.35 deterministic s per s
    backstop = 10 * det_time / 0.35 + 5
    solver.parameters.max_time_in_seconds = backstop if wall_left is None else max(0.01, wall_left)
    code = solver.solve(model)
    status = solver.status_name(code)
    cut = (
        wall_left is not None
        and code != cp_model.OPTIMAL
        and solver.deterministic_time < 0.95 * det_time
        and solver.wall_time >= 0.9 * wall_left
    )
    held = sum(
        pb.units[u].cost.get(at, 0) for u, at in enumerate(placement) if at is not None and u not in dom
    )
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SubResult({}, status, False, None, solver.deterministic_time, len(x), solver.wall_time, cut)
    changed = {}
    for u in free:
        for n in dom[u]:
            if solver.value(x[u, n]) and n != placement[u]:
                changed[u] = n
    # a coarsened objective's bound is not J's: the caller falls back to its own lower bound
    bound = solver.best_objective_bound + held if divisor == 1 else None
    return SubResult(
        changed, status, bool(changed), bound, solver.deterministic_time, len(x), solver.wall_time, cut
    )


def _caps(
    model: Any,
    pb: Prepared,
    x: dict[tuple[int, str], Any],
    by_node: dict[str, list[int]],
    placement: Placement,
    tot: Totals,
) -> None:
    units = pb.units
    assigned_mode = pb.problem.policy.mode is Mode.ASSIGNED
    for n, us in by_node.items():
        here = [u for u in us if placement[u] == n]
        rows = (
            (tot.mem[n], pb.mem_cap.get(n), {u: units[u].used_mem for u in us}),
            (tot.vcpu[n], pb.vcpu_cap.get(n), {u: units[u].vcpu for u in us}),
            (tot.disk[n], pb.disk_cap.get(n), {u: units[u].disk for u in us}),
            (tot.asg[n], pb.asg_cap.get(n), {u: units[u].assigned for u in us}),
        )
        for k, (total, cap, size) in enumerate(rows):
            if cap is None:
                continue
            residual = total - sum(size[u] for u in here)
            terms = [x[u, n] * s for u, s in size.items() if s]
            if not terms:
                continue
            # never below what the incumbent already has there: it stays a solution
            row = sum(terms) <= max(cap, total) - residual
            if k < 3 or assigned_mode:
                model.add(row)
                continue
            # overprovisioning: false binds a node that receives a balancing move (validation's
            # rule); a repair's or a drain's target alone is exempt, as in greedy
            balancing_in = [x[u, n] for u in us if _balance_newcomer(pb, u, n)]
            if balancing_in:
                receives = model.new_bool_var(f"b{n}")
                for var in balancing_in:
                    model.add_implication(var, receives)
                model.add(row).only_enforce_if(receives)


def _balance_newcomer(pb: Prepared, u: int, node: str) -> bool:
    """Would ending on `node` make a balancing move of one of the unit's members?"""
    unit = pb.units[u]
    drained = pb.problem.index.drained
    return any(
        s != node and s not in drained and m not in pb.broken
        for m, s in zip(unit.members, unit.start, strict=True)
    )


def _balance(
    model: Any,
    pb: Prepared,
    x: dict[tuple[int, str], Any],
    by_node: dict[str, list[int]],
    placement: Placement,
    tot: Totals,
    objective: Objective,
    keep_spread: bool = False,
) -> None:
    if not pb.wanted:
        return
    big_n = len(pb.nodes)
    for i, w in pb.state.active:
        weight = round(100 * w)
        if weight <= 0:
            continue
        total_terms: list[Any] = []
        const = 0
        fixed_loads: list[int] = []
        ranges: list[tuple[int, int]] = []
        now: list[int] = []  # the incumbent's load per node, in the model's arithmetic
        for n in pb.nodes:
            if pb.state.cap[n][i] <= 0:
                continue
            if n not in by_node:
                fixed_loads.append(pb.pct_units(n, i, tot.raw[n][i]))
                const += fixed_loads[-1]
                continue
            us = by_node[n]
            residual = tot.raw[n][i] - sum(pb.units[u].raw[i] for u in us if placement[u] == n)
            base = pb.pct_units(n, i, residual)
            coef = {u: pb.pct_units(n, i, pb.units[u].raw[i]) for u in us}
            lo = base + sum(min(0, c) for c in coef.values())
            hi = base + sum(max(0, c) for c in coef.values())
            p = model.new_int_var(lo, hi, f"p{i}_{n}")
            model.add(p == base + sum(x[u, n] * c for u, c in coef.items() if c))
            total_terms.append(p)
            ranges.append((lo, hi))
            now.append(base + sum(c for u, c in coef.items() if placement[u] == n))
            if keep_spread:
                continue
            sq = model.new_int_var(0, max(lo * lo, hi * hi), f"sq{i}_{n}")
            model.add_multiplication_equality(sq, [p, p])
            objective.add(weight * big_n, sq, max(lo * lo, hi * hi))
        if not total_terms:
            continue
        # the spread term of J: N · w · (max − min)², max and min over every balanced node
        top = max([h for _, h in ranges] + fixed_loads)
        bottom = min([lo for lo, _ in ranges] + fixed_loads)
        high = model.new_int_var(max([lo for lo, _ in ranges] + fixed_loads), top, f"hi{i}")
        low = model.new_int_var(bottom, min([h for _, h in ranges] + fixed_loads), f"lo{i}")
        for p in total_terms:
            model.add(high >= p)
            model.add(low <= p)
        d = model.new_int_var(0, top - bottom, f"d{i}")
        model.add(d == high - low)
        if keep_spread:
            model.add(d <= max(now + fixed_loads) - min(now + fixed_loads))
            continue
        d2 = model.new_int_var(0, (top - bottom) ** 2, f"d2{i}")
        model.add_multiplication_equality(d2, [d, d])
        objective.add(weight * big_n * big_n, d2, (top - bottom) ** 2)
        s_hi = const + sum(PP * 1000 for _ in total_terms)
        s = model.new_int_var(-s_hi, s_hi, f"s{i}")
        model.add(s == const + sum(total_terms))
        s2 = model.new_int_var(0, s_hi * s_hi, f"s2{i}")
        model.add_multiplication_equality(s2, [s, s])
        objective.add(-weight, s2, s_hi * s_hi)


def _anti(
    model: Any,
    pb: Prepared,
    x: dict[tuple[int, str], Any],
    dom: dict[int, list[str]],
    free: list[int],
    placement: Placement,
    objective: Objective,
) -> None:
    free_set = set(free)
    for r, (members, penalty, strict) in enumerate(pb.anti):
        holders = sorted({pb.unit_of[m] for m in members if m in pb.unit_of})
        moving = [u for u in holders if u in free_set]
        if not moving:
            continue
        held: dict[str, int] = {}
        count: dict[int, int] = {}
        for u in holders:
            unit = pb.units[u]
            count[u] = sum(1 for m in unit.members if m in members)
            if u in free_set:
                continue
            for m, s in zip(unit.members, unit.start, strict=True):
                if m in members:
                    node = placement[u] or s
                    held[node] = held.get(node, 0) + 1
        for n in sorted({n for u in moving for n in dom[u]}):
            terms = [x[u, n] * count[u] for u in moving if (u, n) in x]
            if not terms:
                continue
            # the most members that can meet on n: this solve's movers that may go there and those
            # held there (a tight domain keeps the objective's range within CP-SAT's int64 checks)
            most = sum(count[u] for u in moving if (u, n) in x) + held.get(n, 0) - 1
            if most <= 0:
                continue
            v = model.new_int_var(0, most, f"a{r}_{n}")
            model.add(sum(terms) + held.get(n, 0) - 1 <= v)
            objective.add(penalty, v, most)
            newcomers = [x[u, n] for u in moving if (u, n) in x and any(s != n for s in pb.units[u].start)]
            if strict and newcomers:
                # as greedy's hard check and validation: a member never joins another on a node (an
                # existing clash may stay, at its penalty, when no move can resolve it)
                joined = model.new_bool_var(f"j{r}_{n}")
                for var in newcomers:
                    model.add_implication(var, joined)
                model.add(sum(terms) + held.get(n, 0) <= 1).only_enforce_if(joined)


def as_moves(pb: Prepared, placement: Placement) -> list[tuple[VmId, str, str]]:
    """(vmid, source, target) of every member the placement moves."""
    out: list[tuple[VmId, str, str]] = []
    for u, at in enumerate(placement):
        if at is None:
            continue
        unit = pb.units[u]
        out.extend((m, s, at) for m, s in zip(unit.members, unit.start, strict=True) if s != at)
    return out
