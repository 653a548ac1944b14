"""Fixtures for the simulator tests: a small hand-made scenario and a frozen-clock in-process API."""

from __future__ import annotations

from typing import Any

import pytest
from proxmoxer import ProxmoxAPI

from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import parse_scenario
from proxlb_sim.testing import SimInfo

GIB = 1024**3


def proxmoxer_for(sim: SimInfo, user: str | None = None, password: str | None = None) -> ProxmoxAPI:
    """The real proxmoxer client on the simulator over HTTPS: the simulator's API token, or a
    password login as `user`."""
    if user:
        return ProxmoxAPI(sim.host, port=sim.port, user=user, password=password, verify_ssl=sim.ca_file)
    return ProxmoxAPI(
        sim.host,
        port=sim.port,
        user=sim.user,
        token_name=sim.token_id,
        token_value=sim.token_secret,
        verify_ssl=sim.ca_file,
        timeout=10,
    )


def small_scenario(**overrides: Any) -> dict[str, Any]:
    """Two PVE 9 nodes and a PVE 8 node; VMs on shared and local storage, a CT, an HA VM, a template."""
    storages = []
    for node in ("pve1", "pve2", "pve3"):
        storages.append(
            {
                "type": "storage",
                "storage": "ceph",
                "node": node,
                "plugintype": "rbd",
                "shared": 1,
                "maxdisk": 10 * 1024 * GIB,
                "disk": 1024 * GIB,
            }
        )
        storages.append(
            {
                "type": "storage",
                "storage": "local-lvm",
                "node": node,
                "plugintype": "lvmthin",
                "shared": 0,
                "maxdisk": 1024 * GIB,
                "disk": 100 * GIB,
            }
        )
    raw: dict[str, Any] = {
        "sim": {
            "seed": 3,
            "link_bandwidth_mib": 1024,
            "disk_bandwidth_mib": 512,
            "migration_overhead_s": 4,
            "offline_overhead_s": 2,
            "ct_shutdown_s": 4,
            "ct_start_s": 2,
            "hamigrate_s": 1,
            "ha_delay_s": 8,
        },
        "versions": {"pve3": "8.4.1"},
        "resources": [
            {"type": "node", "node": "pve1", "maxcpu": 32, "maxmem": 128 * GIB, "cpu": 0.3, "mem": 60 * GIB},
            {"type": "node", "node": "pve2", "maxcpu": 32, "maxmem": 128 * GIB},
            {"type": "node", "node": "pve3", "maxcpu": 16, "maxmem": 64 * GIB},
            {
                "type": "qemu",
                "vmid": 100,
                "node": "pve1",
                "name": "web01",
                "maxcpu": 4,
                "cpu": 0.5,
                "maxmem": 8 * GIB,
                "mem": 4 * GIB,
                "tags": "plb_affinity_web;prod",
                "pool": "prod",
            },
            {
                "type": "qemu",
                "vmid": 101,
                "node": "pve1",
                "name": "db01",
                "maxcpu": 8,
                "cpu": 0.25,
                "maxmem": 16 * GIB,
                "mem": 8 * GIB,
            },
            {
                "type": "qemu",
                "vmid": 102,
                "node": "pve1",
                "name": "ha01",
                "maxcpu": 2,
                "cpu": 0.1,
                "maxmem": 4 * GIB,
                "mem": 2 * GIB,
            },
            {
                "type": "qemu",
                "vmid": 103,
                "node": "pve2",
                "name": "off01",
                "status": "stopped",
                "maxmem": 4 * GIB,
            },
            {
                "type": "qemu",
                "vmid": 104,
                "node": "pve1",
                "name": "gpu01",
                "maxcpu": 4,
                "cpu": 0.2,
                "maxmem": 8 * GIB,
                "mem": 4 * GIB,
            },
            {
                "type": "lxc",
                "vmid": 200,
                "node": "pve1",
                "name": "ct200",
                "maxcpu": 2,
                "cpu": 0.1,
                "maxmem": 2 * GIB,
                "mem": 1 * GIB,
                "maxdisk": 8 * GIB,
                "disk": 2 * GIB,
            },
            {
                "type": "qemu",
                "vmid": 9000,
                "node": "pve2",
                "name": "tmpl",
                "status": "stopped",
                "template": 1,
            },
            *storages,
        ],
        "guest_config": {
            100: {"name": "web01", "cores": 4, "memory": "8192", "scsi0": "ceph:vm-100-disk-0,size=32G"},
            101: {
                "name": "db01",
                "cores": 8,
                "memory": "16384",
                "scsi0": "local-lvm:vm-101-disk-0,size=16G",
                "ide2": "none,media=cdrom",
            },
            104: {"name": "gpu01", "scsi0": "ceph:vm-104-disk-0,size=32G", "hostpci0": "0000:41:00.0"},
        },
        "ha": {"resources": [{"sid": "vm:102", "state": "started"}]},
    }
    raw.update(overrides)
    return raw


@pytest.fixture
def cluster() -> SimCluster:
    return SimCluster.from_scenario(parse_scenario(small_scenario()), seed=3, time_scale=0)


@pytest.fixture
def api(cluster: SimCluster) -> InProcessApi:
    return InProcessApi(cluster)
