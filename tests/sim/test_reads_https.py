"""Issue #18 items 1-7 over HTTPS with proxmoxer: snapshot lists, the guest agent and its errors,
container interfaces, the storage content filter, read-one objects, node and cluster reads, HA rules
as stored and the migrate precondition. Expected values come from the scenario, never typed twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI, ResourceException

from proxlb_sim.scenario import parse_scenario
from proxlb_sim.testing import SimInfo, running_simulator
from tests.sim.conftest import GIB, proxmoxer_for, small_scenario

SNAPS = [
    {"name": "base", "snaptime": 1_760_000_000, "description": "installed"},
    {"name": "pre_upgrade", "snaptime": 1_760_086_400, "description": "before 9.2", "parent": "base",
     "vmstate": 1},
]  # fmt: skip


def _raw() -> dict[str, Any]:
    raw = small_scenario()
    raw["guest_config"][102] = {"name": "ha01", "agent": "1", "net0": "virtio=BC:24:11:AA:00:66,bridge=vmbr0"}
    raw["guest_config"][100]["agent"] = "1"
    raw["guest_config"][104]["agent"] = "0"
    raw["guest_config"][100]["net0"] = "virtio=BC:24:11:00:01:00,bridge=vmbr0"
    raw["snapshots"] = {100: SNAPS}
    raw["agent"] = {"not_running": [100], "os": {102: "Debian GNU/Linux 12 (bookworm)"}}
    raw["resources"] += [
        {
            "type": "storage",
            "storage": "isos",
            "node": n,
            "plugintype": "nfs",
            "shared": 1,
            "content": "iso,vztmpl",
            "maxdisk": 100 * GIB,
        }
        for n in ("pve1", "pve2", "pve3")
    ]
    raw["ha"]["resources"].append({"sid": "vm:101", "state": "started"})
    raw["ha"]["rules"] = [
        {"rule": "keep-apart", "type": "resource-affinity", "resources": "vm:102,vm:101",
         "affinity": "negative", "disable": 0},
        {"rule": "prefer-pve1", "type": "node-affinity", "resources": "vm:102", "nodes": "pve1", "strict": 0},
    ]  # fmt: skip
    raw["auth"] = {
        "users": [
            {"userid": "ops@pve", "email": "ops@example.com", "tokens": [{"id": "ci", "secret": "s3"}]}
        ],
        "groups": [{"groupid": "admins", "members": ["ops@pve"], "comment": "operators"}],
        "acl": [{"path": "/", "ugid": "admins", "roleid": "PVEAuditor"}],
    }
    return raw


@pytest.fixture(scope="module")
def sim() -> Iterator[SimInfo]:
    with running_simulator(parse_scenario(_raw()), time_scale=1.0, seed=3) as info:
        yield info


@pytest.fixture(scope="module")
def api(sim: SimInfo) -> ProxmoxAPI:
    return proxmoxer_for(sim)


def _error(call: Any) -> tuple[int, str]:
    with pytest.raises(ResourceException) as err:
        call()
    return err.value.status_code, str(err.value.content)


def test_snapshot_list_ends_with_current(api: ProxmoxAPI) -> None:
    snaps = api.nodes("pve1").qemu(100).snapshot.get()
    assert [s["name"] for s in snaps] == ["base", "pre_upgrade", "current"]
    assert snaps[1] == {**{k: v for k, v in SNAPS[1].items()}, "vmstate": 1}
    assert snaps[0]["vmstate"] == 0 and "parent" not in snaps[0]
    current = snaps[-1]
    assert current["description"] == "You are here!" and current["running"] == 1
    assert current["parent"] == "pre_upgrade" and len(current["digest"]) == 40
    ct = api.nodes("pve1").lxc(200).snapshot.get()
    assert ct == [
        {"name": "current", "digest": ct[0]["digest"], "running": 1, "description": "You are here!"}
    ]
    config = api.nodes("pve1").qemu(100).snapshot("base").config.get()
    assert config["snaptime"] == SNAPS[0]["snaptime"] and config["name"] == "web01"
    assert _error(api.nodes("pve1").qemu(100).snapshot("nope").config.get) == (
        500,
        "snapshot 'nope' does not exist",
    )


def test_agent_answers_and_pve_errors(api: ProxmoxAPI) -> None:
    vm = api.nodes("pve1").qemu(102)
    osinfo = vm.agent("get-osinfo").get()["result"]
    assert osinfo["pretty-name"] == "Debian GNU/Linux 12 (bookworm)" and osinfo["id"] == "debian"
    nics = vm.agent("network-get-interfaces").get()["result"]
    assert [n["name"] for n in nics] == ["lo", "ens18"] and nics[1]["hardware-address"] == "bc:24:11:aa:00:66"
    assert {a["ip-address"] for a in nics[1]["ip-addresses"]} == {"10.100.0.104", "fd00:0::66"}
    assert vm.agent("info").get()["result"]["version"]
    assert vm.agent("get-host-name").get() == {"result": {"host-name": "ha01"}}
    assert {"name": "network-get-interfaces"} in vm.agent.get()
    # qemu-server QemuServer/Agent.pm assert_agent_available, in its order
    assert _error(api.nodes("pve1").qemu(101).agent("info").get) == (500, "No QEMU guest agent configured")
    assert _error(api.nodes("pve2").qemu(103).agent("info").get) == (500, "VM 103 is not running")
    assert _error(api.nodes("pve1").qemu(104).agent("info").get) == (500, "QEMU guest agent is not running")
    assert _error(api.nodes("pve1").qemu(100).agent("info").get) == (500, "QEMU guest agent is not running")
    assert api.nodes("pve1").qemu(102).status.current.get()["agent"] == 1
    assert "agent" not in api.nodes("pve1").qemu(101).status.current.get()


def test_lxc_interfaces(api: ProxmoxAPI) -> None:
    nics = api.nodes("pve1").lxc(200).interfaces.get()
    assert [n["name"] for n in nics] == ["lo", "eth0"]
    eth0 = nics[1]
    assert eth0["inet"] == "10.100.0.202/24" and eth0["hwaddr"] == eth0["hardware-address"]
    assert {"ip-address-type": "inet", "ip-address": "10.100.0.202", "prefix": 24} in eth0["ip-addresses"]


def test_storage_content_filter_keeps_any_listed_type(api: ProxmoxAPI) -> None:
    names = lambda **kw: sorted(s["storage"] for s in api.nodes("pve1").storage.get(**kw))  # noqa: E731
    assert names(content="images,rootdir") == ["ceph", "local-lvm"]
    assert names(content="images,iso") == ["ceph", "isos", "local-lvm"]
    assert names(content="iso") == ["isos"]
    assert names(content="backup") == []


def test_read_one_objects(api: ProxmoxAPI) -> None:
    ceph = api.storage("ceph").get()
    assert ceph["storage"] == "ceph" and ceph["type"] == "rbd" and len(ceph["digest"]) == 40
    assert _error(api.storage("nope").get) == (500, "storage 'nope' does not exist")
    user = api.access.users("ops@pve").get()
    assert user["email"] == "ops@example.com" and user["groups"] == ["admins"]
    assert user["tokens"] == {"ci": {"expire": 0, "privsep": 0}}
    assert _error(api.access.users("ghost@pve").get) == (500, "no such user ('ghost@pve')")
    assert api.access.groups("admins").get() == {"members": ["ops@pve"], "comment": "operators"}
    assert _error(api.access.groups("nope").get) == (500, "group 'nope' does not exist")
    assert api.access.domains("pve").get()["type"] == "pve"
    assert _error(api.access.domains("ldap").get) == (500, "domain 'ldap' does not exist")


def test_node_reads(api: ProxmoxAPI) -> None:
    node = api.nodes("pve1")
    assert set(node.dns.get()) >= {"search", "dns1"}
    assert node.time.get()["timezone"] == "UTC"
    services = {s["service"]: s for s in node.services.get()}
    assert services["pveproxy"]["state"] == "running" and "corosync" in services
    assert "digest" in node.config.get()
    assert {(e["vmid"], e["dev"]) for e in node.netstat.get()} >= {("102", "net0"), ("200", "net0")}
    pci = {d["id"] for d in node.hardware.pci.get()}
    assert "0000:41:00.0" in pci  # VM 104's passthrough device
    assert node.qemu(100).firewall.rules.get() == [] and "digest" in node.qemu(100).firewall.options.get()


def test_cluster_reads(api: ProxmoxAPI) -> None:
    assert {e["id"] for e in api.cluster.sdn.get()} >= {"zones", "vnets", "ipams"}
    assert api.cluster.sdn.zones.get() == [] and api.cluster.sdn.vnets.get() == []
    assert api.cluster.sdn.controllers.get() == [] and api.cluster.sdn.dns.get() == []
    assert [i["ipam"] for i in api.cluster.sdn.ipams.get()] == ["pve"]
    join = api.cluster.config.join.get()
    assert {n["name"] for n in join["nodelist"]} == {"pve1", "pve2", "pve3"} and join[
        "preferred_node"
    ] == "pve1"
    assert api.cluster.nextid.get() == "105"
    log = api.cluster.log.get(max=5)
    assert len(log) == 5 and all("task UPID:" in e["msg"] for e in log)


def test_ha_rules_keep_stored_zero_flags(api: ProxmoxAPI) -> None:
    rules = {r["rule"]: r for r in api.cluster.ha.rules.get()}
    assert rules["keep-apart"]["disable"] == 0 and rules["keep-apart"]["resources"] == "vm:101,vm:102"
    assert rules["prefer-pve1"]["strict"] == 0
    assert api.cluster.ha.rules("prefer-pve1").get()["strict"] == 0
    assert _error(api.cluster.ha.rules("nope").get) == (500, "no such ha rule 'nope'")


def test_ha_group_read_on_pve9_is_refused() -> None:
    raw = _raw()
    raw["versions"] = {}
    with running_simulator(parse_scenario(raw), time_scale=1.0, seed=3) as sim:
        api = ProxmoxAPI(
            sim.host, port=sim.port, user=sim.user, password=sim.password, verify_ssl=sim.ca_file
        )
        assert _error(api.cluster.ha.groups("prod").get) == (
            500,
            "cannot read group: ha groups have been migrated to rules",
        )


def test_migrate_precondition_lists_every_other_node(api: ProxmoxAPI) -> None:
    pre = api.nodes("pve1").qemu(101).migrate.get(target="pve2")
    assert sorted(pre["not_allowed_nodes"]) == ["pve2", "pve3"]
    assert pre["allowed_nodes"] == ["pve2", "pve3"]
    assert "dependent-ha-resources" in pre and pre["dependent-ha-resources"] == []
    assert "dependent-ha-resources" not in api.nodes("pve1").qemu(100).migrate.get()
