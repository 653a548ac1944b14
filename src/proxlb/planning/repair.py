"""Phase A of every plan: evacuate drained nodes and repair broken rules. Pure.

Order: drains, strict pins, anti-affinity, affinity (joins), then the soft pins / rules the policy
asks to enforce. Each repair moves a unit (a guest with its co-located affinity partners) to the
best target that passes every hard check; soft rules are relaxed only when nothing else fits, and
that is reported. Whatever cannot be repaired becomes an UnmetRule with the reasons per node.

Cost: the violations are listed once per repair round; before each repair only the rule being
repaired is re-checked (O(its members)), and a group join tries each destination by moving the
members on the draft's own state and rolling back (LoadState.trial), never by copying the state —
so a round is O(guests + Σ repaired rule sizes × nodes), not O(repairs × guests).
"""

from __future__ import annotations

from collections.abc import Mapping

from proxlb.domain.constraints import Affinity, AntiAffinity
from proxlb.domain.model import VmId
from proxlb.domain.plan import MigrationReason, UnmetRule
from proxlb.planning.checks import Move, first_failure
from proxlb.planning.draft import Draft
from proxlb.planning.problem import PlanningProblem
from proxlb.planning.trigger import Violation, violations, wanted_repairs


def _why_none(rejected: list[str]) -> str:
    if not rejected:
        return "no other node can take guests"
    shown = "; ".join(rejected[:4])
    return shown + (f"; … {len(rejected) - 4} more" if len(rejected) > 4 else "")


def _move_unit(
    draft: Draft,
    vmid: VmId,
    reason: MigrationReason,
    v: Violation,
    purpose: str,
    allowed: frozenset[str] | None = None,
    strict: bool = True,
) -> bool:
    """Move the unit of `vmid` for a repair of `v`; record unmet on failure. True when moved."""
    rule = v.rule

    def unmet(why: str) -> None:
        draft.unmet.append(UnmetRule(rule, why, v.kind, (vmid,)))

    unit = draft.sub_unit(vmid)
    blocker = draft.unit_blocker(unit, reroute=True)  # a planned move may be re-routed, never doubled
    if blocker is not None:
        unmet(f"guest {vmid} cannot move: {blocker}")
        return False
    limit = draft.problem.policy.max_migrations
    new = [v for v in unit if v not in draft.by_vmid]
    if new and limit is not None and len(draft.by_vmid) + len(new) > limit:
        unmet(f"guest {vmid} not moved: max_migrations reached")
        return False
    node_of = draft.state.placement
    partners = {node_of[p] for p in draft.problem.index.members_of(vmid) if p not in unit}
    priority = draft.problem.index.priorities.get(vmid, {})

    def prefer(dst: str) -> float:
        # join the group's node first, then the highest HA node priority (PVE would fail back there)
        return (0.0 if dst in partners else 1.0) - priority.get(dst, 0) / 1e6

    mv, relaxed, rejected = draft.best_target(unit, reason, prefer, allowed)
    if mv is None:
        unmet(f"guest {vmid} has no valid target: {_why_none(rejected)}")
        return False
    soft = first_failure(draft.state, mv, soft=True) if relaxed else None
    if soft is not None and reason is MigrationReason.RULE and not strict:
        # a repair that breaks another preference only trades one violation for another
        unmet(f"guest {vmid}: every valid target breaks a rule ({soft.detail})")
        return False
    if relaxed:
        draft.unmet.append(
            UnmetRule(
                f"soft rule for guest {vmid}",
                f"relaxed to {purpose}: {soft.detail if soft else ''}",
                "relaxed",
                (vmid,),
            )
        )
    draft.apply(mv, f"{purpose} → {mv.dst}", purpose)
    return True


def _drain(draft: Draft, v: Violation) -> None:
    # largest first: big guests have the fewest places to go (first-fit decreasing)
    order = sorted(
        v.vmids, key=lambda g: (-draft.state.gload[g].used_mem, -draft.state.gload[g].assigned_mem, g)
    )
    for vmid in order:
        if draft.state.placement[vmid] in draft.problem.index.drained:
            _move_unit(draft, vmid, MigrationReason.DRAIN, v, f"leaves {v.rule}")


def _pin(draft: Draft, v: Violation) -> None:
    vmid = v.vmids[0]
    idx = draft.problem.index
    allowed = idx.strict_pins.get(vmid) if v.strict else idx.soft_pins.get(vmid)
    if allowed is not None and draft.state.placement[vmid] in allowed:
        return
    _move_unit(draft, vmid, MigrationReason.RULE, v, f"repairs {v.rule}", allowed, v.strict)


def anti_keeper(draft: Draft, v: Violation) -> VmId | None:
    """The member of a broken anti-affinity rule that the repair leaves in place (None: not broken).

    The fixed one stays; then the one last cycle's plan did not move (stable plans); then the
    largest by configured size (moving the smaller copies less) — never a noisy measured size.
    Replay (planning/replay.py) asks the same question, so a replayed move of the keeper is a
    balancing move, as it was in the plan that chose it.
    """
    state = draft.state
    members = [m for m in v.vmids if state.placement[m] == state.placement[v.vmids[0]]]
    if len(members) < 2:
        return None
    previous = draft.problem.previous_moves

    def keep_key(vmid: VmId) -> tuple[int, int, int, int]:
        g = draft.problem.snapshot.guest(vmid)
        size = g.allocated.mem_bytes + g.local_disk_bytes if g is not None else 0
        return (0 if vmid in draft.fixed else 1, 1 if vmid in previous else 0, -size, vmid)

    return min(members, key=keep_key)


