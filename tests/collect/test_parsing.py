"""Pure parsers: versions, raw values, /cluster/resources, RRD, PSI, HA endpoints."""

from __future__ import annotations

import pytest

from proxlb.collect.ha import (
    maintenance_nodes_from_status,
    parse_ha_group_membership,
    parse_ha_groups,
    parse_ha_rules,
    parse_manager_status,
    rules_from_groups,
)
from proxlb.collect.metrics import guest_pressures, node_pressure, parse_node_rrd, smooth_cpu
from proxlb.collect.raw import as_flag, as_float, as_int, parse_pve_version
from proxlb.collect.resources import parse_cluster_status, parse_resources
from proxlb.domain import GuestKind, VmId

from .fake_api import GIB, guest_entry, node_entry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9.2.11", (9, 2, 11)),
        ("8.4.1", (8, 4, 1)),
        ("8.4", (8, 4, 0)),
        ("9", (9, 0, 0)),
        ("9.1.0~rc1", (9, 1, 0)),
        ("9.0-beta", (9, 0, 0)),
        ("pve-manager/8.4.1/abcdef", (8, 4, 1)),
        ("fake", None),
        ("", None),
        (None, None),
        (9, None),
        ("9.\u00b9", (9, 0, 0)),  # superscript one: isdigit() but not a digit int() takes
        ("\u0669.2", None),  # Arabic-Indic nine: PVE versions are ASCII
    ],
)
def test_parse_pve_version(text: object, expected: tuple[int, int, int] | None) -> None:
    assert parse_pve_version(text) == expected


def test_raw_values_are_tolerant() -> None:
    assert as_float("0.12") == 0.12
    assert as_float(True) is None
    assert as_float("nan") is None
    assert as_int(4.0) == 4
    assert as_int(4.5) is None
    assert as_int("12") == 12
    assert as_flag("1") and as_flag(1) and not as_flag("0") and not as_flag(None)


def test_guest_cpu_is_fraction_times_vcpus_in_milli_cores() -> None:
    warnings: list[str] = []
    parsed = parse_resources(
        [
            node_entry("pve1"),
            guest_entry(100, "pve1", cpu=0.5, maxcpu=4),
            guest_entry(101, "pve1", kind="lxc", cpu=0.5, maxcpu=1.5),
        ],
        (),
        warnings,
    )
    vm, ct = parsed.guests
    assert vm.usage.cpu_milli == 2000  # half of 4 vCPUs = 2 cores, not 0.5 (upstream's unit bug)
    assert vm.allocated.cpu_milli == 4000
    assert ct.allocated.cpu_milli == 1500  # fractional CT cpulimit kept
    assert ct.usage.cpu_milli == 750
    assert ct.usage.disk_bytes == 2 * GIB and vm.usage.disk_bytes == 0
    assert warnings == []


def test_node_capacity_and_instant_usage() -> None:
    parsed = parse_resources([node_entry("pve1", cpu=0.25, maxcpu=16)], (), [])
    node = parsed.nodes[0]
    assert node.online and node.capacity.cpu_milli == 16000 and node.capacity.mem_bytes == 64 * GIB
    assert node.usage.cpu_milli == 4000 and node.usage.mem_bytes == 32 * GIB


def test_stopped_guest_keeps_allocation_with_zero_usage_and_tags_deduplicated() -> None:
    parsed = parse_resources(
        [
            node_entry("pve1"),
            guest_entry(
                100,
                "pve1",
                status="stopped",
                tags="plb_ignore;A;a;plb_ignore",
                lock="backup",
                template=1,
                pool="prod",
                hastate="started",
            ),
        ],
        (),
        [],
    )
    guest = parsed.guests[0]
    assert guest.allocated.mem_bytes == 8 * GIB and guest.usage.mem_bytes == 0 and guest.usage.cpu_milli == 0
    assert guest.tags == ("plb_ignore", "A", "a")
    assert guest.lock == "backup" and guest.template and guest.ha_managed and guest.ha_state == "started"
    assert parsed.pools == {"prod": frozenset({VmId(100)})}


