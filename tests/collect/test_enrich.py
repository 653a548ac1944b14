"""Guest configuration: local disks on non-shared storage, passthrough devices, bounded requests."""

from __future__ import annotations

from typing import Any

import pytest

from proxlb.collect.enrich import enrich_guests
from proxlb.collect.guest_config import local_footprint, parse_size, shared_storages
from proxlb.collect.snapshot import CollectSettings, collect_with_settings
from proxlb.domain import ClusterSnapshot, GuestKind
from proxlb.errors import ApiError

from .fake_api import GIB, FakeReader, cluster, guest_entry, node_entry

SHARED = frozenset({"ceph-rbd"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("32G", 32 * GIB),
        ("512M", 512 * 1024**2),
        ("1T", 1024**4),
        ("4K", 4096),
        ("1024", 1024),
        ("1.5G", int(1.5 * GIB)),
        ("big", None),
        ("", None),
    ],
)
def test_parse_size(text: str, expected: int | None) -> None:
    assert parse_size(text) == expected


def test_shared_storages_from_flag_or_type() -> None:
    config = [
        {"storage": "local", "type": "dir"},
        {"storage": "nfs1", "type": "nfs"},
        {"storage": "shared-lvm", "type": "lvm", "shared": 1},
        {"storage": "ceph-rbd", "type": "rbd"},
        {"type": "dir"},
    ]
    assert shared_storages(config) == frozenset({"nfs1", "shared-lvm", "ceph-rbd"})
    assert shared_storages(None) == frozenset()


def test_qemu_footprint() -> None:
    config = {
        "scsi0": "ceph-rbd:vm-100-disk-0,iothread=1,size=32G",
        "scsi1": "local-lvm:vm-100-disk-1,size=10G",
        "efidisk0": "local-lvm:vm-100-disk-2,efitype=4m,size=4M",
        "ide2": "none,media=cdrom",
        "ide3": "local:iso/debian.iso,media=cdrom",
        "sata0": "/dev/disk/by-id/ata-XYZ,size=100G",
        "hostpci0": "0000:01:00.0,pcie=1",
        "usb0": "spice",
        "usb1": "host=1234:5678",
        "serial0": "socket",
        "serial1": "/dev/ttyS0",
        "net0": "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0",
        "memory": "8192",
        "cores": 2,
    }
    footprint = local_footprint(config, GuestKind.QEMU, SHARED)
    assert footprint.local_disk_bytes == 10 * GIB + 4 * 1024**2
    assert footprint.local_storages == frozenset({"local-lvm"})
    assert footprint.local_devices == (
        "hostpci0",
        "ide3 (CD image on local storage 'local')",
        "sata0 (host path /dev/disk/by-id/ata-XYZ)",
        "serial1",
        "usb1",
    )


def test_lxc_footprint() -> None:
    config = {
        "rootfs": "local-lvm:vm-200-disk-0,size=8G",
        "mp0": "ceph-rbd:vm-200-disk-1,mp=/data,size=100G",
        "mp1": "/srv/host,mp=/host",
        "mp2": "/mnt/nfs,mp=/nfs,shared=1",
        "dev0": "/dev/dri/renderD128",
        "memory": 2048,
    }
    footprint = local_footprint(config, GuestKind.LXC, SHARED)
    assert footprint.local_disk_bytes == 8 * GIB and footprint.local_storages == frozenset({"local-lvm"})
    assert footprint.local_devices == ("dev0", "mp1 (host path /srv/host)")


def _snapshot_and_answers() -> tuple[ClusterSnapshot, dict[str, Any]]:
    answers = cluster(
        [node_entry("pve1"), node_entry("pve2")],
        [guest_entry(100, "pve1"), guest_entry(200, "pve2", kind="lxc"), guest_entry(300, "pve2")],
    )
    answers["/storage"] = [
        {"storage": "ceph-rbd", "type": "rbd"},
        {"storage": "local-lvm", "type": "lvmthin"},
    ]
    answers["/nodes/pve1/qemu/100/config"] = {
        "scsi0": "local-lvm:vm-100-disk-0,size=32G",
        "hostpci0": "01:00.0",
    }
    answers["/nodes/pve2/lxc/200/config"] = {"rootfs": "ceph-rbd:vm-200-disk-0,size=8G"}
    snapshot = collect_with_settings(FakeReader(answers), CollectSettings(), now=1.0)
    return snapshot, answers


def test_enrich_only_requested_guests_with_one_storage_call() -> None:
    snapshot, answers = _snapshot_and_answers()
    reader = FakeReader(answers)
    enriched = enrich_guests(reader, snapshot, [100, 200])
    assert sorted(reader.calls) == ["/nodes/pve1/qemu/100/config", "/nodes/pve2/lxc/200/config", "/storage"]
    g100, g200, g300 = enriched.guests
    assert g100.local_disk_bytes == 32 * GIB and g100.local_storages == frozenset({"local-lvm"})
    assert g100.local_devices == ("hostpci0",)
    assert g200.local_disk_bytes == 0 and g200.local_devices == ()
    assert g300 == snapshot.guest(300)
    assert enriched.nodes == snapshot.nodes


def test_enrich_degrades_on_errors_and_unknown_vmids() -> None:
    snapshot, answers = _snapshot_and_answers()
    answers["/storage"] = ApiError("forbidden", 403, "/storage")
    answers["/nodes/pve2/lxc/200/config"] = ApiError("boom", 500)
    enriched = enrich_guests(FakeReader(answers), snapshot, [100, 200, 999])
    warnings = enriched.warnings
    assert any("999" in w and "not in the snapshot" in w for w in warnings)
    assert any("every storage is treated as local" in w for w in warnings)
    assert any("guest 200 are unknown" in w for w in warnings)
    assert enriched.guest(100).local_disk_bytes == 32 * GIB  # type: ignore[union-attr]


def test_enrich_with_nothing_makes_no_request() -> None:
    snapshot, answers = _snapshot_and_answers()
    reader = FakeReader(answers)
    assert enrich_guests(reader, snapshot, []) == snapshot
    assert reader.calls == []
