"""Contract tests: the real proxmoxer client over HTTPS against the simulator, token and ticket auth.

Field names, types and units follow pve-api.md; errors are checked on the wire (status, reason phrase, body).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from proxlb_sim.scenario import parse_scenario
from proxlb_sim.testing import SimInfo, running_simulator
from tests.sim.conftest import proxmoxer_for, small_scenario

Num = (int, float)


def check(entry: dict[str, Any], types: dict[str, Any]) -> None:
    """Every key present with the documented JSON type (bool is not an int here)."""
    for key, kind in types.items():
        assert key in entry, f"missing {key} in {entry}"
        assert isinstance(entry[key], kind) and not isinstance(entry[key], bool), f"{key}={entry[key]!r}"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimInfo]:
    with running_simulator(parse_scenario(small_scenario()), time_scale=200.0, seed=3) as info:
        yield info


@pytest.fixture(scope="module")
def token_api(sim: SimInfo) -> ProxmoxAPI:
    return proxmoxer_for(sim)


@pytest.fixture(scope="module")
def ticket_api(sim: SimInfo) -> ProxmoxAPI:
    return ProxmoxAPI(
        sim.host, port=sim.port, user=sim.user, password=sim.password, verify_ssl=sim.ca_file, timeout=10
    )


def raw(sim: SimInfo, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{sim.url}/api2/json{path}", verify=sim.ca_file, timeout=10, **kwargs)


def test_version_and_cluster_status(token_api: ProxmoxAPI) -> None:
    version = token_api.version.get()
    assert version["version"] == "9.2.11" and version["release"] == "9.2"
    status = token_api.cluster.status.get()
    assert status[0]["type"] == "cluster" and status[0]["quorate"] == 1
    check(
        status[1],
        {"id": str, "name": str, "nodeid": int, "ip": str, "local": int, "online": int, "level": str},
    )
    assert token_api.nodes("pve3").version.get()["version"] == "8.4.1"


def test_cluster_resources_shapes(token_api: ProxmoxAPI) -> None:
    entries = token_api.cluster.resources.get()
    by_id = {e["id"]: e for e in entries}
    check(
        by_id["qemu/100"],
        {
            "vmid": int,
            "node": str,
            "type": str,
            "status": str,
            "name": str,
            "uptime": int,
            "template": int,
            "maxcpu": int,
            "cpu": Num,
            "maxmem": int,
            "mem": int,
            "memhost": int,
            "maxdisk": int,
            "disk": int,
            "netin": int,
            "netout": int,
            "diskread": int,
            "diskwrite": int,
            "tags": str,
            "pool": str,
        },
    )
    assert 0 <= by_id["qemu/100"]["cpu"] <= 1 and by_id["qemu/100"]["disk"] == 0
    assert by_id["qemu/102"]["hastate"] == "started"
    assert by_id["lxc/200"]["disk"] > 0 and by_id["lxc/200"]["memhost"] == 0
    check(
        by_id["node/pve1"],
        {
            "node": str,
            "status": str,
            "uptime": int,
            "cpu": Num,
            "maxcpu": int,
            "mem": int,
            "maxmem": int,
            "disk": int,
            "maxdisk": int,
            "level": str,
            "cgroup-mode": int,
        },
    )
    check(
        by_id["storage/pve1/ceph"],
        {
            "storage": str,
            "node": str,
            "plugintype": str,
            "status": str,
            "shared": int,
            "content": str,
            "maxdisk": int,
            "disk": int,
        },
    )
    assert by_id["/pool/prod"] == {"id": "/pool/prod", "pool": "prod", "type": "pool"}
    assert {e["type"] for e in token_api.cluster.resources.get(type="vm")} == {"qemu", "lxc"}
    assert {e["type"] for e in token_api.cluster.resources.get(type="node")} == {"node"}
    assert {e["type"] for e in token_api.cluster.resources.get(type="storage")} == {"storage"}
    with pytest.raises(ResourceException) as err:
        token_api.cluster.resources.get(type="pool")
    assert err.value.status_code == 400


def test_nodes_and_node_status(token_api: ProxmoxAPI) -> None:
    nodes = token_api.nodes.get()
    assert [n["node"] for n in nodes] == ["pve1", "pve2", "pve3"]
    check(
        nodes[0],
        {
            "status": str,
            "cpu": Num,
            "maxcpu": int,
            "mem": int,
            "maxmem": int,
            "disk": int,
            "maxdisk": int,
            "uptime": int,
            "ssl_fingerprint": str,
        },
    )
    status = token_api.nodes("pve1").status.get()
    assert all(isinstance(x, str) for x in status["loadavg"])
    assert isinstance(status["cpuinfo"]["mhz"], str) and isinstance(status["cpuinfo"]["cpus"], int)
    assert status["memory"]["used"] == status["memory"]["total"] - status["memory"]["available"]
    assert status["pveversion"].startswith("pve-manager/9.2.11/")


def test_guest_lists_config_and_status(token_api: ProxmoxAPI) -> None:
    qemu = token_api.nodes("pve1").qemu.get()
    assert [g["vmid"] for g in qemu] == [100, 101, 102, 104]
    check(
        qemu[0],
        {
            "vmid": int,
            "name": str,
            "status": str,
            "cpus": int,
            "cpu": Num,
            "maxmem": int,
            "mem": int,
            "maxdisk": int,
            "disk": int,
            "uptime": int,
            "pid": int,
            "pressurecpusome": Num,
        },
    )
    assert "type" not in qemu[0]
    lxc = token_api.nodes("pve1").lxc.get()
    check(
        lxc[0], {"vmid": int, "type": str, "name": str, "cpus": int, "maxdisk": int, "disk": int, "swap": int}
    )
    config = token_api.nodes("pve1").qemu(100).config.get()
    assert config["memory"] == "8192" and config["tags"] == "plb_affinity_web;prod" and "digest" in config
    assert isinstance(token_api.nodes("pve1").lxc(200).config.get()["memory"], int)
    current = token_api.nodes("pve1").qemu(102).status.current.get()
    assert current["ha"] == {"managed": 1, "state": "started"} and current["qmpstatus"] == "running"
    assert token_api.nodes("pve1").qemu(100).status.current.get()["ha"] == {"managed": 0}
    with pytest.raises(ResourceException) as err:
        token_api.nodes("pve2").qemu(100).config.get()
    assert err.value.status_code == 500 and "does not exist" in str(err.value)


def test_rrddata(token_api: ProxmoxAPI) -> None:
    rows = token_api.nodes("pve1").rrddata.get(timeframe="hour", cf="AVERAGE")
    assert len(rows) == 60 and "pressurememoryfull" in rows[-1]
    assert "pressurecpusome" not in token_api.nodes("pve3").rrddata.get(timeframe="hour")[-1]
    assert len(token_api.nodes("pve1").qemu(100).rrddata.get(timeframe="hour", cf="MAX")) == 60
    with pytest.raises(ResourceException) as err:
        token_api.nodes("pve1").rrddata.get()
    assert "'timeframe': 'property is missing and it is not optional'" in str(err.value)


def test_pools_storage_options_permissions(token_api: ProxmoxAPI) -> None:
    assert token_api.pools.get() == [{"poolid": "prod"}]
    pool = token_api.pools("prod").get()
    assert [m["vmid"] for m in pool["members"]] == [100]
    assert "pool" not in pool["members"][0] and "tags" not in pool["members"][0]
    listed = token_api.pools.get(poolid="prod")
    assert isinstance(listed, list) and listed[0]["poolid"] == "prod"
    with pytest.raises(ResourceException, match="pool 'nope' does not exist"):
        token_api.pools("nope").get()
    config = {s["storage"]: s for s in token_api.storage.get()}
    assert (
        config["ceph"]["type"] == "rbd"
        and config["ceph"]["shared"] == 1
        and "shared" not in config["local-lvm"]
    )
    status = token_api.nodes("pve1").storage.get()
    check(
        status[0],
        {"storage": str, "total": int, "used": int, "avail": int, "used_fraction": Num, "active": int},
    )
    options = token_api.cluster.options.get()
    assert options["mac_prefix"] == "BC:24:11" and isinstance(options["migration"], dict)
    privs = {p for path in token_api.access.permissions.get().values() for p in path}
    assert {"Datastore.Audit", "Sys.Audit", "VM.Audit", "VM.Migrate"} <= privs


def test_ha_endpoints(token_api: ProxmoxAPI) -> None:
    resources = token_api.cluster.ha.resources.get()
    assert resources[0]["sid"] == "vm:102" and resources[0]["type"] == "vm"
    assert token_api.cluster.ha.rules.get() == []
    assert token_api.cluster.ha.groups.get() == []  # not every node runs PVE 9: groups not migrated yet
    current = token_api.cluster.ha.status.current.get()
    assert [e["id"] for e in current[:3]] == ["quorum", "master", "fencing"]
    assert any(e["id"] == "service:vm:102" for e in current)
    manager = token_api.cluster.ha.status.manager_status.get()
    assert manager["manager_status"]["master_node"] == "pve1"


def test_ticket_auth_with_csrf_and_renewal(sim: SimInfo, ticket_api: ProxmoxAPI) -> None:
    assert ticket_api.nodes.get()
    upid = ticket_api.nodes("pve2").qemu(103).migrate.post(target="pve3")  # POST carries the CSRF header
    assert ":qmigrate:103:root@pam:" in upid
    login = raw(
        sim, "POST", "/access/ticket", data={"username": "root@pam", "password": sim.password}
    ).json()["data"]
    assert login["ticket"].startswith("PVE:root@pam:") and login["clustername"] == "pve-sim"
    renewed = raw(sim, "POST", "/access/ticket", data={"username": "root@pam", "password": login["ticket"]})
    assert renewed.status_code == 200 and renewed.json()["data"]["ticket"].startswith("PVE:root@pam:")
    cookie = {"PVEAuthCookie": login["ticket"]}
    no_csrf = raw(sim, "POST", "/nodes/pve1/qemu/100/migrate", data={"target": "pve2"}, cookies=cookie)
    assert (no_csrf.status_code, no_csrf.reason) == (401, "Permission denied - invalid csrf token")
    assert raw(sim, "GET", "/version", cookies=cookie).status_code == 200
    assert raw(sim, "GET", "/version", headers={"Cookie": f"other=1; PVEAuthCookie={login['ticket']}"}).ok


def test_auth_failures(sim: SimInfo) -> None:
    no_ticket = raw(sim, "GET", "/nodes")
    assert (no_ticket.status_code, no_ticket.reason, no_ticket.text) == (401, "No ticket", "")
    bad_token = raw(sim, "GET", "/nodes", headers={"Authorization": "PVEAPIToken=root@pam!proxlb=wrong"})
    assert (bad_token.status_code, bad_token.reason) == (401, "Authentication failed!")
    bad_login = raw(sim, "POST", "/access/ticket", data={"username": "root@pam", "password": "nope"})
    assert bad_login.status_code == 401 and bad_login.json()["message"] == "authentication failure\n"
    with pytest.raises(Exception, match="401"):
        ProxmoxAPI(sim.host, port=sim.port, user="root@pam", password="nope", verify_ssl=sim.ca_file)


def test_error_wire_format(sim: SimInfo, token_api: ProxmoxAPI) -> None:
    headers = {"Authorization": f"PVEAPIToken={sim.token}"}
    missing = raw(sim, "GET", "/nodes/pve1/foo", headers=headers)
    assert missing.status_code == 501 and missing.reason == "Method 'GET /nodes/pve1/foo' not implemented"
    bad = raw(
        sim,
        "POST",
        "/nodes/pve1/qemu/100/migrate",
        data={"target": "pve2", "online": "True"},
        headers=headers,
    )
    assert (bad.status_code, bad.reason) == (400, "Parameter verification failed.")
    assert bad.json() == {
        "data": None,
        "message": "Parameter verification failed.\n",
        "errors": {"online": "type check ('boolean') failed - got 'True'"},
    }
    assert bad.headers["Connection"] == "close"
    ok = raw(sim, "GET", "/version", headers=headers)
    assert ok.headers["Server"] == "pve-api-daemon/3.0" and ok.headers["Content-Type"].startswith(
        "application/json"
    )
    with pytest.raises(ResourceException) as err:
        token_api.nodes("pve1").qemu(100).migrate.post(target="pve1", online=1)
    assert err.value.status_code == 400 and err.value.errors == {"target": "target is local node."}


def test_task_life_cycle_over_https(sim: SimInfo, token_api: ProxmoxAPI) -> None:
    sim.admin.set_time_scale(0)  # hold the clock: at 200x the move ends ~40 ms (real) after it starts
    upid = token_api.nodes("pve1").qemu(100).migrate.post(target="pve2", online=1)
    assert upid.endswith(":qmigrate:100:root@pam!proxlb:")
    first = token_api.nodes("pve1").tasks(upid).status.get()
    assert first["user"] == "root@pam" and first["tokenid"] == "proxlb" and first["id"] == "100"
    locked = raw(
        sim,
        "POST",
        "/nodes/pve1/qemu/100/migrate",
        data={"target": "pve3", "online": "1"},
        headers={"Authorization": f"PVEAPIToken={sim.token}"},
    )
    assert (locked.status_code, locked.reason) == (500, "VM is locked (migrate)")
    assert locked.json()["message"] == "VM is locked (migrate)\n"
    sim.admin.set_time_scale(200)
    final = Tasks.blocking_status(token_api, upid, timeout=30, polling_interval=0.05)
    assert final["status"] == "stopped" and final["exitstatus"] == "OK"
    moved = next(e for e in token_api.cluster.resources.get(type="vm") if e["vmid"] == 100)
    assert moved["node"] == "pve2" and "lock" not in moved
    log = token_api.nodes("pve1").tasks(upid).log.get(limit=0)
    assert log[-1] == {"n": len(log), "t": "TASK OK"}
    listed = token_api.nodes("pve1").tasks.get(typefilter="qmigrate", vmid=100, source="all")
    assert listed[0]["upid"] == upid and listed[0]["status"] == "OK" and "endtime" in listed[0]
    total = raw(
        sim,
        "GET",
        "/nodes/pve1/tasks?source=all&limit=1",
        headers={"Authorization": f"PVEAPIToken={sim.token}"},
    )
    assert total.json()["total"] >= 1 and len(total.json()["data"]) == 1


def test_failed_task_over_https(token_api: ProxmoxAPI) -> None:
    upid = token_api.nodes("pve1").qemu(101).migrate.post(target="pve2", online=1)
    final = Tasks.blocking_status(token_api, upid, timeout=30, polling_interval=0.05)
    assert final["exitstatus"] == "migration aborted"


def test_offline_node_answers_595(sim: SimInfo, token_api: ProxmoxAPI) -> None:
    sim.admin.add_fault({"kind": "node_offline", "node": "pve3", "at": 0, "until": 50})
    with pytest.raises(ResourceException) as err:
        token_api.nodes("pve3").status.get()
    assert err.value.status_code == 595
    with pytest.raises(ResourceException) as unknown:
        token_api.nodes("pveX").qemu.get()
    assert unknown.value.status_code == 500 and "hostname lookup 'pveX' failed" in str(unknown.value)
    sim.admin.advance(60)
    assert token_api.nodes("pve3").status.get()["uptime"] > 0


def test_remaining_endpoints_over_https(sim: SimInfo, token_api: ProxmoxAPI) -> None:
    assert {"name": "qemu"} in token_api.nodes("pve1").get()
    assert token_api.cluster.ha.resources("vm:102").get()["sid"] == "vm:102"
    assert token_api.cluster.ha.resources("102").get()["sid"] == "vm:102"
    pre = token_api.nodes("pve1").lxc(200).migrate.get(target="pve2")
    # PVE ignores `target` and lists every node but the local one (pve-container migrate_vm_precondition)
    assert pre == {"running": 1, "allowed-nodes": ["pve2", "pve3"], "not-allowed-nodes": {}}
    qm_pre = token_api.nodes("pve1").qemu(102).migrate.get()
    assert {"running", "allowed_nodes", "not_allowed_nodes", "local_disks", "local_resources"} <= set(qm_pre)
    answer = token_api.cluster.ha.resources("vm:102").relocate.post(node="pve1")
    assert answer == {"sid": "vm:102", "requested-node": "pve1"}  # already there: nothing to do
    upid = token_api.nodes("pve1").lxc(200).migrate.post(target="pve2", restart=1)
    assert {"name": "log"} in token_api.nodes("pve1").tasks(upid).get()
    cluster_tasks = token_api.cluster.tasks.get()
    entry = next(t for t in cluster_tasks if t["upid"] == upid)
    assert entry["type"] == "vzmigrate" and entry["user"] == "root@pam" and entry["tokenid"] == "proxlb"
    assert Tasks.blocking_status(token_api, upid, timeout=30, polling_interval=0.05)["exitstatus"] == "OK"
