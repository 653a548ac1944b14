"""Build the cycle's ConstraintSet from a snapshot, the configuration and the maintenance nodes. Pure.

Sources, in the order their warnings appear: tags, pools, HA rules/groups, exclusions,
drains, conflicts. Output tuples are sorted (affinities/anti-affinities by group then source,
pins by vmid then source, excludes by vmid, drains by node), so equal inputs give equal sets.
"""

from __future__ import annotations

from proxlb.config.model import ProxlbConfig
from proxlb.config.render import mask_secret_like
from proxlb.domain import (
    Affinity,
    AntiAffinity,
    ClusterSnapshot,
    ConstraintSet,
    Drain,
    NodePin,
    RuleSource,
    SourceKind,
)
from proxlb.rules.conflicts import find_conflicts
from proxlb.rules.exclusions import exclusions
from proxlb.rules.ha import ha_constraints
from proxlb.rules.names import node_lookup
from proxlb.rules.pools import pool_constraints
from proxlb.rules.settings import RuleSettings, rule_settings
from proxlb.rules.tags import read_tags

HA_MAINTENANCE = RuleSource(SourceKind.HA_RULE, "HA node maintenance")


def derive_constraints(
    snapshot: ClusterSnapshot, config: ProxlbConfig, maintenance_nodes: frozenset[str]
) -> ConstraintSet:
    """All constraints of this cycle; `maintenance_nodes` already merges the static list and the
    active schedule windows (see `proxlb.config.schedule.active_maintenance_nodes`)."""
    return derive_with_settings(snapshot, rule_settings(config), maintenance_nodes)


def derive_with_settings(
    snapshot: ClusterSnapshot, settings: RuleSettings, maintenance_nodes: frozenset[str]
) -> ConstraintSet:
    """`derive_constraints` over an already extracted `RuleSettings` (what tests build directly)."""
    warnings: list[str] = []
    nodes = node_lookup(snapshot)
    tags = read_tags(snapshot.guests, nodes, warnings)
    affinities = [
        Affinity(name, frozenset(members), RuleSource(SourceKind.TAG, name))
        for name, members in tags.affinity.items()
        if len(members) >= 2
    ]
    anti = [
        AntiAffinity(name, frozenset(members), RuleSource(SourceKind.TAG, name))
        for name, members in tags.anti_affinity.items()
        if len(members) >= 2
    ]
    pins = [NodePin(vmid, allowed, source) for vmid, (allowed, source) in tags.pins.items()]
    for part in (
        pool_constraints(snapshot, settings.pools, nodes, warnings),
        ha_constraints(snapshot, nodes, warnings),
    ):
        affinities += part[0]
        anti += part[1]
        pins += part[2]
    excludes = exclusions(snapshot, settings, tags.ignored, warnings)
    drains = _drains(snapshot, settings, maintenance_nodes, nodes, warnings)
    warnings += find_conflicts(affinities, anti, pins)
    return ConstraintSet(
        affinities=tuple(sorted(affinities, key=lambda a: (a.group, a.source.kind, a.source.name))),
        anti_affinities=tuple(sorted(anti, key=lambda a: (a.group, a.source.kind, a.source.name))),
        pins=tuple(sorted(pins, key=lambda p: (p.vmid, p.source.kind, p.source.name))),
        excludes=tuple(sorted(excludes, key=lambda e: e.vmid)),
        drains=tuple(sorted(drains, key=lambda d: d.node)),
        warnings=tuple(warnings),
    )


def _drains(
    snapshot: ClusterSnapshot,
    settings: RuleSettings,
    maintenance_nodes: frozenset[str],
    nodes: dict[str, str],
    warnings: list[str],
) -> list[Drain]:
    drains: dict[str, Drain] = {}
    for name in sorted(maintenance_nodes):
        canonical = nodes.get(name.lower())
        if canonical is None:
            warnings.append(
                f"maintenance node '{mask_secret_like(name)}' is not in the cluster (or is ignored); "
                "nothing to drain"
            )
            continue
        if name in settings.static_maintenance or canonical in settings.static_maintenance:
            reason, key = "listed in proxmox_cluster.maintenance_nodes", "maintenance_nodes"
        else:
            reason, key = "maintenance window (maintenance_nodes_schedule)", "maintenance_nodes_schedule"
        drains[canonical] = Drain(canonical, reason, RuleSource(SourceKind.CONFIG, key))
    for node in snapshot.nodes:
        if node.ha_maintenance and node.name not in drains:
            drains[node.name] = Drain(node.name, "HA maintenance mode", HA_MAINTENANCE)
    return list(drains.values())
