"""The read endpoints monitoring and admin tools call (issue #9): subscription, replication, backup
jobs and coverage, QDevice, storage content, access lists, seeded task history and PVE's task filters."""

from __future__ import annotations

from typing import Any

import pytest

from proxlb.errors import ApiError
from proxlb_sim.auth import Identity
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import ScenarioError, parse_scenario
from tests.sim.conftest import GIB, small_scenario


def _api(identity: Identity | None = None, seed: int = 3, **overrides: Any) -> InProcessApi:
    raw = small_scenario(**overrides)
    cluster = SimCluster.from_scenario(parse_scenario(raw), seed=seed, time_scale=0)
    return InProcessApi(cluster, identity) if identity else InProcessApi(cluster)


def _with_backup_storage(**overrides: Any) -> dict[str, Any]:
    raw = small_scenario()
    raw["resources"] += [
        {
            "type": "storage",
            "storage": "nfs-dump",
            "node": n,
            "plugintype": "nfs",
            "shared": 1,
            "content": "backup,iso,vztmpl",
            "maxdisk": 4096 * GIB,
            "disk": 500 * GIB,
        }
        for n in ("pve1", "pve2", "pve3")
    ]
    raw.update(overrides)
    return raw


def _api_raw(raw: dict[str, Any]) -> InProcessApi:
    return InProcessApi(SimCluster.from_scenario(parse_scenario(raw), seed=3, time_scale=0))


# -- subscription -------------------------------------------------------------------------------------


def test_subscription_notfound_by_default(api: InProcessApi) -> None:
    sub = api.get("/nodes/pve1/subscription")
    assert sub["status"] == "notfound" and sub["message"] == "There is no subscription key"
    assert set(sub) == {"status", "message", "url", "serverid"}


def test_subscription_active_from_scenario() -> None:
    api = _api(subscription={"status": "active", "level": "s", "nextduedate": "2027-03-01"})
    sub = api.get("/nodes/pve1/subscription")
    assert sub["status"] == "active" and sub["level"] == "s" and sub["nextduedate"] == "2027-03-01"
    assert sub["key"].startswith("pve2s-") and sub["sockets"] == 2 and isinstance(sub["checktime"], int)
    assert api.get("/nodes/pve3/subscription")["sockets"] == 2  # 16 cores → 2 sockets


def test_subscription_hides_key_without_sys_audit() -> None:
    auth = {
        "users": [{"userid": "mon@pve", "password": "x"}],
        "acl": [{"ugid": "mon@pve", "roleid": "PVEVMUser"}],
    }
    api = _api(Identity("mon@pve"), subscription={"status": "active"}, auth=auth)
    sub = api.get("/nodes/pve1/subscription")
    assert set(sub) == {"status", "url"} and sub["status"] == "active"


# -- replication ----------------------------------------------------------------------------------------


def test_replication_empty_by_default(api: InProcessApi) -> None:
    assert api.get("/nodes/pve1/replication") == []
    assert api.get("/cluster/replication") == []


def test_replication_jobs_listed_on_the_guests_node_with_state() -> None:
    api = _api(replication=[{"guest": 101, "target": "pve2"}, {"guest": 100, "target": "pve3", "jobnum": 1}])
    jobs = api.get("/nodes/pve1/replication")
    assert [j["id"] for j in jobs] == ["100-1", "101-0"]
    job = jobs[1]
    assert job["source"] == "pve1" and job["target"] == "pve2" and job["vmtype"] == "qemu"
    assert job["next_sync"] == job["last_sync"] + 900 and job["fail_count"] == 0
    assert job["last_try"] <= api.cluster.clock.start
    assert api.get("/nodes/pve2/replication") == []
    assert api.get("/nodes/pve1/replication/101-0/status") == job
    assert api.get("/nodes/pve1/replication", guest=100)[0]["id"] == "100-1"
    with pytest.raises(ApiError, match="no such replication job"):
        api.get("/nodes/pve2/replication/101-0/status")
    assert {j["id"] for j in api.get("/cluster/replication")} == {"101-0", "100-1"}


def test_replication_job_for_unknown_guest_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="replication\\[0\\]: guest 555"):
        parse_scenario(small_scenario(replication=[{"guest": 555, "target": "pve2"}]))


# -- backup ---------------------------------------------------------------------------------------------


def test_no_backup_job_means_every_guest_is_not_backed_up(api: InProcessApi) -> None:
    assert api.get("/cluster/backup") == []
    missing = api.get("/cluster/backup-info/not-backed-up")
    assert [e["vmid"] for e in missing] == sorted(api.cluster.guests)
    assert {"vmid": 200, "type": "lxc", "name": "ct200"} in missing or any(
        e["vmid"] == 200 and e["type"] == "lxc" for e in missing
    )
    assert api.get("/cluster/backup-info") == [{"subdir": "not-backed-up"}]


