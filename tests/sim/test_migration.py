"""Migration behaviour (in process, frozen clock): life cycle, timing model, refusals, HA path, faults."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from proxlb.errors import ApiError
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi

GIB = 1024**3


def status(api: InProcessApi, upid: str) -> dict[str, Any]:
    node = upid.split(":")[1]
    result: dict[str, Any] = api.get(f"/nodes/{node}/tasks/{upid}/status")
    return result


def log_lines(api: InProcessApi, upid: str) -> list[str]:
    node = upid.split(":")[1]
    return [line["t"] for line in api.get(f"/nodes/{node}/tasks/{upid}/log", limit=0)]


def finish(api: InProcessApi, upid: str, limit_s: float = 3600) -> dict[str, Any]:
    waited = 0.0
    while status(api, upid)["status"] == "running":
        api.advance(1)
        waited += 1
        assert waited < limit_s, "task did not end"
    return status(api, upid)


def node_mem(api: InProcessApi) -> dict[str, int]:
    return {n["node"]: n["mem"] for n in api.get("/cluster/resources", type="node")}


def test_live_migration_life_cycle(api: InProcessApi, cluster: SimCluster) -> None:
    before = node_mem(api)
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    assert upid.startswith("UPID:pve1:") and ":qmigrate:100:root@pam:" in upid and upid.endswith(":")
    running = status(api, upid)
    assert running["status"] == "running" and "exitstatus" not in running
    vm = next(g for g in api.get("/cluster/resources", type="vm") if g["vmid"] == 100)
    assert vm["lock"] == "migrate" and vm["node"] == "pve1"
    with pytest.raises(ApiError) as locked:
        api.post("/nodes/pve1/qemu/100/migrate", target="pve3", online=1)
    assert (locked.value.status, str(locked.value)) == (500, "VM is locked (migrate)")
    done = finish(api, upid)
    assert done["exitstatus"] == "OK"
    vm = next(g for g in api.get("/cluster/resources", type="vm") if g["vmid"] == 100)
    assert vm["node"] == "pve2" and "lock" not in vm
    after = node_mem(api)
    assert after["pve1"] < before["pve1"] and after["pve2"] > before["pve2"]
    lines = log_lines(api, upid)
    assert lines[-1] == "TASK OK"
    assert any("migration finished successfully" in line for line in lines)
    assert [g["vmid"] for g in api.get("/nodes/pve2/qemu")] == [100, 103, 9000]


def test_duration_follows_memory_over_bandwidth_plus_overhead(api: InProcessApi) -> None:
    # 4 GiB at 1024 MiB/s = 4 s transfer + 4 s overhead (noise moves mem by a few percent)
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    info = finish(api, upid)
    task = next(t for t in api.get("/nodes/pve1/tasks") if t["upid"] == upid)
    assert 7 <= task["endtime"] - info["starttime"] <= 10


def test_concurrent_migrations_share_the_source_link(cluster: SimCluster) -> None:
    def duration_of_vm100(with_neighbour: bool) -> int:
        api = InProcessApi(SimCluster(cluster.scenario, seed=3, time_scale=0))
        upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
        if with_neighbour:
            api.post("/nodes/pve1/qemu/101/migrate", target="pve3", online=1, **{"with-local-disks": 1})
        info = finish(api, upid)
        task = next(t for t in api.get("/nodes/pve1/tasks", source="all") if t["upid"] == upid)
        return int(task["endtime"] - info["starttime"])

    assert duration_of_vm100(True) > duration_of_vm100(False)


def test_local_disk_without_with_local_disks_fails_inside_the_task(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/101/migrate", target="pve2", online=1)
    info = status(api, upid)
    assert info["status"] == "stopped" and info["exitstatus"] == "migration aborted"
    lines = log_lines(api, upid)
    assert "found local disk 'local-lvm:vm-101-disk-0' (attached)" in lines[2]
    assert "can't live migrate attached local disks without with-local-disks option" in lines[3]
    assert lines[-1] == "TASK ERROR: migration aborted"
    assert api.get("/nodes/pve1/qemu/101/config").get("lock") is None


def test_local_disk_with_flag_copies_disk_and_takes_longer(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/101/migrate", target="pve2", online=1, **{"with-local-disks": 1})
    info = finish(api, upid)
    assert info["exitstatus"] == "OK"
    # 16 GiB disk at 512 MiB/s = 32 s, then 8 GiB memory at 1 GiB/s = 8 s, plus overhead
    task = next(t for t in api.get("/nodes/pve1/tasks") if t["upid"] == upid)
    assert task["endtime"] - info["starttime"] >= 40


def test_local_devices_abort_the_task(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/104/migrate", target="pve2", online=1)
    assert status(api, upid)["exitstatus"] == "migration aborted"
    assert any("can't migrate VM which uses local devices: hostpci0" in line for line in log_lines(api, upid))


@pytest.mark.parametrize(
    ("path", "params", "code", "message"),
    [
        (
            "/nodes/pve1/qemu/100/migrate",
            {"target": "pve1", "online": 1},
            400,
            "Parameter verification failed.",
        ),
        ("/nodes/pve1/qemu/100/migrate", {"target": "pve9", "online": 1}, 500, "no such cluster node 'pve9'"),
        (
            "/nodes/pve1/qemu/100/migrate",
            {"target": "pve2"},
            500,
            "can't migrate running VM without --online",
        ),
        (
            "/nodes/pve2/qemu/100/migrate",
            {"target": "pve3"},
            500,
            "Configuration file 'nodes/pve2/qemu-server/100.conf' does not exist",
        ),
        (
            "/nodes/pve1/qemu/100/migrate",
            {"target": "pve2", "online": "True"},
            400,
            "Parameter verification failed.",
        ),
        (
            "/nodes/pve3/qemu/100/migrate",
            {"target": "pve2", "with-conntrack-state": 1},
            400,
            "Parameter verification failed.",
        ),
        (
            "/nodes/pve1/lxc/200/migrate",
            {"target": "pve2"},
            500,
            "can't migrate running container without --online or --restart",
        ),
        (
            "/nodes/pve1/lxc/200/migrate",
            {"target": "pve1", "restart": 1},
            400,
            "Parameter verification failed.",
        ),
    ],
)
def test_synchronous_refusals(
    api: InProcessApi, path: str, params: dict[str, Any], code: int, message: str
) -> None:
    with pytest.raises(ApiError) as err:
        api.post(path, **params)
    assert err.value.status == code
    assert str(err.value).startswith(message)


def test_parameter_errors_use_pve_wording(api: InProcessApi) -> None:
    with pytest.raises(ApiError) as err:
        api.post("/nodes/pve1/qemu/100/migrate", target="pve1", online="True", bogus=1)
    text = str(err.value)
    assert "'target': 'target is local node.'" not in text  # schema errors come first, all together
    assert "type check ('boolean') failed - got 'True'" in text
    assert "property is not defined in schema and the schema does not allow additional properties" in text
    with pytest.raises(ApiError) as missing:
        api.post("/nodes/pve1/qemu/100/migrate")
    assert "'target': 'property is missing and it is not optional'" in str(missing.value)


def test_offline_target_is_refused(api: InProcessApi, cluster: SimCluster) -> None:
    cluster.set_node_online("pve2", False)
    with pytest.raises(ApiError) as err:
        api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    assert err.value.status == 500 and "pve2" in str(err.value)


def test_stopped_vm_migrates_offline_without_online(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve2/qemu/103/migrate", target="pve1")
    assert finish(api, upid)["exitstatus"] == "OK"
    assert api.get("/nodes/pve1/qemu/103/config")["name"] == "off01"


def test_container_restart_migration_has_downtime(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/lxc/200/migrate", target="pve2", restart=1)
    assert ":vzmigrate:200:" in upid
    api.advance(5)  # past the shutdown
    ct = next(g for g in api.get("/cluster/resources", type="vm") if g["vmid"] == 200)
    assert ct["status"] == "stopped" and ct["lock"] == "migrate"
    assert finish(api, upid)["exitstatus"] == "OK"
    ct = next(g for g in api.get("/cluster/resources", type="vm") if g["vmid"] == 200)
    assert (ct["node"], ct["status"]) == ("pve2", "running") and ct["uptime"] < 60


def test_container_online_and_lock_fail_inside_the_task(api: InProcessApi, cluster: SimCluster) -> None:
    upid = api.post("/nodes/pve1/lxc/200/migrate", target="pve2", online=1, restart=1)
    assert status(api, upid)["exitstatus"] == "migration aborted"
    assert "lxc live migration is currently not implemented" in log_lines(api, upid)[0]
    cluster.guests[200].lock = "backup"
    upid = api.post("/nodes/pve1/lxc/200/migrate", target="pve2", restart=1)
    assert status(api, upid)["exitstatus"] == "migration aborted"
    assert "CT is locked (backup)" in log_lines(api, upid)[0]


def test_ha_managed_vm_goes_through_hamigrate_then_root_qmigrate(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/102/migrate", target="pve2", online=1)
    assert ":hamigrate:102:root@pam:" in upid
    assert log_lines(api, upid)[0].endswith("Requesting HA migration for VM 102 to node pve2")
    assert finish(api, upid)["exitstatus"] == "OK"
    since = status(api, upid)["starttime"]
    assert api.get("/nodes/pve1/tasks", typefilter="qmigrate", vmid=102, since=since, source="all") == []
    api.advance(9)
    found = api.get(
        "/nodes/pve1/tasks", typefilter="qmigrate", vmid=102, since=since, source="all", start=0, limit=10
    )
    assert len(found) == 1 and found[0]["user"] == "root@pam" and "tokenid" not in found[0]
    assert finish(api, found[0]["upid"])["exitstatus"] == "OK"
    assert api.get("/nodes/pve2/qemu/102/status/current")["ha"] == {"managed": 1, "state": "started"}


def test_ha_resource_migrate_endpoint_is_synchronous(api: InProcessApi) -> None:
    answer = api.post("/cluster/ha/resources/vm:102/migrate", node="pve3")
    assert answer == {"sid": "vm:102", "requested-node": "pve3"}
    with pytest.raises(ApiError, match="resource 'vm:100' is not HA managed"):
        api.post("/cluster/ha/resources/vm:100/relocate", node="pve3")
    api.advance(20)
    assert any(
        t["type"] == "qmigrate" and t["id"] == "102" for t in api.get("/nodes/pve1/tasks", source="all")
    )


def test_hamigrate_blocked_by_negative_affinity(cluster: SimCluster) -> None:
    from proxlb_sim.scenario import parse_scenario
    from tests.sim.conftest import small_scenario

    raw = small_scenario()
    raw["ha"] = {
        "resources": [{"sid": "vm:102"}, {"sid": "vm:103"}],
        "rules": [
            {
                "rule": "apart",
                "type": "resource-affinity",
                "resources": "vm:102,vm:103",
                "affinity": "negative",
            }
        ],
    }
    api = InProcessApi(SimCluster.from_scenario(parse_scenario(raw), time_scale=0))
    upid = api.post("/nodes/pve1/qemu/102/migrate", target="pve2", online=1)
    info = finish(api, upid)
    assert info["exitstatus"] == "command 'ha-manager migrate vm:102 pve2' failed: exit code 255"
    assert any("in negative affinity with resource 'vm:102'" in line for line in log_lines(api, upid))


def test_fault_migration_fail_and_hang(api: InProcessApi, cluster: SimCluster) -> None:
    from proxlb_sim.scenario import FaultSpec

    cluster.faults.add(FaultSpec(kind="migration_fail", vmid=100, times=1), cluster, cluster.clock.now())
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    assert finish(api, upid)["exitstatus"] == "migration aborted"
    assert api.get("/nodes/pve1/qemu/100/config").get("lock") is None
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)  # fault consumed
    assert finish(api, upid)["exitstatus"] == "OK"
    cluster.faults.add(FaultSpec(kind="migration_hang", vmid=101), cluster, cluster.clock.now())
    upid = api.post("/nodes/pve1/qemu/101/migrate", target="pve2", online=1, **{"with-local-disks": 1})
    api.advance(3600)
    assert status(api, upid)["status"] == "running"
    cluster.faults.clear(cluster)
    assert finish(api, upid)["exitstatus"] == "OK"


def test_node_going_offline_aborts_its_migrations_and_answers_595(
    api: InProcessApi, cluster: SimCluster
) -> None:
    from proxlb_sim.scenario import FaultSpec

    cluster.faults.add(
        FaultSpec(kind="node_offline", node="pve2", at=3, until=100), cluster, cluster.clock.now()
    )
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    api.advance(5)
    assert status(api, upid)["exitstatus"] == "migration aborted"
    with pytest.raises(ApiError) as err:
        api.get("/nodes/pve2/status")
    assert err.value.status == 595
    offline = next(n for n in api.get("/nodes") if n["node"] == "pve2")
    assert offline["status"] == "offline" and "mem" not in offline and "cpu" not in offline
    guest = next(g for g in api.get("/cluster/resources", type="vm") if g["vmid"] == 103)
    assert guest["status"] == "unknown"
    api.advance(100)
    assert next(n for n in api.get("/nodes") if n["node"] == "pve2")["status"] == "online"


def test_task_list_filters_and_total(api: InProcessApi) -> None:
    since = int(api.cluster.clock.start)  # the seeded history ends before the start
    ok = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    bad = api.post("/nodes/pve1/qemu/101/migrate", target="pve2", online=1)
    running = api.get("/nodes/pve1/tasks", source="active")
    assert [t["upid"] for t in running] == [ok] and running[0]["status"] == "RUNNING"
    archive = api.get("/nodes/pve1/tasks", since=since)
    assert [t["upid"] for t in archive] == [bad] and archive[0]["status"] == "migration aborted"
    # PVE: a running task has no status yet, so it counts as 'unknown' and errors=1 keeps it
    assert [t["upid"] for t in api.get("/nodes/pve1/tasks", errors=1, source="all", since=since)] == [ok, bad]
    assert api.get("/nodes/pve1/tasks", statusfilter="ok", since=since) == []
    assert len(api.get("/nodes/pve1/tasks", source="all", limit=1)) == 1
    assert api.get("/nodes/pve1/tasks", source="all", vmid=999) == []
    finish(api, ok)
    cluster_tasks = api.get("/cluster/tasks")
    assert {t["upid"] for t in cluster_tasks} >= {ok, bad}
    assert all("pstart" not in t for t in cluster_tasks)


def test_task_status_errors(api: InProcessApi) -> None:
    with pytest.raises(ApiError, match="unable to parse worker upid"):
        api.get("/nodes/pve1/tasks/garbage/status")
    with pytest.raises(ApiError, match="no such task"):
        api.get("/nodes/pve1/tasks/UPID:pve1:00000001:00000002:00000003:qmigrate:100:root@pam:/status")


def test_precondition_keys(api: InProcessApi) -> None:
    qm = api.get("/nodes/pve1/qemu/101/migrate")
    assert qm["running"] == 1 and qm["allowed_nodes"] == ["pve2", "pve3"]
    assert qm["local_disks"][0]["volid"] == "local-lvm:vm-101-disk-0"
    assert qm["local_disks"][0]["size"] == 16 * GIB
    assert api.get("/nodes/pve1/qemu/104/migrate")["local_resources"] == ["hostpci0"]
    ct = api.get("/nodes/pve1/lxc/200/migrate")
    assert set(ct) == {"running", "allowed-nodes", "not-allowed-nodes"}


@given(st.lists(st.floats(0.05, 7.0), min_size=1, max_size=40))
@example([1.9150748056484677, 1.0423207930306615, 1.0423207930306615])  # ended 1 s apart before
@settings(max_examples=25, deadline=None)
def test_outcome_does_not_depend_on_how_often_the_state_is_read(steps: list[float]) -> None:
    from proxlb_sim.scenario import parse_scenario
    from tests.sim.conftest import small_scenario

    def run(read_steps: list[float]) -> list[tuple[str, int]]:
        raw = small_scenario()
        raw["sim"] = {**raw["sim"], "start_time": 1_800_000_000}
        cluster = SimCluster.from_scenario(parse_scenario(raw), seed=3, time_scale=0)
        api = InProcessApi(cluster)
        api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
        api.post("/nodes/pve1/qemu/101/migrate", target="pve3", online=1, **{"with-local-disks": 1})
        api.post("/nodes/pve1/lxc/200/migrate", target="pve2", restart=1)
        for step in read_steps:
            api.advance(step)
            api.get("/cluster/tasks")
        api.advance(600 - sum(read_steps))
        return sorted((t["id"], t["endtime"]) for t in api.get("/nodes/pve1/tasks"))

    assert run(steps) == run([])


def test_bwlimit_slows_a_migration_and_targetstorage_is_checked(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1, bwlimit=102400)  # 100 MiB/s
    info = finish(api, upid)
    task = next(t for t in api.get("/nodes/pve1/tasks") if t["upid"] == upid)
    assert task["endtime"] - info["starttime"] >= 40  # ~4 GiB at 100 MiB/s
    with pytest.raises(ApiError, match="storage 'nfs' is not available on node 'pve2'"):
        api.post("/nodes/pve1/qemu/101/migrate", target="pve2", online=1, targetstorage="nfs")


def test_no_quorum_blocks_migrations(api: InProcessApi, cluster: SimCluster) -> None:
    cluster.set_node_online("pve2", False)
    cluster.set_node_online("pve3", False)
    with pytest.raises(ApiError, match=r"cluster not ready - no quorum\?"):
        api.post("/nodes/pve1/lxc/200/migrate", target="pve1x", restart=1)


def test_ha_maintenance_fault_switches_lrm_status(api: InProcessApi, cluster: SimCluster) -> None:
    from proxlb_sim.scenario import FaultSpec

    cluster.faults.add(
        FaultSpec(kind="ha_maintenance", node="pve2", at=10, until=20), cluster, cluster.clock.now()
    )

    def lrm() -> str:
        return next(e["status"] for e in api.get("/cluster/ha/status/current") if e["id"] == "lrm:pve2")

    assert "maintenance mode" not in lrm()
    api.advance(11)
    assert "maintenance mode" in lrm()
    api.advance(10)
    assert "maintenance mode" not in lrm()


def test_ha_positive_affinity_comigrates_partners() -> None:
    from proxlb_sim.scenario import parse_scenario
    from tests.sim.conftest import small_scenario

    raw = small_scenario()
    raw["ha"] = {"resources": [{"sid": "vm:100"}, {"sid": "vm:102"}],
                 "rules": [{"rule": "together", "type": "resource-affinity", "resources": "vm:100,vm:102",
                            "affinity": "positive"}]}  # fmt: skip
    api = InProcessApi(SimCluster.from_scenario(parse_scenario(raw), time_scale=0))
    answer = api.post("/cluster/ha/resources/vm:102/migrate", node="pve2")
    assert answer == {"sid": "vm:102", "requested-node": "pve2", "comigrated-resources": ["vm:100"]}
    api.advance(60)
    placed = {g["vmid"]: g["node"] for g in api.get("/cluster/resources", type="vm")}
    assert placed[100] == placed[102] == "pve2"
