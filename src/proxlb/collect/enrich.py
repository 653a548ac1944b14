"""Add per-guest configuration facts (local disks, passthrough) for a bounded set of guests.

Called for the guests a plan wants to move only, so per-guest requests are bounded by the plan:
1 (`/storage`) + one config request per vmid, run concurrently (at most 8 at a time).
Failures degrade with a warning (the guest keeps what it had); nothing here raises on odd data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from proxlb.collect.fetch import MAX_CONCURRENT_REQUESTS, Request, fetch_all
from proxlb.collect.guest_config import local_footprint, shared_storages
from proxlb.collect.port import ApiReader
from proxlb.collect.raw import as_object
from proxlb.domain import ClusterSnapshot, Guest

log = logging.getLogger(__name__)


def enrich_guests(
    reader: ApiReader,
    snapshot: ClusterSnapshot,
    vmids: Iterable[int],
    max_workers: int = MAX_CONCURRENT_REQUESTS,
) -> ClusterSnapshot:
    """A new snapshot whose guests in `vmids` carry local_disk_bytes, local_storages, local_devices.

    Storage ids are judged shared from `/storage` (the `shared` flag or an inherently shared
    type); if it cannot be read every storage counts as local (the safe side) and a warning says so.
    """
    warnings: list[str] = []
    targets: list[Guest] = []
    for vmid in sorted(set(vmids)):
        guest = snapshot.guest(vmid)
        if guest is None:
            warnings.append(f"cannot read the configuration of guest {vmid}: it is not in the snapshot")
        else:
            targets.append(guest)
    if not targets:
        return _with_warnings(snapshot, (), warnings)
    requests = [Request("/storage")] + [
        Request(f"/nodes/{g.node}/{g.kind.value}/{g.vmid}/config") for g in targets
    ]
    storage_answer, *config_answers = fetch_all(reader, requests, max_workers)
    if storage_answer.error is not None:
        warnings.append(f"{storage_answer.failure()}; every storage is treated as local")
    shared = shared_storages(storage_answer.data)
    updated: dict[int, Guest] = {}
    for guest, answer in zip(targets, config_answers, strict=True):
        if answer.error is not None:
            warnings.append(f"{answer.failure()}; local disks and devices of guest {guest.vmid} are unknown")
            continue
        footprint = local_footprint(as_object(answer.data), guest.kind, shared)
        updated[guest.vmid] = replace(
            guest,
            local_disk_bytes=footprint.local_disk_bytes,
            local_storages=footprint.local_storages,
            local_devices=footprint.local_devices,
        )
    guests = tuple(updated.get(g.vmid, g) for g in snapshot.guests)
    return _with_warnings(snapshot, guests, warnings)


def _with_warnings(
    snapshot: ClusterSnapshot, guests: tuple[Guest, ...], warnings: list[str]
) -> ClusterSnapshot:
    for warning in warnings:
        log.warning("%s", warning)
    return replace(
        snapshot,
        guests=guests or snapshot.guests,
        warnings=snapshot.warnings + tuple(warnings),
    )