def test_backup_jobs_select_like_pve_and_leave_archives() -> None:
    jobs = [
        {"id": "nightly", "all": 1, "exclude": "103,9000", "storage": "nfs-dump", "schedule": "02:30"},
        {"id": "old", "vmid": "103", "storage": "nfs-dump", "enabled": 0},
    ]
    api = _api_raw(_with_backup_storage(backup={"jobs": jobs}))
    listed = api.get("/cluster/backup")
    assert [j["id"] for j in listed] == ["nightly", "old"]
    nightly = listed[0]
    assert nightly["type"] == "vzdump" and nightly["all"] == 1 and nightly["exclude"] == "103,9000"
    assert api.cluster.clock.start < nightly["next-run"] <= api.cluster.clock.start + 86_400
    assert "next-run" not in listed[1]
    # a disabled job still covers its guests (PVE::API2::Cluster::BackupInfo counts every vzdump job)
    assert [e["vmid"] for e in api.get("/cluster/backup-info/not-backed-up")] == [9000]
    backups = api.get("/nodes/pve2/storage/nfs-dump/content", content="backup")
    assert {b["vmid"] for b in backups} == {100, 101, 102, 104, 200}
    assert all(
        b["volid"].startswith("nfs-dump:backup/vzdump-") and b["ctime"] < api.cluster.clock.start
        for b in backups
    )
    per_vm = [b for b in backups if b["vmid"] == 100]
    assert len(per_vm) == 3 and per_vm[0]["subtype"] == "qemu" and per_vm[0]["format"] == "vma.zst"
    vzdumps = [t for t in api.get("/nodes/pve1/tasks", typefilter="vzdump", limit=500)]
    assert len(vzdumps) == 3 and all(t["status"] == "OK" for t in vzdumps)
    assert api.get("/cluster/backup/nightly")["storage"] == "nfs-dump"


def test_backup_job_with_bad_schedule_is_rejected() -> None:
    raw = _with_backup_storage(backup={"jobs": [{"all": 1, "storage": "nfs-dump", "schedule": "often"}]})
    with pytest.raises(ScenarioError, match="schedule must look like"):
        parse_scenario(raw)


# -- cluster config, indexes, empty answers ---------------------------------------------------------------


def test_qdevice_is_an_empty_object_and_unknown_paths_stay_501(api: InProcessApi) -> None:
    assert api.get("/cluster/config/qdevice") == {}
    assert [n["name"] for n in api.get("/cluster/config/nodes")] == ["pve1", "pve2", "pve3"]
    assert api.get("/cluster/firewall/groups") == [] and api.get("/cluster/mapping/pci") == []
    assert {"backup", "backup-info", "replication", "config"} <= {e["name"] for e in api.get("/cluster")}
    assert api.get("/cluster/ha/status")[0] == {"name": "current"}
    with pytest.raises(ApiError) as err:
        api.get("/cluster/no-such-thing")
    assert err.value.status == 501


# -- storage content -------------------------------------------------------------------------------------


def test_storage_content_from_guest_disks(api: InProcessApi) -> None:
    shared = api.get("/nodes/pve2/storage/ceph/content")
    # shared: every guest disk on it, whatever node the guest is on (the CT's rootfs is 'rootdir')
    assert [v["vmid"] for v in shared] == [100, 102, 103, 104, 200, 9000]
    assert shared[0] | {"ctime": 0} == {
        "volid": "ceph:vm-100-disk-0",
        "format": "raw",
        "size": 32 * GIB,
        "vmid": 100,
        "ctime": 0,
        "content": "images",
    }
    local = api.get("/nodes/pve1/storage/local-lvm/content", content="images")
    assert [v["vmid"] for v in local] == [101]
    assert api.get("/nodes/pve2/storage/local-lvm/content", vmid=101) == []
    rootdir = api.get("/nodes/pve3/storage/ceph/content", content="rootdir")
    assert [(v["vmid"], v["content"]) for v in rootdir] == [(200, "rootdir")]
    assert [v["vmid"] for v in api.get("/nodes/pve3/storage/ceph/content", content="images")] == [
        100,
        102,
        103,
        104,
        9000,
    ]
    with pytest.raises(ApiError, match="storage 'nope' does not exist"):
        api.get("/nodes/pve1/storage/nope/content")
    assert api.get("/nodes/pve1/storage/ceph/status")["type"] == "rbd"


def test_iso_and_templates_optional() -> None:
    raw = _with_backup_storage(
        content={
            "iso": ["debian-13.1.0-amd64-netinst.iso"],
            "vztmpl": ["alpine-3.22-default_20250617_amd64.tar.xz"],
        }
    )
    api = _api_raw(raw)
    files = api.get("/nodes/pve3/storage/nfs-dump/content")
    assert [(f["volid"], f["format"]) for f in files] == [
        ("nfs-dump:iso/debian-13.1.0-amd64-netinst.iso", "iso"),
        ("nfs-dump:vztmpl/alpine-3.22-default_20250617_amd64.tar.xz", "txz"),
    ]


# -- access ------------------------------------------------------------------------------------------------