ODD_RESOURCES = [
    pytest.param([node_entry("pve1", status="offline")], "", id="offline-node-kept-no-warning"),
    pytest.param(
        [{"type": "node", "node": "pve1", "status": "online"}], "no cpu/memory capacity", id="no-metrics"
    ),
    pytest.param(
        [node_entry("pve1"), {"type": "node", "status": "online"}], "without a name", id="nameless-node"
    ),
    pytest.param(
        [node_entry("pve1"), guest_entry(100, "pve9")], "not in the cluster", id="guest-on-unknown-node"
    ),
    pytest.param(
        [node_entry("pve1"), {**guest_entry(100, "pve1"), "vmid": "abc", "id": "qemu/abc"}],
        "not a number",
        id="non-numeric-vmid",
    ),
    pytest.param(
        [node_entry("pve1"), guest_entry(100, "pve1", maxmem=None)], "no maxcpu/maxmem", id="missing-maxmem"
    ),
    pytest.param(
        [node_entry("pve1"), guest_entry(100, "pve1", maxcpu="four")], "no maxcpu/maxmem", id="ill-typed"
    ),
    pytest.param(
        [node_entry("pve1"), guest_entry(100, "pve1"), guest_entry(101, "pve1", name="g100")],
        "used by vmids 100, 101",
        id="duplicate-names",
    ),
    pytest.param(
        [node_entry("pve1"), guest_entry(100, "pve1"), guest_entry(100, "pve1")],
        "listed twice",
        id="duplicate-vmid",
    ),
    pytest.param([node_entry("pve1"), node_entry("pve1")], "listed twice", id="duplicate-node"),
    pytest.param([node_entry("pve1"), "junk", 42, None], "", id="non-object-items"),
    pytest.param({"not": "a list"}, "did not return a list", id="not-a-list"),
    pytest.param([node_entry("pve1", cpu=None, mem=None)], "no cpu/memory usage", id="node-without-usage"),
]


@pytest.mark.parametrize(("data", "needle"), ODD_RESOURCES)
def test_odd_resources_warn_and_never_raise(data: object, needle: str) -> None:
    warnings: list[str] = []
    parse_resources(data, (), warnings)
    if needle:
        assert any(needle in w for w in warnings), warnings
    else:
        assert warnings == []


def test_offline_node_has_no_usage_and_its_guests_stay() -> None:
    parsed = parse_resources(
        [node_entry("pve3", status="offline"), guest_entry(100, "pve3", status="stopped")], (), []
    )
    assert not parsed.nodes[0].online and parsed.nodes[0].usage.mem_bytes == 0
    assert [g.vmid for g in parsed.guests] == [100]


def test_ignore_nodes_drops_node_and_guests_and_warns_on_unknown_name() -> None:
    warnings: list[str] = []
    parsed = parse_resources(
        [node_entry("pve1"), node_entry("pve2"), guest_entry(100, "pve2"), guest_entry(101, "pve1")],
        ("pve2", "nosuch"),
        warnings,
    )
    assert [n.name for n in parsed.nodes] == ["pve1"]
    assert [g.vmid for g in parsed.guests] == [101]
    assert parsed.ignored_guests == 1
    assert warnings == ["proxmox_cluster.ignore_nodes names 'nosuch', which is not a node of this cluster"]


