"""The simulator's PVE HA models: CRM recovery after a node failure, and 9.2 auto-rebalance rounds.

Reference behaviour is pve-ha-manager's own regression tests (src/test/test-crs-dynamic-auto-
rebalance2: four equal HA guests on one of three equal nodes → 'migrate vm:101 to node2 (1.41 to
0.94)', then 'vm:102 to node3 (0.94 to 0.35)', then nothing, since no move gains the 10 % margin).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from proxlb_sim.cluster import SimCluster
from proxlb_sim.ha_recovery import schedule_failure
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import parse_scenario


def homogeneous(crs: dict[str, Any]) -> SimCluster:
    raw = {
        "resources": [
            *(
                {"type": "node", "node": f"node{i}", "maxcpu": 24, "maxmem": "32G", "mem": "0"}
                for i in (1, 2, 3)
            ),
            *(
                {
                    "type": "qemu",
                    "vmid": v,
                    "node": "node1",
                    "maxcpu": 2,
                    "cpu": 0.5,
                    "maxmem": "8G",
                    "mem": "4G",
                }
                for v in (101, 102, 103, 104)
            ),
        ],
        "ha": {"resources": [{"sid": f"vm:{v}"} for v in (101, 102, 103, 104)]},
        "options": {"crs": crs},
        "sim": {"noise": 0, "drift": 0},
    }
    return SimCluster.from_scenario(parse_scenario(raw), time_scale=0)


def test_auto_rebalance_reproduces_pve_ha_managers_homogeneous_test(caplog: pytest.LogCaptureFixture) -> None:
    cluster = homogeneous({"ha": "dynamic", "ha-auto-rebalance": 1})
    api = InProcessApi(cluster)
    caplog.set_level(logging.INFO, logger="proxlb_sim.autorebalance")
    for _ in range(60):  # ten simulated minutes, one request every 10 s
        api.advance(10)
        api.get("/cluster/resources")
    lines = [r.getMessage() for r in caplog.records if "auto rebalance" in r.getMessage()]
    assert lines == [
        "auto rebalance - migrate vm:101 to node2 (expected change for imbalance from 1.41 to 0.94)",
        "auto rebalance - migrate vm:102 to node3 (expected change for imbalance from 0.94 to 0.35)",
    ]
    placement = {v: cluster.guests[v].node for v in (101, 102, 103, 104)}
    assert placement == {101: "node2", 102: "node3", 103: "node1", 104: "node1"}
    start = cluster.clock.start
    assert cluster.auto_rebalance is not None
    first = cluster.auto_rebalance.moves[0][0] - start
    assert first == 30.0  # held for 3 rounds of 10 s before the first move


@pytest.mark.parametrize(
    "crs",
    [
        {"ha": "basic", "ha-auto-rebalance": 1},
        {"ha": "dynamic"},
        {"ha": "dynamic", "ha-auto-rebalance": 1, "ha-auto-rebalance-threshold": 2},
    ],
)
def test_auto_rebalance_stays_quiet_when_off_basic_or_under_threshold(crs: dict[str, Any]) -> None:
    cluster = homogeneous(crs)
    api = InProcessApi(cluster)
    api.advance(600)
    api.get("/cluster/resources")
    assert all(cluster.guests[v].node == "node1" for v in (101, 102, 103, 104))


def test_failed_node_is_fenced_then_its_ha_guests_recover_in_sid_order() -> None:
    cluster = homogeneous({"ha": "static"})
    api = InProcessApi(cluster)
    with cluster.lock:
        schedule_failure(cluster, "node1", cluster.clock.start + 5)
    api.advance(60)
    listed = {e["vmid"]: e for e in api.get("/cluster/resources", type="vm")}
    assert all(listed[v]["node"] == "node1" and listed[v]["status"] != "running" for v in (101, 104))
    api.advance(120)  # fence delay over: the CRM recovered them
    listed = {e["vmid"]: e for e in api.get("/cluster/resources", type="vm")}
    where = [listed[v]["node"] for v in (101, 102, 103, 104)]
    assert where == ["node2", "node3", "node2", "node3"]  # static TOPSIS alternates between equal nodes
    assert all(listed[v]["status"] == "running" for v in (101, 102, 103, 104))


def test_node_failure_fault_from_the_scenario_recovers_ha_guests_and_leaves_others_down() -> None:
    raw = {
        "resources": [
            {"type": "node", "node": "pve1", "maxcpu": 8, "maxmem": "32G"},
            {"type": "node", "node": "pve2", "maxcpu": 8, "maxmem": "32G"},
            {"type": "qemu", "vmid": 100, "node": "pve1", "maxmem": "4G", "mem": "2G"},
            {"type": "qemu", "vmid": 101, "node": "pve1", "maxmem": "4G", "mem": "2G"},
        ],
        "ha": {"resources": [{"sid": "vm:100"}]},
        "faults": [{"kind": "node_failure", "node": "pve1", "at": 30}],
    }
    cluster = SimCluster.from_scenario(parse_scenario(raw), time_scale=0)
    api = InProcessApi(cluster)
    api.advance(600)
    listed = {e["vmid"]: e for e in api.get("/cluster/resources", type="vm")}
    assert listed[100]["node"] == "pve2" and listed[100]["status"] == "running"
    assert listed[101]["node"] == "pve1" and listed[101]["status"] != "running"


def test_ha_rules_written_over_the_api_steer_the_recovery() -> None:
    """#18 x failover: the CRM recovers with the rules as stored now, including ones an admin wrote
    with `POST /cluster/ha/rules` during the rehearsal (not only the scenario's)."""
    cluster = homogeneous({"ha": "static"})
    api = InProcessApi(cluster)
    sids = "vm:101,vm:102,vm:103,vm:104"
    api.post(
        "/cluster/ha/rules", rule="pin-node3", type="node-affinity", resources=sids, nodes="node3", strict=1
    )
    with cluster.lock:
        schedule_failure(cluster, "node1", cluster.clock.start + 5)
    api.advance(180)
    listed = {e["vmid"]: e for e in api.get("/cluster/resources", type="vm")}
    assert [listed[v]["node"] for v in (101, 102, 103, 104)] == ["node3"] * 4
