"""Property tests: no parser raises on arbitrary JSON, whatever PVE (or a broken proxy) sends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proxlb.collect.guest_config import local_footprint, shared_storages
from proxlb.collect.ha import (
    maintenance_nodes_from_status,
    parse_ha_group_membership,
    parse_ha_groups,
    parse_ha_rules,
    parse_manager_status,
)
from proxlb.collect.metrics import guest_pressures, node_pressure, parse_node_rrd
from proxlb.collect.raw import parse_pve_version
from proxlb.collect.resources import parse_cluster_status, parse_resources
from proxlb.domain import GuestKind

KEYS = st.sampled_from(
    [
        "type",
        "node",
        "vmid",
        "id",
        "status",
        "name",
        "maxcpu",
        "cpu",
        "maxmem",
        "mem",
        "maxdisk",
        "disk",
        "tags",
        "pool",
        "lock",
        "hastate",
        "template",
        "storage",
        "shared",
        "rule",
        "resources",
        "nodes",
        "affinity",
        "strict",
        "disable",
        "group",
        "sid",
        "restricted",
        "pressurecpusome",
        "scsi0",
        "hostpci0",
        "usb0",
        "rootfs",
        "mp0",
        "manager_status",
        "master_node",
        "node_status",
        "quorate",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "node",
            "qemu",
            "lxc",
            "storage",
            "pool",
            "online",
            "running",
            "node-affinity",
            "resource-affinity",
            "vm:100",
            "pve1:2,pve2",
            "local:vm-1-disk-0,size=4G",
            "/dev/sda",
            "lrm",
        ]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=8)),
    max_leaves=30,
)
ENTRIES = st.lists(st.dictionaries(KEYS, JSON, max_size=10), max_size=8)


@settings(max_examples=150, deadline=None)
@given(st.one_of(JSON, ENTRIES))
def test_no_parser_raises(data: object) -> None:
    warnings: list[str] = []
    parse_resources(data, ("pve1",), warnings)
    parse_cluster_status(data, warnings)
    maintenance_nodes_from_status(data)
    parse_manager_status(data)
    parse_ha_rules(data, warnings)
    parse_ha_groups(data, warnings)
    parse_ha_group_membership(data)
    parse_node_rrd(data, 4.0)
    node_pressure(data, data)
    guest_pressures(data)
    shared_storages(data)
    parse_pve_version(data)
    if isinstance(data, dict):
        local_footprint(data, GuestKind.QEMU, frozenset())
        local_footprint(data, GuestKind.LXC, frozenset())
