"""Large-neighbourhood search around an incumbent placement with CP-SAT sub-solves. Pure.

Above the size one exact model can finish in its budget, most units are held where the incumbent
(the greedy plan) has them and a neighbourhood is re-optimised exactly (cpsat_model.solve_sub):
round by round, (0) the units on the `side` hottest and the `side` coldest nodes, shifted along
the ranking each pass; (1) the units that break a wanted rule (a drained node's guests, pins,
anti-affinity members), anywhere they may go; (2) the units of the hottest and coldest nodes with
others picked by a seeded generator. A round's answer is kept only when the shared objective J
(planning/score.py) drops, so the result is never worse than the incumbent.

How big a balancing neighbourhood is adapts to the cluster (adaptive LNS): two shapes compete —
WIDE (up to 400 units of 2 + 2 nodes, long solves: a few large rearrangements, what a 16-node
cluster needs) and NARROW (80 units sampled from 4 + 4 nodes, short solves: many small steps, what
64 or 128 nodes need). Each is tried once, then the one that lowered J most per deterministic second
so far runs, the other every sixth round, so the choice follows the search as it goes.

Budget: `budget` seconds of CP-SAT deterministic time, plus 10 µs per model variable for building
it; it also stops after STALE rounds without gain, and before the wall-clock deadline of the
cycle's budget (planning/budget.py) when a round could no longer be built and solved in time.
Bound: each unit's cheapest node (its move and rule costs alone) summed, with balance 0 — a valid
lower bound on J, so the reported gap is an upper estimate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from proxlb.planning.budget import SolverBudget
from proxlb.planning.cpsat_model import Placement, Totals, solve_sub
from proxlb.planning.cpsat_prep import Prepared
from proxlb.planning.metrics import LoadState
from proxlb.planning.score import balance_term

STALE = 30  # rounds in a row without gain before the search gives up early
REPAIR_UNITS = 150
BUILD_PER_VARIABLE = 1e-5  # deterministic seconds charged per model variable for building it
EXPLORE_EVERY = 6  # every sixth balancing round runs the shape that is behind


@dataclass(frozen=True)
class Shape:
    """A balancing neighbourhood: at most `units` free units, from `side` hottest and `side`
    coldest nodes, solved for `per_unit` deterministic seconds per free unit."""

    units: int
    side: int
    per_unit: float


WIDE = Shape(400, 2, 0.002)
NARROW = Shape(80, 4, 0.0005)
SHAPES = (WIDE, NARROW)


@dataclass
class Search:
    pb: Prepared
    placement: Placement
    totals: Totals
    state: LoadState  # the start state with the incumbent's moves applied (J's balance term)
    cost: int  # Σ units' cost of their node (model units)
    anti_extra: list[int]

    @staticmethod
    def start(pb: Prepared, placement: Placement) -> Search:
        state = pb.state.clone()
        for u, at in enumerate(placement):
            if at is not None:
                for m in pb.units[u].members:
                    state.move(m, at)
        cost = sum(pb.units[u].cost.get(at, 0) for u, at in enumerate(placement) if at is not None)
        search = Search(pb, list(placement), Totals(pb, placement), state, cost, [])
        search.anti_extra = [search._extra(r) for r in range(len(pb.anti))]
        return search

    def _extra(self, r: int) -> int:
        members = self.pb.anti[r][0]
        count: dict[str, int] = {}
        for m in members:
            at = self.state.placement.get(m)
            if at is not None:
                count[at] = count.get(at, 0) + 1
        return sum(c - 1 for c in count.values() if c > 1)

    def value(self) -> float:
        """J of the incumbent in model units (balance + costs + anti-affinity penalties)."""
        pb = self.pb
        balance = balance_term(self.state) * pb.scale if pb.wanted else 0.0
        anti = sum(e * pb.anti[r][1] for r, e in enumerate(self.anti_extra))
        return balance + self.cost + anti

    def try_change(
        self, changed: dict[int, str], rules_of: dict[int, list[int]], limit: float | None = None
    ) -> bool:
        """Apply `changed` if it lowers J (below `limit` when given); otherwise leave everything as
        it was."""
        before = self.value() if limit is None else limit
        trial = self.state.trial()
        old = {u: self.placement[u] for u in changed}
        touched = sorted({r for u in changed for r in rules_of.get(u, ())})
        old_extra = {r: self.anti_extra[r] for r in touched}
        for u, at in changed.items():
            self.cost += self.pb.units[u].cost[at] - self.pb.units[u].cost.get(old[u] or "", 0)
            self.totals.shift(u, old[u], -1)
            self.totals.shift(u, at, +1)
            self.placement[u] = at
            for m in self.pb.units[u].members:
                trial.move(m, at)
        for r in touched:
            self.anti_extra[r] = self._extra(r)
        if self.value() < before - 1e-6 * self.pb.scale:
            return True
        trial.rollback()
        for u, at in changed.items():
            self.cost -= self.pb.units[u].cost[at] - self.pb.units[u].cost.get(old[u] or "", 0)
            self.totals.shift(u, at, -1)
            self.totals.shift(u, old[u], +1)
            self.placement[u] = old[u]
        for r, e in old_extra.items():
            self.anti_extra[r] = e
        return False


def rules_by_unit(pb: Prepared) -> dict[int, list[int]]:
    """unit → the anti-affinity rows (Prepared.anti) its members are in."""
    rules_of: dict[int, list[int]] = {}
    for r, (members, _, _) in enumerate(pb.anti):
        for m in sorted(members):
            if m in pb.unit_of and r not in rules_of.get(pb.unit_of[m], []):
                rules_of.setdefault(pb.unit_of[m], []).append(r)
    return rules_of


def unavoidable(pb: Prepared) -> float:
    """Penalties no placement avoids (model units): a unit whose every node breaks a rule, and the
    members of an anti-affinity rule beyond the nodes they can spread over."""
    units = sum(min(unit.cost.values()) // pb.unmet_cost * pb.unmet_cost for unit in pb.units if unit.cost)
    spots = len(pb.nodes)
    anti = sum(
        penalty * max(0, sum(1 for m in members if m in pb.unit_of) - spots)
        for members, penalty, _ in pb.anti
    )
    return float(units + anti)


def lower_bound(pb: Prepared) -> float:
    """Σ over units of their cheapest node's cost, plus the anti-affinity members that cannot all
    be apart (model units): J can never be lower."""
    anti = unavoidable(pb) - sum(
        min(unit.cost.values()) // pb.unmet_cost * pb.unmet_cost for unit in pb.units if unit.cost
    )
    return float(sum(min(unit.cost.values()) for unit in pb.units if unit.cost)) + anti


def _movable(pb: Prepared, placement: Placement, u: int) -> bool:
    return placement[u] is not None and len(pb.units[u].allowed) > 1


def _neighbourhood(
    search: Search, it: int, rng: random.Random, shape: Shape = WIDE
) -> tuple[list[int], set[str] | None]:
    pb, placement = search.pb, search.placement
    band = max(pb.problem.policy.noise_band, 1e-9)
    ranked = sorted(pb.nodes, key=lambda n: (-round(search.state.score(n) / band), n))
    kind = it % 3
    if kind == 1:
        rules_broken = {m for r, e in enumerate(search.anti_extra) if e for m in pb.anti[r][0]}
        bad = [
            u
            for u, at in enumerate(placement)
            if _movable(pb, placement, u)
            and (
                pb.units[u].cost.get(at or "", 0) >= pb.unmet_cost or rules_broken & set(pb.units[u].members)
            )
        ]
        if bad:
            return bad[:REPAIR_UNITS], None
        kind = 2
    side, last = shape.side, len(ranked)
    if kind == 0:
        shift = (it // 3) % max(1, last // 4)
        chosen = {*ranked[shift : shift + side], *ranked[last - side - shift : last - shift]}
    else:
        ends = {*ranked[: side - 1], *ranked[last - side + 1 :]}
        others = [n for n in ranked if n not in ends]
        chosen = {*ends, *rng.sample(others, min(2, len(others)))}
    free = [u for u, at in enumerate(placement) if at in chosen and _movable(pb, placement, u)]
    if len(free) > shape.units:
        step = len(free) / shape.units
        free = [free[int(k * step)] for k in range(shape.units)]
    return free, chosen


def _shape(rates: list[float | None], balancing_round: int) -> int:
    """Which shape the next balancing round uses (index into SHAPES): each untried one first, then
    the better rate of J gain per deterministic second, the other every EXPLORE_EVERY-th round."""
    for i, rate in enumerate(rates):
        if rate is None:
            return i
    best = max(range(len(rates)), key=lambda i: (rates[i], -i))
    if balancing_round % EXPLORE_EVERY == EXPLORE_EVERY - 1:
        return (best + 1) % len(rates)
    return best


def run_lns(
    search: Search,
    rules_of: dict[int, list[int]],
    budget: float,
    seed: int,
    wall: SolverBudget | None = None,
) -> tuple[Search, dict[str, float]]:
    """Improve the search's incumbent within `budget` deterministic seconds and before `wall`'s
    deadline; returns the search and figures (rounds, improved, invalid sub-models)."""
    pb = search.pb
    rng = random.Random(seed)
    spent, rounds, improved, stale, invalid = 0.0, 0, 0, 0, 0
    rates: list[float | None] = [None] * len(SHAPES)  # J gain per deterministic second, per shape
    balancing = 0  # balancing rounds so far
    building = 0.0  # wall seconds the last round spent outside CP-SAT's search (model building)
    cut = False  # did the wall clock end the search?
    while spent < budget and stale < STALE:
        if wall is not None and wall.left() <= building:
            cut = True
            break  # the next model could not even be built before the deadline
        began = wall.clock() if wall is not None else 0.0
        arm = _shape(rates, balancing)
        free, restrict = _neighbourhood(search, rounds, rng, SHAPES[arm])
        rounds += 1
        if not free:
            stale += 1
            continue
        det = max(0.03, len(free) * SHAPES[arm].per_unit)
        before = search.value()
        res = solve_sub(
            pb,
            free,
            restrict,
            search.placement,
            search.totals,
            min(det, budget - spent),
            seed + rounds,
            wall_left=None if wall is None else max(0.01, wall.left() - building),
        )
        cost = res.deterministic_time + BUILD_PER_VARIABLE * res.variables
        spent += cost
        cut = cut or res.wall_limited
        invalid += res.status == "MODEL_INVALID"
        if res.improved and search.try_change(res.changed, rules_of):
            improved += 1
            stale = 0
        else:
            stale += 1
        if restrict is not None:  # a balancing round: how well did its shape pay?
            gain = (before - search.value()) / max(cost, 1e-6)
            old = rates[arm]
            rates[arm] = gain if old is None else (old + gain) / 2
            balancing += 1
        if wall is not None:
            building = max(0.0, wall.clock() - began - res.wall_time)
    return search, {
        "lns_rounds": float(rounds),
        "lns_improved": float(improved),
        "cpsat_invalid_models": float(invalid),
        "cpsat_seconds": round(spent, 3),
        "cpsat_wall_limited": float(cut),
    }
