"""Guests that must not be migrated, each with one sentence saying why. Pure.

Order of reasons (all that apply are joined, the first one names the source): config
(`balance_types`, `ignore_guests`), tag `plb_ignore*`, then properties of the guest itself:
template, lock, HA state that forbids a move, node offline, paused/unknown status, passthrough
devices, local disks when `with_local_disks` is false (known only after `enrich_guests`).

Stopped guests are movable (offline migration): a drain carries them off the node so they can be
started elsewhere, and affinity rules apply to them. They never move for balance in `used` or
`psi` mode, simply because moving them changes no measured load.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxlb.domain import ClusterSnapshot, Exclude, Guest, RuleSource, SourceKind, VmId
from proxlb.rules.settings import RuleSettings

# HA service states in which a migration request fails or fights the CRM.
BLOCKING_HA_STATES = frozenset({"error", "fence", "recovery", "freeze", "migrate", "relocate"})


def _guest_reasons(guest: Guest, snapshot: ClusterSnapshot, settings: RuleSettings) -> list[str]:
    reasons: list[str] = []
    if guest.template:
        reasons.append("template")
    if guest.lock:
        reasons.append(f"locked ({guest.lock})")
    if guest.ha_state in BLOCKING_HA_STATES:
        reasons.append(f"HA state '{guest.ha_state}'")
    node = snapshot.node(guest.node)
    if node is not None and not node.online:
        reasons.append(f"its node '{guest.node}' is offline")
    if guest.status not in ("running", "stopped"):
        reasons.append(f"status '{guest.status}'")
    if guest.local_devices:
        reasons.append(f"passthrough {', '.join(guest.local_devices)}")
    if guest.local_disk_bytes > 0 and not settings.with_local_disks:
        storages = ", ".join(sorted(guest.local_storages)) or "local storage"
        reasons.append(f"local disks on {storages} (balancing.with_local_disks is false)")
    return reasons


def ignored_by_name(
    snapshot: ClusterSnapshot, names: tuple[str, ...], warnings: list[str]
) -> dict[VmId, str]:
    """`balancing.ignore_guests` (names) → vmids; a name matching several guests applies to all."""
    result: dict[VmId, str] = {}
    for name in names:
        vmids = [g.vmid for g in snapshot.guests if g.name == name]
        if not vmids:
            warnings.append(f"balancing.ignore_guests names '{name}', but no guest has that name")
        elif len(vmids) > 1:
            listed = ", ".join(str(v) for v in vmids)
            warnings.append(f"balancing.ignore_guests name '{name}' matches guests {listed}; all are ignored")
        for vmid in vmids:
            result.setdefault(vmid, name)
    return result


def exclusions(
    snapshot: ClusterSnapshot,
    settings: RuleSettings,
    tag_ignored: Mapping[VmId, str],
    warnings: list[str],
) -> list[Exclude]:
    """One Exclude per guest that may not move, in vmid order."""
    if not settings.balance_types:
        warnings.append(
            "balancing.balance_types is empty: no guest will be migrated (set it to ['vm', 'ct'])"
        )
    by_name = ignored_by_name(snapshot, settings.ignore_guests, warnings)
    result: list[Exclude] = []
    for guest in snapshot.guests:
        reasons: list[tuple[str, RuleSource]] = []
        kind = guest.kind.balance_type
        if kind not in settings.balance_types:
            reasons.append(
                (f"balance_types does not include '{kind}'", RuleSource(SourceKind.CONFIG, "balance_types"))
            )
        if guest.vmid in by_name:
            reasons.append(
                (
                    f"listed in ignore_guests ('{by_name[guest.vmid]}')",
                    RuleSource(SourceKind.CONFIG, "ignore_guests"),
                )
            )
        if guest.vmid in tag_ignored:
            reasons.append(
                (f"tag {tag_ignored[guest.vmid]}", RuleSource(SourceKind.TAG, tag_ignored[guest.vmid]))
            )
        own = RuleSource(SourceKind.GUEST, str(guest.vmid))
        reasons.extend((reason, own) for reason in _guest_reasons(guest, snapshot, settings))
        if reasons:
            result.append(Exclude(guest.vmid, "; ".join(r for r, _ in reasons), reasons[0][1]))
    return result
