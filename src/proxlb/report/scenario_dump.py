"""`proxlb snapshot`: turn raw API answers into a proxlb-sim scenario document. Pure.

The scenario keeps Proxmox's own shapes (`resources:` is `/cluster/resources` verbatim, guest
configurations and snapshot lists as `GET .../config` and `.../snapshot` return them), so a dump of a
production cluster can be served by `proxlb-sim` to rehearse a configuration, and the admin's own
tools read the same guest configs, agent settings, tags, storages and snapshots there.
Secrets never enter it: the simulator's default credentials apply, and config keys that can hold a
secret (`cipassword`, `sshkeys`) are dropped.

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


SCENARIO_FORMAT = 2  # the `format` proxlb-sim reads (formats 1..2); bump together with proxlb_sim
_SECRET_KEYS = frozenset({"cipassword", "sshkeys", "digest", "pending"})
_SNAPSHOT_KEYS = ("name", "snaptime", "description", "vmstate", "parent")


def scenario_document(
    resources: Sequence[Mapping[str, Any]],
    cluster_name: str,
    versions: Mapping[str, str],
    ha_resources: Sequence[Mapping[str, Any]] = (),
    ha_rules: Sequence[Mapping[str, Any]] = (),
    ha_groups: Sequence[Mapping[str, Any]] = (),
    ha_maintenance_nodes: Sequence[str] = (),
    ha_master: str | None = None,
    guest_configs: Mapping[int, Mapping[str, Any]] | None = None,
    snapshots: Mapping[int, Sequence[Mapping[str, Any]]] | None = None,
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
        "format": SCENARIO_FORMAT,
        "resources": clean(resources),
        "versions": dict(sorted(versions.items())),
        "sim": {"cluster_name": rehearsal_name(cluster_name)},
    }
    if pools:
        doc["pools"] = [{"poolid": p} for p in pools]
    if ha:
        doc["ha"] = ha
    configs = {
        int(vmid): {k: v for k, v in conf.items() if k not in _SECRET_KEYS}
        for vmid, conf in sorted((guest_configs or {}).items())
        if conf
    }
    if configs:
        doc["guest_config"] = configs
    snaps = {
        int(vmid): [
            {k: s[k] for k in _SNAPSHOT_KEYS if s.get(k) not in (None, "")}
            for s in entries
            if s.get("name") and s.get("name") != "current"
        ]
        for vmid, entries in sorted((snapshots or {}).items())
    }
    snaps = {vmid: entries for vmid, entries in snaps.items() if entries}
    if snaps:
        doc["snapshots"] = snaps
    return doc
