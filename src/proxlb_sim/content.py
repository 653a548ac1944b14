"""Storage content (`GET /nodes/{node}/storage/{storage}/content`), derived from the scenario.

Follows pve-storage `src/PVE/API2/Storage/Content.pm` and `Storage/Plugin.pm::list_volumes`: guest
volumes come from the disk keys of every guest config (incl. `unusedN`), `content` is `rootdir` for a
container's volume and `images` otherwise; a shared storage shows every guest's volumes on every node,
a local one only the volumes of the guests on that node. ISO images and container templates come
from the scenario's `content:` section, backups from the seeded history. Sorted by volid like
`PVE::Storage::volume_list`. Sizes are integers in bytes; `ctime` is a Unix time.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from proxlb_sim.pveerror import PveError
from proxlb_sim.state import parse_disk

if TYPE_CHECKING:
    from proxlb_sim.cluster import SimCluster

_TEMPLATE_FORMAT = {".tar.zst": "tzst", ".tar.gz": "tgz", ".tar.xz": "txz"}


def _stable(key: str, modulo: int) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=6).digest(), "big") % modulo


def _guest_volumes(c: SimCluster, storage: str, node: str, shared: bool) -> list[dict[str, Any]]:
    out = []
    for g in sorted(c.guests.values(), key=lambda g: g.vmid):
        if not shared and g.node != node:
            continue
        for key, value in g.config.items():
            disk = parse_disk(key, value)
            if disk is None or disk.storage != storage or "/" in disk.volid.split(":", 1)[1]:
                continue  # ISO/cdrom files live under iso/, not in images
            qcow2 = disk.volid.endswith(".qcow2")
            entry: dict[str, Any] = {
                "volid": disk.volid,
                "format": "qcow2"
                if qcow2
                else ("subvol" if disk.volid.split(":")[1].startswith("subvol-") else "raw"),
                "size": disk.size or g.maxdisk,
                "vmid": g.vmid,
                "ctime": int(c.clock.start - 30 * 86_400 - _stable(disk.volid, 200 * 86_400)),
                "content": "rootdir" if g.kind == "lxc" else "images",
            }
            if qcow2:
                entry["used"] = (disk.size or g.maxdisk) // 3
            out.append(entry)
    return out


def _files(c: SimCluster, storage: str, kind: str, names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        if kind == "iso":
            fmt = "iso"
        else:
            fmt = next((f for ext, f in _TEMPLATE_FORMAT.items() if name.endswith(ext)), "tgz")
        out.append(
            {
                "volid": f"{storage}:{kind}/{name}",
                "format": fmt,
                "size": 150 * 1024**2 + _stable(name, 900 * 1024**2),
                "ctime": int(c.clock.start - 10 * 86_400 - _stable(name + "t", 300 * 86_400)),
                "content": kind,
            }
        )
    return out


def _backups(c: SimCluster, storage: str, node: str) -> list[dict[str, Any]]:
    out = []
    for a in c.backups:
        if a.storage != storage or a.node not in (None, node):
            continue
        out.append(
            {
                "volid": a.volid,
                "format": "vma.zst" if a.kind == "qemu" else "tar.zst",
                "size": a.size,
                "ctime": a.ctime,
                "vmid": a.vmid,
                "subtype": a.kind,
                "notes": a.notes,
                "content": "backup",
            }
        )
    return out


def check_storage(c: SimCluster, node: str, storage: str) -> None:
    """PVE's 500 for an unknown storage or one not available on `node`."""
    s = c.storages.get(storage)
    if s is None:
        raise PveError(500, f"storage '{storage}' does not exist")
    if node not in s.per_node:
        raise PveError(500, f"storage '{storage}' is not available on node '{node}'")


def storage_content(
    c: SimCluster, node: str, storage: str, content: str | None, vmid: int | None
) -> list[dict[str, Any]]:
    """The volumes of `storage` as seen from `node`, filtered by content type and owner vmid."""
    check_storage(c, node, storage)
    s = c.storages[storage]
    types = [t for t in s.content.split(",") if t and content in (None, t)]
    out: list[dict[str, Any]] = []
    for kind in types:
        if kind in ("images", "rootdir"):
            vols = _guest_volumes(c, storage, node, c.is_shared(storage))
            out.extend(v for v in vols if v["content"] == kind)
        elif kind == "iso" and vmid is None:
            out.extend(_files(c, storage, "iso", c.scenario.content.iso))
        elif kind == "vztmpl" and vmid is None:
            out.extend(_files(c, storage, "vztmpl", c.scenario.content.vztmpl))
        elif kind == "backup":
            out.extend(_backups(c, storage, node))
    if vmid is not None:
        out = [v for v in out if v.get("vmid") == vmid]
    return sorted(out, key=lambda v: str(v["volid"]).lower())