def _anti(draft: Draft, v: Violation) -> None:
    state = draft.state
    stay = anti_keeper(draft, v)
    if stay is None:
        return
    members = [m for m in v.vmids if state.placement[m] == state.placement[v.vmids[0]]]
    for vmid in sorted(members):
        if vmid != stay and state.placement[vmid] == state.placement[stay]:
            purpose = f"repairs {v.rule} (leaves guest {stay})"
            _move_unit(draft, vmid, MigrationReason.RULE, v, purpose, strict=v.strict)


def _affinity(draft: Draft, v: Violation) -> None:
    state = draft.state
    by_node: dict[str, list[VmId]] = {}
    for vmid in v.vmids:
        by_node.setdefault(state.placement[vmid], []).append(vmid)
    if len(by_node) < 2:
        return
    pinned_nodes = {state.placement[m] for m in v.vmids if m in draft.fixed}
    if len(pinned_nodes) > 1:
        draft.unmet.append(
            UnmetRule(
                v.rule, f"members that cannot move sit on {', '.join(sorted(pinned_nodes))}", v.kind, v.vmids
            )
        )
        return

    def dest_key(node: str) -> tuple[int, int, int, str]:
        there = sum(state.gload[m].copy_bytes for m in by_node[node])
        return (0 if node in pinned_nodes else 1, 0 if node in state.in_balance else 1, -there, node)

    reasons: list[str] = []
    for dest in sorted(by_node, key=dest_key):
        if dest not in state.in_balance:
            continue
        trial = state.trial()  # moves below are rolled back exactly; no copy of the whole state
        ok = True
        moving: list[Move] = []
        try:
            for node, members in sorted(by_node.items()):
                if node == dest:
                    continue
                for vmid in members:
                    if state.placement[vmid] == dest:
                        continue
                    unit = tuple(
                        m for m in draft.problem.index.members_of(vmid) if state.placement.get(m) == node
                    )
                    mv = Move.of(state, unit, dest, MigrationReason.RULE)
                    failure = draft.unit_blocker(unit, reroute=True)
                    if failure is None:
                        found = first_failure(state, mv, soft=False)
                        failure = found.detail if found else None
                    if failure is not None:
                        reasons.append(f"{dest}: {failure}")
                        ok = False
                        break
                    for m in unit:
                        trial.move(m, dest)
                    moving.append(mv)
                if not ok:
                    break
        finally:
            trial.rollback()
        limit = draft.problem.policy.max_migrations
        added = {v for mv in moving for v in mv.unit if v not in draft.by_vmid}
        if ok and limit is not None and len(draft.by_vmid) + len(added) > limit:
            reasons.append(f"{dest}: max_migrations reached")
            ok = False
        if ok:
            for mv in moving:
                draft.apply(mv, f"repairs {v.rule}: joins the group on {dest}", f"repairs {v.rule}")
            return
    draft.unmet.append(
        UnmetRule(v.rule, f"the group cannot be joined: {_why_none(reasons)}", v.kind, v.vmids)
    )


_RuleTable = dict[tuple[str, str], list[Affinity | AntiAffinity]]


def _rule_table(problem: PlanningProblem) -> _RuleTable:
    """(kind, rule name as in Violation.rule) → the rules of that name (built once per problem)."""
    table = problem.__dict__.get("_repair_rule_table")
    if table is None:
        table = {}
        for a in problem.constraints.anti_affinities:
            table.setdefault(("anti-affinity", f"anti-affinity {a.source}"), []).append(a)
        for b in problem.constraints.affinities:
            table.setdefault(("affinity", f"affinity {b.source}"), []).append(b)
        problem.__dict__["_repair_rule_table"] = table  # a cache, like functools.cached_property
    return table


def _still_broken(table: _RuleTable, placement: Mapping[VmId, str], v: Violation) -> bool:
    """Does a rule named like `v` still break on `placement`? O(members of those rules) —
    the same verdict as re-listing every violation and looking for v's kind and name."""
    for rule in table.get((v.kind, v.rule), ()):
        nodes = [placement[m] for m in rule.members if m in placement]
        if v.kind == "affinity":
            if len(set(nodes)) > 1:
                return True
        elif len(set(nodes)) < len(nodes):
            return True
    return False


def repair(draft: Draft) -> None:
    """Run phase A on the draft (mutates it)."""
    order = {"drain": 0, "pin": 1, "anti-affinity": 2, "affinity": 3}
    todo = wanted_repairs(draft.problem, violations(draft.problem, draft.state.placement))
    todo = tuple(sorted(todo, key=lambda v: (not v.strict, order[v.kind])))
    handlers = {"drain": _drain, "pin": _pin, "anti-affinity": _anti, "affinity": _affinity}
    table = _rule_table(draft.problem)
    for v in todo:
        # a violation may already be fixed by an earlier repair: re-check only its own rule
        if v.kind in ("drain", "pin") or _still_broken(table, draft.state.placement, v):
            handlers[v.kind](draft, v)