def test_storages_and_pools_from_resources() -> None:
    parsed = parse_resources(
        [
            node_entry("pve1"),
            {"type": "storage", "storage": "local-lvm", "node": "pve1", "status": "available", "shared": 0},
            {"type": "storage", "storage": "ceph", "node": "pve1", "status": "available", "shared": 1},
            {
                "type": "storage",
                "storage": "nfs",
                "node": "pve1",
                "status": "unknown",
                "shared": 1,
                "pool": "prod",
            },
            {"type": "pool", "pool": "empty", "id": "/pool/empty"},
            guest_entry(100, "pve1", kind="lxc", pool="prod"),
        ],
        (),
        [],
    )
    assert parsed.nodes[0].storages == frozenset({"local-lvm", "ceph"})
    assert parsed.shared_storages == frozenset({"ceph", "nfs"})
    # a storage that belongs to a pool is never a pool member: membership is guest-based
    assert parsed.pools == {"empty": frozenset(), "prod": frozenset({VmId(100)})}
    assert parsed.guests[0].kind is GuestKind.LXC


def test_cluster_status_name_and_quorum() -> None:
    warnings: list[str] = []
    status = parse_cluster_status([{"type": "cluster", "name": "lab", "quorate": 0}], warnings)
    assert status.name == "lab" and not status.quorate and "not quorate" in warnings[0]
    assert parse_cluster_status(None, []).name == ""


def test_rrd_averages_only_rows_having_the_key() -> None:
    rows = [
        {"time": 1},
        {"time": 2},
        {"time": 3, "cpu": 0.5, "maxcpu": 8, "pressurecpusome": 2.0},
        {"time": 4, "cpu": 0.25, "pressurecpusome": "4.0"},
    ]
    rrd = parse_node_rrd(rows, maxcpu_cores=8)
    assert rrd.cpu_milli == 3000  # mean of 4 cores and 2 cores; time-only rows do not dilute
    assert rrd.pressure.cpu.some == 3.0 and rrd.pressure.known


@pytest.mark.parametrize("data", [[], None, "junk", [{"time": 1}], [{"cpu": "x"}]])
def test_rrd_without_cpu_rows_gives_none(data: object) -> None:
    rrd = parse_node_rrd(data, 8)
    assert rrd.cpu_milli is None and not rrd.pressure.known


def test_node_pressure_spikes_use_last_six_max_rows() -> None:
    max_rows = [{"time": i, "pressurememoryfull": float(v)} for i, v in enumerate([50, 1, 2, 3, 4, 5, 6])]
    pressure = node_pressure([{"pressurememoryfull": 2.0}], max_rows)
    assert pressure.memory.full == 2.0 and pressure.memory.full_spike == 6.0  # 50 is older than six rows


def test_guest_pressures_accept_lxc_strings() -> None:
    result = guest_pressures(
        [
            {"vmid": 200, "pressurecpusome": "0.50", "pressureiofull": "0.10"},
            {"vmid": 201, "status": "stopped"},
            {"vmid": "x", "pressurecpusome": 1},
        ]
    )
    assert set(result) == {200}
    assert result[VmId(200)].cpu.some == 0.5 and result[VmId(200)].io.full_spike == 0.1


def test_smooth_cpu() -> None:
    assert smooth_cpu(None, 1000, 0.5) == 1000
    assert smooth_cpu(3000.0, 1000, 0.5) == 2000
    assert smooth_cpu(3000.0, 1000, 1.0) == 1000
    assert smooth_cpu(3000.0, 1000, 0.25) == 2500


def test_ha_status_and_manager_status() -> None:
    current = [
        {"id": "lrm:pve1", "type": "lrm", "node": "pve1", "status": "pve1 (active, watchdog active, Thu)"},
        {"id": "lrm:pve2", "type": "lrm", "node": "pve2", "status": "pve2 (maintenance mode, Thu)"},
        {"id": "lrm:", "type": "lrm", "node": "", "status": " (unable to read lrm status)"},
        {"id": "service:vm:100", "type": "service", "node": "pve3", "status": "maintenance mode?"},
    ]
    assert maintenance_nodes_from_status(current) == frozenset({"pve2"})
    master, crm = parse_manager_status(
        {"manager_status": {"master_node": "pve1", "node_status": {"pve1": "online", "pve3": "maintenance"}}}
    )
    assert master == "pve1" and crm == frozenset({"pve3"})
    assert parse_manager_status({"manager_status": {}}) == (None, frozenset())
    assert parse_manager_status("junk") == (None, frozenset())


