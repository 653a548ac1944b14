"""Case-insensitive node name resolution shared by tags, pools and HA rules. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from proxlb.domain import ClusterSnapshot


def node_lookup(snapshot: ClusterSnapshot) -> dict[str, str]:
    """lower-cased node name → the node's canonical name (PVE lower-cases tags, not node names)."""
    return {name.lower(): name for name in snapshot.node_names}


def resolve_nodes(
    names: Iterable[str], lookup: Mapping[str, str], where: str, warnings: list[str]
) -> frozenset[str]:
    """Canonical names of the known nodes in `names`; each unknown one adds a warning naming `where`."""
    found: set[str] = set()
    for name in names:
        canonical = lookup.get(name.strip().lower())
        if canonical is None:
            warnings.append(
                f"{where}: node '{name}' is not in the cluster (or is ignored); this pin is ignored"
            )
        else:
            found.add(canonical)
    return frozenset(found)
