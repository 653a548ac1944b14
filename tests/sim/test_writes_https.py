"""Issue #18 item 8 over HTTPS with proxmoxer: config, power, snapshot, HA rule and pool writes with
PVE's task semantics (UPIDs, log lines, locks, refusals) and permissions, and their effect on what
every other endpoint shows. The virtual clock is frozen and moved by the admin endpoint, so a task's
running phase (and its lock) is observed, not raced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI, ResourceException

from proxlb_sim.scenario import parse_scenario
from proxlb_sim.testing import SimInfo, running_simulator
from tests.sim.conftest import GIB, proxmoxer_for, small_scenario


def _raw() -> dict[str, Any]:
    raw = small_scenario(versions={})  # every node on PVE 9: HA groups migrated, rules writable
    raw["ha"]["resources"].append({"sid": "vm:101", "state": "started"})
    raw["snapshots"] = {101: [{"name": "base", "snaptime": 1_760_000_000}]}
    raw["auth"] = {
        "users": [
            {"userid": "ops@pve", "password": "ops-pass"},
            {"userid": "audit@pve", "password": "audit-pass"},
        ],
        "acl": [
            {"path": "/vms/100", "ugid": "ops@pve", "roleid": "PVEVMUser"},
            {"path": "/", "ugid": "audit@pve", "roleid": "PVEAuditor"},
        ],
    }
    return raw


@pytest.fixture
def sim() -> Iterator[SimInfo]:
    with running_simulator(parse_scenario(_raw()), time_scale=0.0, seed=3) as info:
        yield info


def _api(sim: SimInfo, user: str | None = None, password: str | None = None) -> ProxmoxAPI:
    return proxmoxer_for(sim, user, password)


@pytest.fixture
def api(sim: SimInfo) -> ProxmoxAPI:
    return _api(sim)


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    """(status, message); a 400's per-parameter errors are appended as `key: text`."""
    with pytest.raises(ResourceException) as err:
        call(*args, **kwargs)
    detail = "".join(f" {k}: {v}" for k, v in sorted((err.value.errors or {}).items()))
    return err.value.status_code, str(err.value.content) + detail


def _task(api: ProxmoxAPI, upid: str) -> tuple[dict[str, Any], list[str]]:
    node = upid.split(":")[1]
    status = api.nodes(node).tasks(upid).status.get()
    log = [line["t"] for line in api.nodes(node).tasks(upid).log.get(limit=0)]
    return status, log


def _resource(api: ProxmoxAPI, vmid: int) -> dict[str, Any]:
    return next(e for e in api.cluster.resources.get(type="vm") if e["vmid"] == vmid)


def test_tags_and_options_apply_at_once_and_show_everywhere(sim: SimInfo, api: ProxmoxAPI) -> None:
    vm = api.nodes("pve1").qemu(100)
    digest = vm.config.get()["digest"]
    assert (
        vm.config.put(tags="plb_anti_affinity_db,Prod prod", description="web", onboot=0, digest=digest)
        is None
    )
    config = vm.config.get()
    assert (
        config["tags"] == "plb_anti_affinity_db;prod"
        and config["description"] == "web"
        and config["onboot"] == 0
    )
    assert _resource(api, 100)["tags"] == "plb_anti_affinity_db;prod"
    assert _error(vm.config.put, tags="x", digest=digest) == (
        500,
        "checksum mismatch (file change by other user?)",
    )
    assert api.nodes("pve1").lxc(200).config.put(tags="plb_pin_pve1", memory=4096, cores=4) is None
    ct = _resource(api, 200)
    assert ct["tags"] == "plb_pin_pve1" and ct["maxmem"] == 4 * GIB and ct["maxcpu"] == 4
    writes = [e for e in sim.admin.writes() if e["method"] == "PUT"]
    assert [e["path"] for e in writes][-1] == "/nodes/pve1/lxc/200/config"


def test_memory_of_running_vm_is_pending_until_restart(sim: SimInfo, api: ProxmoxAPI) -> None:
    vm = api.nodes("pve1").qemu(101)
    vm.config.put(memory="32768", cores=16)
    assert vm.config.get()["memory"] == "32768" and vm.config.get(current=1)["memory"] == "16384"
    assert {p["key"]: p.get("pending") for p in vm.pending.get()}["memory"] == "32768"
    assert _resource(api, 101)["maxmem"] == 16 * GIB
    upid = api.nodes("pve1").qemu(100).status.reboot.post()
    assert upid.startswith("UPID:pve1:") and ":qmreboot:100:root@pam!proxlb:" in upid
    assert _error(api.nodes("pve2").qemu(103).status.reboot.post) == (500, "VM 103 not running")
    # the HA-managed VM 101 restarts through the HA stack; applying pending changes on its start
    api.nodes("pve1").qemu(101).status.stop.post()
    sim.admin.advance(30)
    api.nodes("pve1").qemu(101).status.start.post()
    sim.admin.advance(30)
    entry = _resource(api, 101)
    assert entry["status"] == "running" and entry["maxmem"] == 32 * GIB and entry["maxcpu"] == 16


