"""`balancing.pools` → constraints for the guests of each configured PVE pool. Pure.

Membership is by vmid (the `pool` field of `/cluster/resources`), never by name. A pool's
`strict` applies to that pool's pin only; it never changes tag or HA-rule pins (upstream lets
the last pool's `strict` decide for all of a guest's pins).
"""

from __future__ import annotations

from collections.abc import Mapping

from proxlb.domain import Affinity, AntiAffinity, ClusterSnapshot, NodePin, RuleSource, SourceKind
from proxlb.rules.names import resolve_nodes
from proxlb.rules.settings import PoolRule


def pool_constraints(
    snapshot: ClusterSnapshot,
    pools: Mapping[str, PoolRule],
    nodes: Mapping[str, str],
    warnings: list[str],
) -> tuple[list[Affinity], list[AntiAffinity], list[NodePin]]:
    """Affinity / anti-affinity groups named by the pool, and pins, for every configured pool."""
    affinities: list[Affinity] = []
    anti: list[AntiAffinity] = []
    pins: list[NodePin] = []
    for name, rule in sorted(pools.items()):
        if name not in snapshot.pools:
            warnings.append(f"balancing.pools names pool '{name}', which does not exist in the cluster")
            continue
        members = frozenset(v for v in snapshot.pools[name] if snapshot.guest(v) is not None)
        source = RuleSource(SourceKind.POOL, name)
        if rule.type == "affinity" and len(members) >= 2:
            affinities.append(Affinity(name, members, source, strict=True))
        elif rule.type == "anti-affinity" and len(members) >= 2:
            anti.append(AntiAffinity(name, members, source, strict=True))
        if rule.pin:
            allowed = resolve_nodes(rule.pin, nodes, f"balancing.pools.{name}.pin", warnings)
            if allowed:
                pins.extend(NodePin(v, allowed, source, strict=rule.strict) for v in sorted(members))
    return affinities, anti, pins
