"""Gain curve (spread/objective after the first k moves) and the migration budget's best prefix."""

from __future__ import annotations

from proxlb.domain import GIB, MigrationReason
from proxlb.planning import SolverMode, SolverPolicy, plan_cycle, validate
from proxlb.planning.curve import best_prefix, gain_curve, knee
from tests.planning.builders import cluster, drain, guest, node, problem, rules, together

NODES3 = [node("pve1"), node("pve2"), node("pve3")]
HEAVY = [guest(100 + i, on="pve1", mem=f"{4 + i}G") for i in range(10)]


def active() -> SolverPolicy:
    return SolverPolicy(enable=True, mode=SolverMode.ACTIVE, timeout_seconds=5)


def test_curve_starts_at_the_cluster_and_ends_at_the_plan() -> None:
    pb = problem(cluster(NODES3, HEAVY))
    plan = plan_cycle(pb)
    points = gain_curve(pb, plan)
    assert len(points) == len(plan.migrations) + 1 and len(plan.migrations) >= 3
    assert points[0].k == 0 and points[0].vmid is None and points[0].gib_copied == 0
    assert points[0].spread == plan.imbalance_before
    assert points[-1].spread == plan.imbalance_after
    assert points[-1].objective == plan.stats["objective_after"]
    assert points[0].objective == plan.stats["objective_before"]
    assert [p.vmid for p in points[1:]] == [m.vmid for m in plan.migrations]
    copied = [p.gib_copied for p in points]
    assert copied == sorted(copied)
    assert abs(copied[-1] - plan.bytes_to_copy / GIB) < 0.01


def test_knee_is_the_fewest_moves_reaching_most_of_the_gain() -> None:
    pb = problem(cluster(NODES3, HEAVY))
    points = gain_curve(pb, plan_cycle(pb))
    k = knee(points)
    total = points[0].spread - points[-1].spread
    assert 0 < k <= points[-1].k
    assert points[0].spread - points[k].spread >= 0.9 * total - 1e-9
    assert all(points[0].spread - p.spread < 0.9 * total - 1e-9 for p in points[:k])


def test_best_prefix_keeps_repairs_then_the_moves_that_pay_most() -> None:
    pb = problem(cluster(NODES3, HEAVY))
    plan = plan_cycle(pb)
    moves = list(reversed(plan.migrations))  # an order that is not the gain order
    kept, left = best_prefix(pb, moves, 2)
    assert len(kept) == 2 and len(left) == len(moves) - 2
    assert {m.vmid for m in kept} | {m.vmid for m in left} == {m.vmid for m in moves}
    # the first kept move is the single move that lowers the objective most
    from proxlb.planning.metrics import LoadState

    def drop(m: object) -> float:
        state = LoadState.of(pb)
        before = state.objective()
        state.move(m.vmid, m.target)  # type: ignore[attr-defined]
        return before - state.objective()

    assert drop(kept[0]) == max(drop(m) for m in moves)
    assert best_prefix(pb, moves, None) == (moves, [])
    assert best_prefix(pb, moves, len(moves)) == (moves, [])


def test_best_prefix_keeps_drains_first_and_affinity_units_whole() -> None:
    guests = [guest(201, on="pve3"), guest(202, on="pve3"), *HEAVY[:4]]
    cons = rules(drain("pve3"), together("t", 201, 202))
    pb = problem(cluster(NODES3, guests), cons)
    plan = plan_cycle(pb)
    assert {m.vmid for m in plan.migrations if m.reason is MigrationReason.DRAIN} == {201, 202}
    kept, _ = best_prefix(pb, list(reversed(plan.migrations)), 2)
    assert {m.vmid for m in kept} == {201, 202}
    kept, _ = best_prefix(pb, list(plan.migrations), 1)
    assert kept == []  # the drain unit of two does not fit a budget of one; it is not split


def test_max_migrations_cuts_a_cpsat_plan_to_its_best_prefix() -> None:
    """Regression: CP-SAT ignored max_migrations, failed validation and fell back to greedy."""
    unlimited = plan_cycle(problem(cluster(NODES3, HEAVY), solver=active()))
    assert unlimited.planner == "cpsat" and len(unlimited.migrations) > 3
    pb = problem(cluster(NODES3, HEAVY), solver=active(), max_migrations=3)
    plan = plan_cycle(pb)
    assert plan.planner == "cpsat", plan.warnings
    assert len(plan.migrations) == 3 and validate(plan, pb) == ()
    assert plan.imbalance_after < plan.imbalance_before
    assert any("max_migrations 3" in w and "left for a later cycle" in w for w in plan.warnings)
