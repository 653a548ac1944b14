"""collect_snapshot: request plan, concurrency bound, degradation on failing endpoints."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from proxlb.collect.snapshot import CollectSettings, collect_snapshot, collect_with_settings
from proxlb.config.model import ProxlbConfig
from proxlb.domain import VmId
from proxlb.errors import ApiError

from .fake_api import GIB, FakeReader, cluster, guest_entry, node_entry


def config(**balancing: Any) -> ProxlbConfig:
    return ProxlbConfig.model_validate(
        {"proxmox_api": {"hosts": ["127.0.0.1"], "user": "root@pam", "pass": "x"}, "balancing": balancing}
    )


def make_cluster(nodes: int, guests_per_node: int, version: str = "9.0.3", ha: bool = True) -> dict[str, Any]:
    """`nodes` nodes with `guests_per_node` guests each; with `ha` every guest is an HA resource."""
    node_entries = [node_entry(f"pve{i}") for i in range(1, nodes + 1)]
    extra = {"hastate": "started"} if ha else {}
    guest_entries = [
        guest_entry(100 + i * 1000 + j, f"pve{i}", **extra)
        for i in range(1, nodes + 1)
        for j in range(guests_per_node)
    ]
    return cluster(node_entries, guest_entries, version=version)


@pytest.mark.parametrize("nodes", [1, 3, 7])
@pytest.mark.parametrize("guests_per_node", [0, 5, 50])
@pytest.mark.parametrize("ha", [True, False])
@pytest.mark.parametrize(
    ("mode", "version", "ha_calls", "per_node"),
    [
        # HA: rules (PVE 9) or groups + resources (PVE 8), and /cluster/options (CRS mode)
        ("used", "9.0.3", 2, 2),
        ("used", "8.4.1", 3, 2),
        ("psi", "9.0.3", 2, 5),
    ],
)
def test_requests_grow_with_nodes_not_guests(
    nodes: int, guests_per_node: int, ha: bool, mode: str, version: str, ha_calls: int, per_node: int
) -> None:
    reader = FakeReader(make_cluster(nodes, guests_per_node, version, ha=ha))
    snapshot = collect_snapshot(reader, config(mode=mode), now=1.0)
    assert len(snapshot.guests) == nodes * guests_per_node
    has_ha_resources = ha and guests_per_node > 0
    assert len(reader.calls) == 4 + (ha_calls if has_ha_resources else 0) + per_node * nodes
    assert not any("/config" in c or ("/status/current" in c and "/nodes/" in c) for c in reader.calls)


def test_offline_nodes_cost_no_requests() -> None:
    answers = cluster([node_entry("pve1"), node_entry("pve2", status="offline")], [])
    reader = FakeReader(answers)
    snapshot = collect_snapshot(reader, config(), now=1.0)
    assert len(reader.calls) == 4 + 2
    assert not snapshot.node("pve2").online  # type: ignore[union-attr]
    assert snapshot.warnings == ()


def test_concurrency_is_bounded_by_eight() -> None:
    reader = FakeReader(make_cluster(12, 1), hold=threading.Event())
    collect_with_settings(reader, CollectSettings(max_workers=8), now=1.0)
    assert 1 < reader.max_in_flight <= 8


def test_snapshot_contents() -> None:
    answers = cluster(
        [node_entry("pve1", cpu=0.5), node_entry("pve2")],
        [
            guest_entry(100, "pve1", cpu=0.25, maxcpu=4, tags="plb_pin_pve2", pool="prod", hastate="started"),
            guest_entry(200, "pve2", kind="lxc", status="stopped"),
        ],
    )
    answers["/nodes/pve1/rrddata?cf=AVERAGE&timeframe=hour"] = [
        {"time": 1},
        {"time": 2, "cpu": 0.1, "maxcpu": 16},
    ]
    answers["/cluster/ha/status/current"] = [
        {
            "id": "lrm:pve2",
            "type": "lrm",
            "node": "pve2",
            "status": "pve2 (maintenance mode, watchdog active, x)",
        }
    ]
    answers["/cluster/ha/status/manager_status"] = {"manager_status": {"master_node": "pve1"}}
    answers["/cluster/ha/rules"] = [
        {"rule": "r1", "type": "resource-affinity", "resources": "vm:100,ct:200", "affinity": "negative"}
    ]
    snapshot = collect_snapshot(FakeReader(answers), config(), now=42.0)
    pve1, pve2 = snapshot.nodes
    assert pve1.usage.cpu_milli == 1600  # rrd average (0.1 × 16), not the instant 0.5
    assert pve1.pve_version == (9, 0, 3) and pve1.pve9
    assert pve2.ha_maintenance and not pve1.ha_maintenance
    assert snapshot.ha_master == "pve1" and snapshot.cluster_name == "lab" and snapshot.taken_at == 42.0
    assert snapshot.ha_rules[0].rule_id == "r1"
    g100 = snapshot.guest(100)
    assert g100 is not None and g100.usage.cpu_milli == 1000 and g100.pool == "prod" and g100.ha_managed
    assert snapshot.pools == {"prod": frozenset({VmId(100)})}
    g200 = snapshot.guest(200)
    assert g200 is not None and g200.usage.mem_bytes == 0 and g200.allocated.mem_bytes == 8 * GIB


def test_cpu_history_smooths_running_guests() -> None:
    answers = cluster(
        [node_entry("pve1")],
        [guest_entry(100, "pve1", cpu=0.25, maxcpu=4), guest_entry(101, "pve1", status="stopped")],
    )
    snapshot = collect_snapshot(
        FakeReader(answers), config(), now=1.0, cpu_history={VmId(100): 3000.0, VmId(101): 5000.0}
    )
    assert snapshot.guest(100).usage.cpu_milli == 2000  # type: ignore[union-attr]
    assert snapshot.guest(101).usage.cpu_milli == 0  # type: ignore[union-attr]


def test_pve8_reads_groups_and_membership() -> None:
    answers = make_cluster(2, 1, version="8.4.1")
    answers["/cluster/ha/groups"] = [{"group": "g", "nodes": "pve1:2,pve2", "restricted": 0}]
    answers["/cluster/ha/resources"] = [{"sid": "vm:1100", "group": "g"}]
    reader = FakeReader(answers)
    snapshot = collect_snapshot(reader, config(), now=1.0)
    assert "/cluster/ha/rules" not in reader.calls
    assert snapshot.ha_group_of == {1100: "g"} and snapshot.ha_groups[0].name == "g"
    assert snapshot.ha_rules[0].rule_id == "ha-group-g" and snapshot.ha_rules[0].from_group


def test_groups_migrated_to_rules_falls_back_to_rules() -> None:
    answers = make_cluster(1, 1, version="8.4.1")
    answers["/cluster/ha/groups"] = ApiError(
        "cannot index groups: ha groups have been migrated to rules", 500
    )
    answers["/cluster/ha/rules"] = [
        {"rule": "x", "type": "node-affinity", "resources": "vm:1", "nodes": "pve1"}
    ]
    snapshot = collect_snapshot(FakeReader(answers), config(), now=1.0)
    assert [r.rule_id for r in snapshot.ha_rules] == ["x"]


def test_psi_mode_reads_node_and_guest_pressure() -> None:
    answers = cluster([node_entry("pve1")], [guest_entry(100, "pve1"), guest_entry(200, "pve1", kind="lxc")])
    answers["/nodes/pve1/rrddata?cf=AVERAGE&timeframe=hour"] = [{"cpu": 0.1, "pressurememoryfull": 1.0}]
    answers["/nodes/pve1/rrddata?cf=MAX&timeframe=hour"] = [{"pressurememoryfull": 9.0}]
    answers["/nodes/pve1/qemu"] = [{"vmid": 100, "pressurecpusome": 3.5}]
    answers["/nodes/pve1/lxc"] = [{"vmid": 200, "pressurecpusome": "0.25"}]
    snapshot = collect_snapshot(FakeReader(answers), config(mode="psi"), now=1.0)
    assert (
        snapshot.nodes[0].pressure.memory.full == 1.0 and snapshot.nodes[0].pressure.memory.full_spike == 9.0
    )
    assert snapshot.guest(100).pressure.cpu.some == 3.5  # type: ignore[union-attr]
    assert snapshot.guest(200).pressure.cpu.some == 0.25  # type: ignore[union-attr]


def test_psi_mode_on_pve8_warns() -> None:
    snapshot = collect_snapshot(FakeReader(make_cluster(1, 0, version="8.4.1")), config(mode="psi"), now=1.0)
    assert any("no PSI" in w for w in snapshot.warnings)


FAILURES = [
    ("/cluster/status", "GET /cluster/status failed"),
    ("/cluster/ha/status/current", "HTTP 500"),
    ("/cluster/ha/status/manager_status", "manager_status failed"),
    ("/cluster/ha/rules", "HA rules are not considered"),
    ("/nodes/pve1/version", "/nodes/pve1/version failed"),
    ("/nodes/pve1/rrddata?cf=AVERAGE&timeframe=hour", "rrddata?timeframe=hour&cf=AVERAGE failed"),
]


@pytest.mark.parametrize(("path", "needle"), FAILURES)
def test_failing_endpoint_degrades_with_warning(
    path: str, needle: str, caplog: pytest.LogCaptureFixture
) -> None:
    answers = make_cluster(2, 2)
    answers[path] = ApiError("boom", 500, path)
    snapshot = collect_snapshot(FakeReader(answers), config(), now=1.0)
    assert len(snapshot.guests) == 4
    assert any(needle in w for w in snapshot.warnings), snapshot.warnings
    assert any(needle in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_version_failure_disables_pve9_path() -> None:
    answers = make_cluster(2, 1)
    answers["/nodes/pve1/version"] = {"version": "fake"}
    reader = FakeReader(answers)
    snapshot = collect_snapshot(reader, config(), now=1.0)
    assert "/cluster/ha/groups" in reader.calls
    assert any("no readable PVE version" in w for w in snapshot.warnings)


@pytest.mark.parametrize("rows", [[], [{"time": 1}], "junk"])
def test_empty_rrddata_falls_back_to_instant_cpu(rows: object) -> None:
    answers = cluster([node_entry("pve1", cpu=0.5, maxcpu=8)], [])
    answers["/nodes/pve1/rrddata?cf=AVERAGE&timeframe=hour"] = rows
    snapshot = collect_snapshot(FakeReader(answers), config(), now=1.0)
    assert snapshot.nodes[0].usage.cpu_milli == 4000
    assert any("instant CPU sample" in w for w in snapshot.warnings)


def test_resources_failure_raises_api_error() -> None:
    answers = make_cluster(1, 0)
    answers["/cluster/resources"] = ApiError("permission denied", 403, "/cluster/resources")
    with pytest.raises(ApiError):
        collect_snapshot(FakeReader(answers), config(), now=1.0)


def test_ignore_nodes_from_config_cost_no_requests() -> None:
    answers = make_cluster(3, 2)
    reader = FakeReader(answers)
    cfg = ProxlbConfig.model_validate(
        {
            "proxmox_api": {"hosts": ["h"], "user": "u@pam", "pass": "x"},
            "proxmox_cluster": {"ignore_nodes": ["pve3"]},
        }
    )
    snapshot = collect_snapshot(reader, cfg, now=1.0)
    assert snapshot.node_names == ("pve1", "pve2") and len(snapshot.guests) == 4
    assert not any("pve3" in c for c in reader.calls)
    assert snapshot.warnings == ()


def test_same_answers_give_same_snapshot() -> None:
    first = collect_snapshot(FakeReader(make_cluster(4, 3)), config(), now=1.0)
    second = collect_snapshot(FakeReader(make_cluster(4, 3)), config(), now=1.0)
    assert first == second and first.fingerprint() == second.fingerprint()