def test_ha_rules_parse_priorities_strict_and_disabled() -> None:
    warnings: list[str] = []
    rules = parse_ha_rules(
        [
            {"rule": "pin", "type": "node-affinity", "resources": "vm:100", "nodes": "node1", "strict": 1},
            {
                "rule": "cascade",
                "type": "node-affinity",
                "resources": "ct:300,vm:200",
                "nodes": "node2:1,node1:2,node4",
            },
            {
                "rule": "apart",
                "type": "resource-affinity",
                "resources": "ct:300,vm:200",
                "affinity": "negative",
            },
            {
                "rule": "off",
                "type": "resource-affinity",
                "resources": "vm:1,bogus",
                "affinity": "positive",
                "disable": 1,
            },
            {"rule": "weird", "type": "something-new"},
            {"rule": "noaff", "type": "resource-affinity", "resources": "vm:1"},
        ],
        warnings,
    )
    by_id = {r.rule_id: r for r in rules}
    assert list(by_id) == ["apart", "cascade", "off", "pin"]
    assert by_id["pin"].strict and by_id["pin"].nodes == (("node1", 0),)
    assert (
        by_id["cascade"].nodes == (("node1", 2), ("node2", 1), ("node4", 0)) and not by_id["cascade"].strict
    )
    assert by_id["cascade"].resources == (200, 300)
    assert by_id["apart"].affinity == "negative" and by_id["off"].disabled and by_id["off"].resources == (1,)
    assert len(warnings) == 3  # bogus resource, unknown type, missing affinity


def test_ha_groups_translate_to_node_affinity_rules() -> None:
    groups = parse_ha_groups(
        [{"group": "prefer", "nodes": "pve1:2,pve2", "restricted": 1, "nofailback": 0}, {"nodes": "x"}], []
    )
    membership = parse_ha_group_membership(
        [{"sid": "vm:100", "group": "prefer"}, {"sid": "ct:200"}, {"sid": "vm:101", "group": "prefer"}]
    )
    assert membership == {100: "prefer", 101: "prefer"}
    (rule,) = rules_from_groups(groups, membership)
    assert rule.rule_id == "ha-group-prefer" and rule.from_group and rule.strict
    assert rule.resources == (100, 101) and rule.nodes == (("pve1", 2), ("pve2", 0))


def test_node_disk_is_its_local_guest_storage_not_the_root_filesystem() -> None:
    def storage(name: str, shared: int, content: str, maxdisk: int, disk: int) -> dict[str, object]:
        return {
            "type": "storage",
            "storage": name,
            "node": "pve1",
            "status": "available",
            "shared": shared,
            "content": content,
            "maxdisk": maxdisk,
            "disk": disk,
        }

    parsed = parse_resources(
        [
            node_entry("pve1"),  # root filesystem: 100 GiB
            node_entry("pve2"),  # no local guest storage: the root filesystem stays the measure
            storage("local-lvm", 0, "images,rootdir", 1800 * GIB, 300 * GIB),
            storage("local-zfs", 0, "images", 200 * GIB, 50 * GIB),
            storage("local", 0, "iso,vztmpl,backup", 90 * GIB, 10 * GIB),  # holds no guest disks
            storage("ceph", 1, "images,rootdir", 60_000 * GIB, 1 * GIB),  # shared: not local
        ],
        (),
        [],
    )
    pve1, pve2 = parsed.nodes
    assert (pve1.capacity.disk_bytes, pve1.usage.disk_bytes) == (2000 * GIB, 350 * GIB)
    assert pve2.capacity.disk_bytes == node_entry("pve2")["maxdisk"]
