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
from proxlb.domain.decision import Rejection
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
class NodeVerdict:
    """One node judged for the new guest: its weighted load % after placement, the hard check that
    rejects it (None: allowed) and, when allowed, the soft check it would break (None: clean)."""

    node: str
    load_after: float
    rejection: Rejection | None = None
    soft: Rejection | None = None

    @property
    def allowed(self) -> bool:
        return self.rejection is None


@dataclass(frozen=True, slots=True)
class BestNodeAnswer:
    """The chosen node (None: no node can take the guest), the full ranking (allowed first, then
    by load after placement, then name), and notes on tags that named nothing. Words:
    proxlb.report.sentences."""

    node: str | None
    ranking: tuple[NodeVerdict, ...]
    notes: tuple[str, ...] = ()
    load_after: float = 0.0  # the chosen node's weighted load % after placement


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
    ranking: list[NodeVerdict] = []
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
            failure = Rejection("affinity", f"the affinity group runs on {', '.join(sorted(group_nodes))}")
        soft = first_failure(state, mv, soft=True) if failure is None else None
        ranking.append(NodeVerdict(node, round(after, 2), failure, soft))
        if failure is None:
            allowed.append((1 if soft else 0, after, node))
    ranking.sort(key=lambda r: (0 if r.allowed else 1, r.load_after, r.node))
    if not allowed:
        return BestNodeAnswer(None, tuple(ranking), tuple(notes))
    _, load, best = min(allowed)
    return BestNodeAnswer(best, tuple(ranking), tuple(notes), load)
