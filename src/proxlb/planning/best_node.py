"""Best node for a NEW guest (upstream `-b`, plus size and tags). Pure.

The request is added to the snapshot as a running guest on a pseudo node and judged by the same
hard checks as a migration (capacity after reserve, CPU overcommit, drains, online), plus the rules
its tags imply: `plb_pin_<node>` (case-insensitive; several = allowed set), `plb_anti_affinity*`
(never with a guest carrying the same tag), `plb_affinity*` (the node of the group's guests).
With an empty request it is upstream's answer: the least loaded eligible node.
Ranking: allowed nodes by weighted load after placement (lower first), then name.
With `planned` (the current plan's moves) nodes are judged as they will be once the plan is done, so
an anti-affinity group the plan is about to spread is not offered a node it is about to fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from proxlb.domain.constraints import Affinity, AntiAffinity, NodePin, RuleSource, SourceKind
from proxlb.domain.model import ClusterSnapshot, Guest, GuestKind, VmId
from proxlb.domain.plan import Migration, MigrationReason
from proxlb.domain.resources import Resources
from proxlb.planning.checks import Move, first_failure
from proxlb.planning.metrics import LoadState
from proxlb.planning.problem import PlanningProblem

NEW_NODE = "(new guest)"


@dataclass(frozen=True, slots=True)
class GuestRequest:
    memory_bytes: int = 0
    cores: float = 0.0
    disk_bytes: int = 0
    tags: tuple[str, ...] = ()
    kind: GuestKind = GuestKind.QEMU


@dataclass(frozen=True, slots=True)
class BestNodeAnswer:
    node: str | None
    reason: str
    ranking: tuple[tuple[str, float, str], ...]  # (node, weighted load % after placement, verdict)


def _tag_rules(problem: PlanningProblem, vmid: VmId, tags: tuple[str, ...]) -> tuple[list[object], list[str]]:
    snap = problem.snapshot
    by_lower = {n.lower(): n for n in snap.node_names}
    found: list[object] = []
    notes: list[str] = []
    pins: set[str] = set()
    for tag in tags:
        low = tag.lower()
        if low.startswith("plb_pin_"):
            name = by_lower.get(low.removeprefix("plb_pin_"))
            if name:
                pins.add(name)
            else:
                notes.append(f"tag {tag}: no such node, ignored")
        elif low.startswith("plb_anti_affinity") or low.startswith("plb_affinity"):
            members = frozenset(
                [vmid, *(g.vmid for g in snap.guests if any(t.lower() == low for t in g.tags))]
            )
            source = RuleSource(SourceKind.TAG, tag)
            if low.startswith("plb_anti_affinity"):
                found.append(AntiAffinity(tag, members, source))
            else:
                found.append(Affinity(tag, members, source))
    if pins:
        found.append(NodePin(vmid, frozenset(pins), RuleSource(SourceKind.TAG, "plb_pin_*")))
    return found, notes


def best_node(
    problem: PlanningProblem, request: GuestRequest, planned: Sequence[Migration] = ()
) -> BestNodeAnswer:
    """The node a new guest of this size and these tags should start on, with the full ranking.

    `planned`: moves (in order) to account for first, e.g. the current plan's migrations.
    """
    snap = problem.snapshot
    vmid = VmId(max((g.vmid for g in snap.guests), default=99) + 1)
    newcomer = Guest(
        vmid=vmid,
        name="new-guest",
        kind=request.kind,
        node=NEW_NODE,
        status="running",
        allocated=Resources(round(request.cores * 1000), request.memory_bytes, request.disk_bytes),
        usage=Resources(round(request.cores * 1000), request.memory_bytes, 0),
        tags=request.tags,
        local_disk_bytes=request.disk_bytes,
    )
    extra, notes = _tag_rules(problem, vmid, request.tags)
    cons = problem.constraints
    cons = replace(
        cons,
        affinities=cons.affinities + tuple(r for r in extra if isinstance(r, Affinity)),
        anti_affinities=cons.anti_affinities + tuple(r for r in extra if isinstance(r, AntiAffinity)),
        pins=cons.pins + tuple(r for r in extra if isinstance(r, NodePin)),
    )
    augmented = ClusterSnapshot(
        taken_at=snap.taken_at,
        nodes=snap.nodes,
        guests=(*snap.guests, newcomer),
        pools=snap.pools,
        cluster_name=snap.cluster_name,
    )
    pb = replace(problem, snapshot=augmented, constraints=cons)
    state = LoadState.of(pb)
    for m in planned:
        if state.placement.get(m.vmid) == m.source:
            state.move(m.vmid, m.target)
    group_nodes = {
        state.placement[m] for rule in extra if isinstance(rule, Affinity) for m in rule.members if m != vmid
    }
    ranking: list[tuple[str, float, str]] = []
    allowed: list[tuple[int, float, str]] = []
    for node in snap.node_names:
        mv = Move((vmid,), NEW_NODE, node, MigrationReason.BALANCE, state.gload[vmid])
        after = sum(
            w * 100.0 * (state.load[node][i] + mv.load.metric[i]) / state.cap[node][i]
            for i, w in state.active
            if state.cap[node][i] > 0
        )
        failure = first_failure(state, mv, soft=False)
        if failure is None and group_nodes and node not in group_nodes:
            failure = ("affinity", f"the affinity group runs on {', '.join(sorted(group_nodes))}")
        soft = first_failure(state, mv, soft=True) if failure is None else None
        if failure is not None:
            verdict = f"{failure[0]}: {failure[1]}"
        elif soft is not None:
            verdict = f"ok (but {soft[0]}: {soft[1]})"
        else:
            verdict = "ok"
        ranking.append((node, round(after, 2), verdict))
        if failure is None:
            allowed.append((1 if soft else 0, after, node))
    ranking.sort(key=lambda r: (0 if r[2].startswith("ok") else 1, r[1], r[0]))
    if not allowed:
        why = "; ".join(f"{n}: {v}" for n, _, v in ranking[:4]) or "no nodes"
        return BestNodeAnswer(None, f"no node can take this guest ({why})", tuple(ranking))
    _, load, best = min(allowed)
    reason = f"{best}: lowest load after placement ({load:.1f} %)"
    if notes:
        reason += "; " + "; ".join(notes)
    return BestNodeAnswer(best, reason, tuple(ranking))
