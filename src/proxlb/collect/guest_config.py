"""Parse a guest's configuration for what pins it to its node: local disks and passthrough. Pure.

Disk values are PVE property strings (`storage:volume,key=value,…,size=32G`). A volume on a
storage that is not shared must be copied by a migration (its bytes are the migration cost);
an absolute path, a host device, a bind mount or a local CD image ties the guest to the host.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from proxlb.collect.raw import as_flag, as_str, objects
from proxlb.domain import GuestKind

_QEMU_DISK = re.compile(r"^(ide|sata|scsi|virtio|efidisk|tpmstate|unused)\d+$")
_LXC_DISK = re.compile(r"^(rootfs|mp\d+|unused\d+)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
# Storage plugin types whose volumes every node sees, whatever the `shared` flag says.
SHARED_STORAGE_TYPES = frozenset(
    {"rbd", "cephfs", "nfs", "cifs", "glusterfs", "iscsi", "iscsidirect", "zfs", "pbs", "esxi"}
)


@dataclass(frozen=True)
class LocalFootprint:
    """What a guest's config says ties it to its node."""

    local_disk_bytes: int = 0
    local_storages: frozenset[str] = frozenset()
    local_devices: tuple[str, ...] = ()


def parse_size(text: str) -> int | None:
    """'32G' → 34359738368; '512M', '1.5T', '1024' (bytes); junk → None."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def shared_storages(storage_config: object) -> frozenset[str]:
    """`/storage` entries → ids of storages whose volumes every node can reach."""
    shared: set[str] = set()
    for entry in objects(storage_config):
        storage = as_str(entry.get("storage"))
        if storage and (as_flag(entry.get("shared")) or as_str(entry.get("type")) in SHARED_STORAGE_TYPES):
            shared.add(storage)
    return frozenset(shared)


def _properties(value: str) -> tuple[str, dict[str, str]]:
    parts = value.split(",")
    volume, options = parts[0].strip(), {}
    for part in parts[1:]:
        key, _, val = part.partition("=")
        options[key.strip()] = val.strip()
    if "=" in volume:  # `file=` written explicitly as the first key
        key, _, val = volume.partition("=")
        options[key] = val
        volume = options.get("file", options.get("volume", ""))
    return volume, options


def _is_device_key(key: str, value: str, kind: GuestKind) -> bool:
    if kind is GuestKind.QEMU:
        if re.match(r"^hostpci\d+$", key) or re.match(r"^parallel\d+$", key):
            return True
        if re.match(r"^usb\d+$", key):
            return not value.startswith("spice") and "host=spice" not in value
        if re.match(r"^serial\d+$", key):
            return value.strip() != "socket"
        return False
    return re.match(r"^dev\d+$", key) is not None


def local_footprint(config: Mapping[str, object], kind: GuestKind, shared: Collection[str]) -> LocalFootprint:
    """A guest config (`/nodes/{n}/{qemu|lxc}/{vmid}/config`) → local disks and devices."""
    disk_key = _QEMU_DISK if kind is GuestKind.QEMU else _LXC_DISK
    total = 0
    storages: set[str] = set()
    devices: list[str] = []
    for key in sorted(config):
        value = as_str(config[key])
        if value is None:
            continue
        if _is_device_key(key, value, kind):
            devices.append(key)
            continue
        if not (disk_key.match(key) or (kind is GuestKind.LXC and key.startswith("mp"))):
            continue
        volume, options = _properties(value)
        if volume in ("", "none"):
            continue
        if volume.startswith("/"):
            if kind is GuestKind.LXC and as_flag(options.get("shared")):
                continue
            devices.append(f"{key} (host path {volume})")
            continue
        storage = volume.split(":", 1)[0] if ":" in volume else ""
        if not storage or storage in shared:
            continue
        if options.get("media") == "cdrom":
            devices.append(f"{key} (CD image on local storage '{storage}')")
            continue
        storages.add(storage)
        total += parse_size(options.get("size", "")) or 0
    return LocalFootprint(total, frozenset(storages), tuple(devices))
