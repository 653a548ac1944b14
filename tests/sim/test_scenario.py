"""Scenario loading: dumps load as is, bundled scenarios load, mistakes are reported all at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from proxlb.errors import ApiError
from proxlb_sim.cluster import SimCluster
from proxlb_sim.generate import GenerateOptions, generate_scenario, to_yaml
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import ScenarioError, bundled_scenarios, load_scenario, parse_scenario
from tests.sim.conftest import small_scenario

DUMP = [  # a real /cluster/resources answer, abbreviated (pve-api.md §4.2)
    {
        "id": "qemu/100",
        "vmid": 100,
        "node": "pve1",
        "type": "qemu",
        "status": "running",
        "name": "web01",
        "uptime": 86400,
        "template": 0,
        "maxcpu": 4,
        "cpu": 0.153,
        "maxmem": 8589934592,
        "mem": 4294967296,
        "memhost": 4458000000,
        "maxdisk": 34359738368,
        "disk": 0,
        "netin": 123456789,
        "netout": 98765432,
        "diskread": 2147483648,
        "diskwrite": 1073741824,
        "tags": "plb_affinity_web;prod",
        "pool": "prod",
        "hastate": "started",
    },
    {
        "id": "lxc/200",
        "vmid": 200,
        "node": "pve2",
        "type": "lxc",
        "status": "running",
        "name": "ct200",
        "uptime": 3600,
        "template": 0,
        "maxcpu": 2,
        "cpu": 0.02,
        "maxmem": 2147483648,
        "mem": 268435456,
        "memhost": 0,
        "maxdisk": 8589934592,
        "disk": 1288490188,
        "netin": 1048576,
        "netout": 524288,
        "diskread": 104857600,
        "diskwrite": 52428800,
        "lock": "backup",
    },
    {
        "id": "node/pve1",
        "node": "pve1",
        "type": "node",
        "status": "online",
        "uptime": 1209600,
        "cpu": 0.0731,
        "maxcpu": 128,
        "mem": 68719476736,
        "maxmem": 540703121408,
        "disk": 12884901888,
        "maxdisk": 100861726720,
        "level": "",
        "cgroup-mode": 2,
        "host-arch": "x86_64",
        "hastate": "online",
    },
    {
        "id": "node/pve2",
        "node": "pve2",
        "type": "node",
        "status": "online",
        "uptime": 1209600,
        "cpu": 0.02,
        "maxcpu": 64,
        "mem": 8589934592,
        "maxmem": 270351560704,
        "disk": 1,
        "maxdisk": 100861726720,
        "level": "",
    },
    {
        "id": "node/pve3",
        "node": "pve3",
        "type": "node",
        "status": "offline",
        "level": "",
        "maxcpu": 64,
        "maxmem": 270351560704,
        "maxdisk": 100861726720,
        "cgroup-mode": 2,
    },
    {
        "id": "storage/pve1/ceph-rbd",
        "storage": "ceph-rbd",
        "node": "pve1",
        "type": "storage",
        "plugintype": "rbd",
        "status": "available",
        "shared": 1,
        "content": "images,rootdir",
        "maxdisk": 21990232555520,
        "disk": 5497558138880,
    },
    {"id": "/pool/prod", "pool": "prod", "type": "pool"},
    {"id": "sdn/pve1/localnetwork", "sdn": "localnetwork", "node": "pve1", "type": "sdn", "status": "ok"},
]


def test_a_cluster_resources_dump_loads_as_is(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(DUMP))
    api = InProcessApi(SimCluster.from_scenario(load_scenario(path), time_scale=0))
    vm = next(e for e in api.get("/cluster/resources", type="vm") if e["vmid"] == 100)
    assert (vm["node"], vm["tags"], vm["pool"], vm["hastate"]) == (
        "pve1",
        "plb_affinity_web;prod",
        "prod",
        "started",
    )
    assert abs(vm["mem"] - 4294967296) / 4294967296 < 0.1
    node = next(e for e in api.get("/nodes") if e["node"] == "pve1")
    assert abs(node["mem"] - 68719476736) / 68719476736 < 0.05
    assert next(e for e in api.get("/nodes") if e["node"] == "pve3")["status"] == "offline"
    assert api.get("/nodes/pve2/lxc/200/config")["lock"] == "backup"
    assert api.get("/cluster/ha/resources")[0]["sid"] == "vm:100"
    assert api.get("/pools") == [{"poolid": "prod"}]
    assert [e["type"] for e in api.get("/cluster/resources", type="sdn")] == ["sdn"]


def test_the_api_envelope_of_a_dump_loads_too() -> None:
    scenario = parse_scenario({"data": DUMP})
    assert [g.vmid for g in scenario.guests] == [100, 200]


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_bundled_scenarios_load_and_serve(name: str) -> None:
    api = InProcessApi(SimCluster.from_scenario(load_scenario(name), time_scale=0))
    assert api.get("/nodes") and api.get("/cluster/resources", type="vm")


def test_bundled_demo_is_unbalanced_and_tagged() -> None:
    api = InProcessApi(SimCluster.from_scenario(load_scenario("demo"), time_scale=0))
    ratios = [n["mem"] / n["maxmem"] for n in api.get("/nodes")]
    assert max(ratios) - min(ratios) > 0.5
    tags = ";".join(g.get("tags", "") for g in api.get("/cluster/resources", type="vm"))
    for tag in ("plb_affinity_", "plb_anti_affinity_", "plb_ignore_vm", "plb_pin_"):
        assert tag in tags


def test_every_problem_is_reported_together() -> None:
    raw: dict[str, Any] = {
        "resources": [
            {"type": "node", "node": "pve1"},
            {"type": "qemu", "vmid": 100, "node": "pve1"},
            {"type": "qemu", "vmid": 100, "node": "pve1"},
            {"type": "lxc", "vmid": 101, "node": "nowhere"},
            {"type": "qemu", "vmid": 12, "node": "pve1"},
            {"type": "banana"},
        ],
        "ha": {"resources": [{"sid": "ct:100"}]},
        "versions": {"pve1": "nine"},
    }
    with pytest.raises(ScenarioError) as err:
        parse_scenario(raw)
    text = "\n".join(err.value.problems)
    for expected in (
        "vmid 100 appears twice",
        "unknown node 'nowhere'",
        "greater than or equal to 100",
        "unknown resource type 'banana'",
        "ct:100 is not a guest",
        "'nine' is not a version",
    ):
        assert expected in text


def test_unknown_sections_and_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="invalid scenario"):
        parse_scenario({"resources": [{"type": "node", "node": "a"}], "surprise": 1})
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources: [")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(bad)


def test_size_strings_are_bytes() -> None:
    scenario = parse_scenario({"resources": [{"type": "node", "node": "a", "maxmem": "64G"}]})
    assert scenario.nodes[0].maxmem == 64 * 1024**3


def test_generated_scenarios_are_deterministic_and_valid(tmp_path: Path) -> None:
    options = GenerateOptions(nodes=6, guests=120, seed=5, skew=0.8, pve8_nodes=2)
    first, second = to_yaml(generate_scenario(options)), to_yaml(generate_scenario(options))
    assert first == second
    path = tmp_path / "gen.yaml"
    path.write_text(first)
    scenario = load_scenario(path)
    assert len(scenario.guests) == 120 and len(scenario.nodes) == 6
    assert sorted(scenario.versions) == ["pve5", "pve6"]
    per_node = [sum(1 for g in scenario.guests if g.node == n.node) for n in scenario.nodes]
    assert per_node[0] > per_node[-1]  # skew piles guests onto the first nodes


def test_small_scenario_fixture_is_valid() -> None:
    assert len(parse_scenario(small_scenario()).guests) == 7


def test_pve9_cluster_has_rules_and_no_groups() -> None:
    api = InProcessApi(SimCluster.from_scenario(load_scenario("ha-rules-pve9"), time_scale=0))
    rules = {r["rule"]: r for r in api.get("/cluster/ha/rules")}
    assert rules["pin-svc00"]["strict"] == 1 and rules["old-rule"]["disable"] == 1
    assert rules["keep-apart"]["resources"] == "vm:103,vm:105" and isinstance(
        rules["keep-apart"]["order"], int
    )
    assert [r["rule"] for r in api.get("/cluster/ha/rules", type="resource-affinity")] == [
        "keep-apart",
        "keep-together",
        "old-rule",
    ]
    with pytest.raises(ApiError) as err:
        api.get("/cluster/ha/groups")
    assert (err.value.status, str(err.value)) == (
        500,
        "cannot index groups: ha groups have been migrated to rules",
    )
    assert api.get("/cluster/ha/status/manager_status")["manager_status"]["master_node"] == "pve2"


def test_pve8_cluster_has_groups_and_no_rules() -> None:
    api = InProcessApi(SimCluster.from_scenario(load_scenario("pve8"), time_scale=0))
    assert api.get("/cluster/ha/groups")[0]["group"] == "prefer-pve2"
    assert api.get("/cluster/ha/resources")[0]["group"] == "prefer-pve2"
    with pytest.raises(ApiError) as err:
        api.get("/cluster/ha/rules")
    assert err.value.status == 501
    assert "pressurecpusome" not in api.get("/nodes/pve1/qemu")[0]
    assert "memhost" not in api.get("/cluster/resources", type="vm")[0]
    with pytest.raises(ApiError, match="with-conntrack-state"):
        api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1, **{"with-conntrack-state": 1})


def test_maintenance_node_reports_maintenance_mode() -> None:
    api = InProcessApi(SimCluster.from_scenario(load_scenario("maintenance"), time_scale=0))
    lrm = {e["node"]: e["status"] for e in api.get("/cluster/ha/status/current") if e["type"] == "lrm"}
    assert "maintenance mode" in lrm["pve4"] and "maintenance mode" not in lrm["pve1"]
    assert next(n for n in api.get("/cluster/resources", type="node") if n["node"] == "pve4")["hastate"] == (
        "maintenance"
    )


def test_acl_limits_a_user_and_a_privsep_token() -> None:
    from proxlb_sim.auth import Identity

    raw = small_scenario(
        auth={
            "users": [
                {
                    "userid": "audit@pve",
                    "password": "x",
                    "tokens": [{"id": "ro", "secret": "s", "privsep": 1}],
                }
            ],
            "acl": [
                {"path": "/", "ugid": "audit@pve", "privs": ["Sys.Audit", "VM.Audit", "VM.Migrate"]},
                {"path": "/vms", "ugid": "audit@pve!ro", "privs": ["VM.Audit"]},
            ],
        }
    )
    cluster = SimCluster.from_scenario(parse_scenario(raw), time_scale=0)
    user = InProcessApi(cluster, Identity("audit@pve"))
    assert set(user.get("/access/permissions")["/"]) == {"Sys.Audit", "VM.Audit", "VM.Migrate"}
    token = InProcessApi(cluster, Identity("audit@pve", "ro"))
    assert token.get("/access/permissions") == {"/vms": {"VM.Audit": 1}}
    with pytest.raises(ApiError) as err:
        token.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    assert (err.value.status, str(err.value)) == (403, "Permission check failed (/vms/100, VM.Migrate)")
    assert user.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1).endswith(":audit@pve:")
    # lists show only what the caller may audit
    assert {e["type"] for e in user.get("/cluster/resources")} == {"qemu", "lxc", "node"}
    assert {e["type"] for e in token.get("/cluster/resources")} == {"qemu", "lxc"}
    assert user.get("/pools") == []
    with pytest.raises(ApiError) as denied:
        user.get("/pools/prod")
    assert denied.value.status == 403
    root = InProcessApi(cluster)
    assert {e["type"] for e in root.get("/cluster/resources")} == {"qemu", "lxc", "node", "storage", "pool"}


def test_scenario_format_is_versioned() -> None:
    """Files without `format` are format 1 and still load; a newer format is refused with what to do."""
    raw = small_scenario()
    assert parse_scenario(raw).format == 1
    assert parse_scenario({**raw, "format": 2}).format == 2
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**raw, "format": 3})
    assert "scenario format 3 is not supported" in str(err.value)
    assert "upgrade proxlb-sim" in str(err.value)


def test_snapshot_and_agent_sections_are_checked() -> None:
    raw = small_scenario(
        snapshots={
            999: [{"name": "aa"}],
            100: [{"name": "aa"}, {"name": "aa"}, {"name": "bb", "parent": "zz"}],
        },
        agent={"not_running": [200]},
    )
    with pytest.raises(ScenarioError) as err:
        parse_scenario(raw)
    text = str(err.value)
    assert "snapshots: vmid 999 is not in resources" in text
    assert "snapshots.100: snapshot 'aa' appears twice" in text
    assert "snapshots.100: 'bb' has unknown parent 'zz'" in text
    assert "agent.not_running: 200 is not a VM in resources" in text
