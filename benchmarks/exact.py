"""An exact yardstick for plan quality on small clusters (`make bench`, #16).

For a plan that reaches spread S with G GiB to copy, two exact CP-SAT models of the same cluster,
with the same units, allowed nodes and caps as our planners (planning/cpsat_prep.py):

- min GiB: the least GiB to copy (running memory + local disks) for a placement whose spread of
  every balanced resource is ≤ S;
- min spread: the smallest spread reachable while copying ≤ G GiB.

Every unit that the plan repaired (a drained node's guests, a broken pin) must be repaired in the
yardstick too. Spread is in hundredths of a pp, sizes in MiB (rounded up). Each model runs with
one worker for at most `seconds`; the row says whether the answer is proven optimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxlb.planning.cpsat_prep import PP, Prepared, prepare
from proxlb.planning.problem import PlanningProblem

MIB = 1024**2


@dataclass(frozen=True)
class Exact:
    value: float  # GiB or pp
    optimal: bool


def _model(pb: Prepared) -> tuple[Any, dict[tuple[int, str], Any], Any, list[Any]]:
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x: dict[tuple[int, str], Any] = {}
    copy_terms = []
    held: list[int] = []
    for u, unit in enumerate(pb.units):
        newcomer = {n: any(s != n for s in unit.start) for n in unit.allowed}
        nodes = [
            n for n in unit.allowed if unit.cost[n] < pb.unmet_cost and not (n in pb.closed and newcomer[n])
        ]
        nodes = nodes or [n for n in unit.allowed if unit.home == n]
        if not nodes:
            held.append(u)
            continue
        for n in nodes:
            x[u, n] = model.new_bool_var(f"x{u}_{n}")
        model.add_exactly_one(x[u, n] for n in nodes)
        for n in nodes:
            moved = [m for m, s in zip(unit.members, unit.start, strict=True) if s != n]
            mib = -(-sum(pb.state.gload[m].copy_bytes for m in moved) // MIB)
            if mib:
                copy_terms.append(x[u, n] * mib)
    spreads = []
    for i, _ in pb.state.active:
        lo, hi = model.new_int_var(-(10**7), 10**7, f"lo{i}"), model.new_int_var(-(10**7), 10**7, f"hi{i}")
        for n in pb.nodes:
            if pb.state.cap[n][i] <= 0:
                continue
            fixed = pb.base[n][i] + sum(
                pb.state.gload[m].metric[i]
                for u in held
                for m, s in zip(pb.units[u].members, pb.units[u].start, strict=True)
                if s == n
            )
            expr = pb.pct_units(n, i, fixed) + sum(
                x[u, n] * pb.pct_units(n, i, pb.units[u].raw[i]) for u in range(len(pb.units)) if (u, n) in x
            )
            model.add(hi >= expr)
            model.add(lo <= expr)
        spread = model.new_int_var(0, 2 * 10**7, f"spread{i}")
        model.add(spread == hi - lo)
        spreads.append(spread)
    _caps(model, pb, x, held)
    return model, x, sum(copy_terms), spreads


def _caps(model: Any, pb: Prepared, x: dict[tuple[int, str], Any], held: list[int]) -> None:
    """The caps of cpsat_prep, as cpsat_model applies them to the start placement."""
    gl = pb.state.gload
    rows = (
        (pb.base_mem, pb.mem_cap, lambda m: gl[m].used_mem),
        (pb.base_vcpu, pb.vcpu_cap, lambda m: gl[m].vcpu_milli),
        (pb.base_disk, pb.disk_cap, lambda m: gl[m].disk),
        (pb.base_asg, pb.asg_cap, lambda m: gl[m].assigned_mem),
    )
    for n in pb.nodes:
        for k, (base, cap, size) in enumerate(rows):
            if n not in cap:
                continue
            start = base[n] + sum(
                size(m) for u in pb.units for m, s in zip(u.members, u.start, strict=True) if s == n
            )
            const = base[n] + sum(
                size(m)
                for u in held
                for m, s in zip(pb.units[u].members, pb.units[u].start, strict=True)
                if s == n
            )
            terms = []
            for u, unit in enumerate(pb.units):
                if (u, n) not in x:
                    continue
                exempt = k == 3 and unit.repair and any(s != n for s in unit.start)
                amount = 0 if exempt else sum(size(m) for m in unit.members)
                if amount:
                    terms.append(x[u, n] * -(-amount // MIB))
            if terms:
                model.add(sum(terms) <= (max(cap[n], start) - const) // MIB)


def _solve(model: Any, seconds: float) -> tuple[Any, bool]:
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = seconds
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    return solver, code == cp_model.OPTIMAL


def min_gib(problem: PlanningProblem, spread_pp: float, seconds: float = 60.0) -> Exact | None:
    """The least GiB to copy for a placement with every balanced spread ≤ `spread_pp`."""
    pb = prepare(problem)
    model, _, copy, spreads = _model(pb)
    for s in spreads:
        model.add(s <= round(spread_pp * PP))
    model.minimize(copy)
    solver, optimal = _solve(model, seconds)
    return None if solver is None else Exact(round(solver.objective_value / 1024, 1), optimal)


def min_spread(problem: PlanningProblem, gib: float, seconds: float = 60.0) -> Exact | None:
    """The smallest spread (max over balanced resources) reachable copying ≤ `gib` GiB."""
    pb = prepare(problem)
    model, _, copy, spreads = _model(pb)
    model.add(copy <= int(gib * 1024))
    worst = model.new_int_var(0, 2 * 10**7, "worst")
    model.add_max_equality(worst, spreads)
    model.minimize(worst)
    solver, optimal = _solve(model, seconds)
    return None if solver is None else Exact(round(solver.objective_value / PP, 2), optimal)