def test_power_tasks_change_state_and_log_like_pve(sim: SimInfo, api: ProxmoxAPI) -> None:
    vm = api.nodes("pve1").qemu(100).status
    upid = vm.shutdown.post()
    status, _ = _task(api, upid)
    assert status["status"] == "running" and status["type"] == "qmshutdown"
    assert _resource(api, 100)["status"] == "running"
    sim.admin.advance(10)
    status, log = _task(api, upid)
    assert status["exitstatus"] == "OK" and log == ["TASK OK"]
    assert _resource(api, 100)["status"] == "stopped"
    upid = vm.start.post()
    sim.admin.advance(5)
    assert _task(api, upid)[0]["exitstatus"] == "OK" and vm.current.get()["status"] == "running"
    again = vm.start.post()
    sim.admin.advance(5)
    assert _task(api, again)[0]["exitstatus"] == "VM 100 already running"
    ct = api.nodes("pve1").lxc(200).status
    upid = ct.stop.post()
    sim.admin.advance(5)
    assert _task(api, upid)[0]["type"] == "vzstop" and _resource(api, 200)["status"] == "stopped"
    assert _error(ct.stop.post) == (500, "CT 200 not running")
    assert _error(ct.reboot.post) == (500, "VM 200 not running")
    template = api.nodes("pve2").qemu(9000).status.start.post()
    sim.admin.advance(5)
    assert _task(api, template)[0]["exitstatus"] == "you can't start a vm if it's a template"


def test_ha_managed_stop_goes_through_the_ha_stack(sim: SimInfo, api: ProxmoxAPI) -> None:
    vm = api.nodes("pve1").qemu(102).status
    assert _error(vm.stop.post, **{"overrule-shutdown": 1}) == (
        400,
        "Parameter verification failed. overrule-shutdown: Not applicable for HA resources.",
    )
    upid = vm.stop.post()
    sim.admin.advance(2)
    status, log = _task(api, upid)
    assert status["type"] == "hastop" and status["exitstatus"] == "OK"
    assert log[0].endswith("Requesting HA stop for VM 102")
    assert api.cluster.ha.resources("vm:102").get()["state"] == "stopped"
    sim.admin.advance(20)
    assert _resource(api, 102)["status"] == "stopped"
    lrm = [t for t in api.nodes("pve1").tasks.get(vmid=102) if t["type"] == "qmstop"]
    assert lrm and lrm[0]["user"] == "root@pam"


def test_snapshot_create_locks_then_lists_and_rollback_restores(sim: SimInfo, api: ProxmoxAPI) -> None:
    vm = api.nodes("pve1").qemu(100)
    upid = vm.snapshot.post(snapname="before_tags", description="clean")
    assert vm.config.get()["lock"] == "snapshot"
    assert _error(vm.migrate.post, target="pve2", online=1) == (500, "VM is locked (snapshot)")
    assert _error(vm.config.put, tags="x") == (500, "VM is locked (snapshot)")
    sim.admin.advance(5)
    status, log = _task(api, upid)
    assert status["type"] == "qmsnapshot" and status["exitstatus"] == "OK"
    assert "snapshotting 'scsi0' (ceph:vm-100-disk-0)" in " ".join(log)
    assert "lock" not in vm.config.get()
    names = [s["name"] for s in vm.snapshot.get()]
    assert names == ["before_tags", "current"] and vm.snapshot.get()[-1]["parent"] == "before_tags"
    vm.config.put(tags="later")
    upid = vm.snapshot("before_tags").rollback.post()
    sim.admin.advance(10)
    assert _task(api, upid)[0]["exitstatus"] == "OK"
    assert vm.config.get()["tags"] == _resource(api, 100)["tags"] == "plb_affinity_web;prod"
    assert _resource(api, 100)["status"] == "stopped"  # rollback stops the VM (no RAM saved)
    used = vm.snapshot.post(snapname="before_tags")
    sim.admin.advance(5)
    assert _task(api, used)[0]["exitstatus"] == "snapshot name 'before_tags' already used"
    assert _error(vm.snapshot.post, snapname="current") == (
        500,
        "unable to use snapshot name 'current' (reserved name)",
    )
    upid = vm.snapshot("before_tags").delete()
    assert vm.config.get()["lock"] == "snapshot-delete"
    sim.admin.advance(5)
    assert _task(api, upid)[0]["type"] == "qmdelsnapshot" and [s["name"] for s in vm.snapshot.get()] == [
        "current"
    ]
    gone = vm.snapshot("nope").delete()
    sim.admin.advance(5)
    assert _task(api, gone)[0]["exitstatus"] == "snapshot 'nope' does not exist"