AUTH = {
    "users": [
        {"userid": "alice@pve", "password": "a", "firstname": "Alice", "email": "alice@example.com",
         "tokens": [{"id": "mon", "secret": "s", "privsep": 1}]},
        {"userid": "bob@pve", "password": "b", "enable": 0},
    ],
    "groups": [{"groupid": "ops", "comment": "operators", "members": ["alice@pve"]}],
    "acl": [
        {"path": "/", "ugid": "ops", "roleid": "PVEAuditor"},
        {"path": "/vms/100", "ugid": "bob@pve", "privs": ["VM.Audit"], "propagate": 0},
    ],
}  # fmt: skip


def test_users_groups_acl_from_the_scenario() -> None:
    api = _api(auth=AUTH)
    users = api.get("/access/users", full=1)
    assert [u["userid"] for u in users] == ["alice@pve", "bob@pve", "root@pam"]
    alice = users[0]
    assert alice["groups"] == "ops" and alice["firstname"] == "Alice" and alice["realm-type"] == "pve"
    assert alice["tokens"] == [{"tokenid": "mon", "expire": 0, "privsep": 1}]
    assert [u["userid"] for u in api.get("/access/users", enabled=1)] == ["alice@pve", "root@pam"]
    assert "tokens" not in api.get("/access/users")[0]
    assert api.get("/access/groups") == [{"groupid": "ops", "comment": "operators", "users": "alice@pve"}]
    assert api.get("/access/acl") == [
        {"path": "/", "type": "group", "ugid": "ops", "roleid": "PVEAuditor", "propagate": 1},
        {"path": "/vms/100", "type": "user", "ugid": "bob@pve", "roleid": "SimRole1", "propagate": 0},
    ]
    roles = {r["roleid"]: r for r in api.get("/access/roles")}
    assert "Sys.Audit" in roles["PVEAuditor"]["privs"].split(",") and roles["SimRole1"]["privs"] == "VM.Audit"


def test_group_acl_grants_privileges() -> None:
    api = _api(Identity("alice@pve"), auth=AUTH)
    assert len(api.get("/cluster/resources", type="vm")) == 7  # PVEAuditor via group 'ops'
    assert api.cluster.auth.has_priv(Identity("alice@pve"), "/", "VM.Audit")
    assert not api.cluster.auth.has_priv(Identity("alice@pve"), "/", "VM.Migrate")


def test_unknown_role_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="unknown role 'Wizard'"):
        parse_scenario(small_scenario(auth={"acl": [{"ugid": "root@pam", "roleid": "Wizard"}]}))


# -- task history and filters ---------------------------------------------------------------------------


def test_fresh_cluster_has_a_seeded_task_history(api: InProcessApi) -> None:
    start = api.cluster.clock.start
    tasks = api.get("/cluster/tasks")
    assert tasks and all(t["endtime"] < start for t in tasks)
    types = {t["type"] for t in tasks}
    assert {"aptupdate", "qmigrate", "vncproxy"} <= types
    assert any(t["status"] != "OK" for t in tasks)  # one failed console start
    again = _api()
    assert [t["upid"] for t in again.get("/cluster/tasks")] == [t["upid"] for t in tasks]
    assert [t["upid"] for t in _api(seed=4).get("/cluster/tasks")] != [t["upid"] for t in tasks]
    assert _api(history={"days": 0}).get("/cluster/tasks") == []


def test_history_migration_ends_on_the_guests_current_node(api: InProcessApi) -> None:
    for node in ("pve1", "pve2", "pve3"):
        for t in api.get(f"/nodes/{node}/tasks", typefilter="qmigrate", limit=500):
            log = api.get(f"/nodes/{node}/tasks/{t['upid']}/log")
            target = api.cluster.guests[int(t["id"])].node
            assert target != node and f"to node '{target}'" in log[0]["t"]


def test_errors_filter_keeps_running_tasks_as_unknown(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    found = [t["upid"] for t in api.get("/nodes/pve1/tasks", errors=1, source="all", limit=500)]
    assert found[0] == upid
    assert [t["upid"] for t in api.get("/nodes/pve1/tasks", statusfilter="unknown", source="all")] == [upid]
    errors = api.get("/nodes/pve1/tasks", errors=1, limit=500)
    assert errors and all(t["status"] != "OK" for t in errors)
    # errors=1 overrides statusfilter, like PVE
    assert api.get("/nodes/pve1/tasks", errors=1, statusfilter="ok", limit=500) == errors


def test_userfilter_is_case_insensitive(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    assert upid in [
        t["upid"] for t in api.get("/nodes/pve1/tasks", userfilter="ROOT@PAM", source="all", limit=500)
    ]
    assert api.get("/nodes/pve1/tasks", userfilter="nobody", source="all") == []


def test_active_subscription_shows_as_node_level() -> None:
    api = _api(subscription={"status": "active", "level": "b"})
    assert {n["level"] for n in api.get("/cluster/resources", type="node")} == {"b"}
    assert {e["level"] for e in api.get("/cluster/status") if e["type"] == "node"} == {"b"}
    assert {n["level"] for n in _api().get("/nodes")} == {""}
