"""`proxlb snapshot`: turn raw API answers into a proxlb-sim scenario document. Pure.

The scenario keeps Proxmox's own shapes (`resources:` is `/cluster/resources` verbatim), so a
dump of a production cluster can be served by `proxlb-sim` to rehearse a configuration.
Secrets never enter it: the simulator's default credentials apply.

Invariant: the scenario's cluster name is never the real one (`rehearsal_name`), so a rehearsal
against `proxlb-sim` that shares a `state_dir` with production keeps its own rows (cooldowns,
history) and production's plan is not changed by what was rehearsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

REHEARSAL_PREFIX = "rehearsal-"


def rehearsal_name(cluster_name: str) -> str:
    """The simulated cluster's name for a dump of `cluster_name` ('' = a standalone node): never
    equal to a production cluster's name, and stable, so rehearsals of one cluster share rows."""
    name = cluster_name or "standalone"
    return name if name.startswith(REHEARSAL_PREFIX) else REHEARSAL_PREFIX + name


def scenario_document(
    resources: Sequence[Mapping[str, Any]],
    cluster_name: str,
    versions: Mapping[str, str],
    ha_resources: Sequence[Mapping[str, Any]] = (),
    ha_rules: Sequence[Mapping[str, Any]] = (),
    ha_groups: Sequence[Mapping[str, Any]] = (),
    ha_maintenance_nodes: Sequence[str] = (),
    ha_master: str | None = None,
) -> dict[str, Any]:
    """A scenario dict ready for YAML; `digest` keys (config hashes) are dropped."""

    def clean(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "digest"} for e in entries]

    pools = sorted({str(r["pool"]) for r in resources if r.get("type") == "pool" and r.get("pool")})
    ha: dict[str, Any] = {}
    if ha_resources:
        ha["resources"] = clean(ha_resources)
    if ha_rules:
        ha["rules"] = clean(ha_rules)
    if ha_groups:
        ha["groups"] = clean(ha_groups)
    if ha_maintenance_nodes:
        ha["maintenance_nodes"] = sorted(ha_maintenance_nodes)
    if ha_master:
        ha["master_node"] = ha_master
    doc: dict[str, Any] = {
        "resources": clean(resources),
        "versions": dict(sorted(versions.items())),
        "sim": {"cluster_name": rehearsal_name(cluster_name)},
    }
    if pools:
        doc["pools"] = [{"poolid": p} for p in pools]
    if ha:
        doc["ha"] = ha
    return doc