def test_ram_snapshot_of_passthrough_vm_fails_in_the_task(sim: SimInfo, api: ProxmoxAPI) -> None:
    vm = api.nodes("pve1").qemu(104)
    upid = vm.snapshot.post(snapname="withram", vmstate=1)
    sim.admin.advance(30)
    status, log = _task(api, upid)
    assert status["exitstatus"].startswith("unable to save VM state and RAM - 0000:41:00.0")
    assert "snapshot create failed: starting cleanup" in " ".join(log)
    assert [s["name"] for s in vm.snapshot.get()] == ["current"] and "lock" not in vm.config.get()
    upid = vm.snapshot.post(snapname="disks_only")
    sim.admin.advance(5)
    assert _task(api, upid)[0]["exitstatus"] == "OK"


def test_ha_rule_create_update_delete(sim: SimInfo, api: ProxmoxAPI) -> None:
    rules = api.cluster.ha.rules
    apart = {"type": "resource-affinity", "affinity": "negative"}
    assert rules.post(rule="db-apart", resources="vm:102,vm:101", disable=0, **apart) is None
    created = rules("db-apart").get()
    assert created["resources"] == "vm:101,vm:102" and "disable" not in created
    assert _error(rules.post, rule="db-apart", resources="vm:101,vm:102", **apart) == (
        500,
        "create ha rule failed: HA rule 'db-apart' already defined",
    )
    assert _error(rules.post, rule="x1", type="node-affinity", resources="vm:100", nodes="pve1") == (
        500,
        "create ha rule failed: cannot use unmanaged resource(s) vm:100.",
    )
    assert _error(rules.post, rule="x2", type="node-affinity", resources="vm:101") == (
        400,
        "Parameter verification failed. nodes: property is missing and it is not optional",
    )
    rules.post(rule="pin", type="node-affinity", resources="vm:101", nodes="pve2", strict=0)
    assert rules("pin").get()["strict"] == 0
    digest = rules("pin").get()["digest"]
    rules("pin").put(type="node-affinity", nodes="pve2,pve3", comment="spread", digest=digest)
    assert rules("pin").get()["nodes"] == "pve2,pve3"
    status, text = _error(rules("pin").put, type="node-affinity", comment="x", digest=digest)
    assert status == 500 and "detected modified configuration" in text
    rules("pin").put(type="node-affinity", delete="comment")
    assert "comment" not in rules("pin").get()
    assert rules("db-apart").delete() is None and rules("never-there").delete() is None
    assert [r["rule"] for r in rules.get()] == ["pin"]
    # the HA stack honours the written rule: a migration next to the other guest is now allowed
    assert "blocking-ha-resources" not in str(api.nodes("pve1").qemu(101).migrate.get())


def test_pool_membership(sim: SimInfo, api: ProxmoxAPI) -> None:
    api.pools("prod").put(vms="101", storage="local-lvm")
    members = {m["id"] for m in api.pools("prod").get()["members"]}
    assert {"qemu/100", "qemu/101", "storage/pve1/local-lvm"} <= members
    assert _resource(api, 101)["pool"] == "prod"
    assert _error(api.pools("prod").put, vms="101") == (
        500,
        "update pools failed: VM 101 is already a pool member",
    )
    api.pools.put(poolid="prod", vms="101", delete=1)
    assert "pool" not in _resource(api, 101)
    assert _error(api.pools("nope").put, vms="101")[1] == "update pools failed: pool 'nope' does not exist"


def test_writes_are_permission_checked(sim: SimInfo) -> None:
    ops = _api(sim, "ops@pve", "ops-pass")
    upid = ops.nodes("pve1").qemu(100).status.shutdown.post()
    assert ":qmshutdown:100:ops@pve:" in upid
    assert _error(ops.nodes("pve1").qemu(100).config.put, memory="1024") == (
        403,
        "Permission check failed (/vms/100, VM.Config.Memory)",
    )
    assert _error(ops.nodes("pve1").qemu(101).status.stop.post) == (
        403,
        "Permission check failed (/vms/101, VM.PowerMgmt)",
    )
    audit = _api(sim, "audit@pve", "audit-pass")
    assert _error(audit.nodes("pve1").qemu(100).snapshot.post, snapname="s1") == (
        403,
        "Permission check failed (/vms/100, VM.Snapshot)",
    )
    assert _error(
        audit.cluster.ha.rules.post, rule="r", type="node-affinity", resources="vm:101", nodes="pve1"
    ) == (
        403,
        "Permission check failed (/, Sys.Console)",
    )
    assert _error(audit.pools("prod").put, vms="101") == (
        403,
        "Permission check failed (/pool/prod, Pool.Allocate)",
    )
