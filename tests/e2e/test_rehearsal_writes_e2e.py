"""Rehearse with the admin's own tools (#18 item 8): tag two VMs anti-affinity through proxmoxer's
`PUT .../config`, then ProxLB's dry run plans them apart; before the tags it planned no such move."""

from __future__ import annotations

from pathlib import Path

from proxmoxer import ProxmoxAPI

from proxlb_sim.scenario import parse_scenario
from proxlb_sim.testing import running_simulator
from tests.e2e.conftest import json_out, run_cli, write_config
from tests.sim.conftest import GIB


def _moved(doc: dict[str, object]) -> set[int]:
    plan = doc["plan"]
    assert isinstance(plan, dict)
    return {int(m["vmid"]) for m in plan["migrations"]}


def test_tags_written_through_the_api_drive_the_next_plan(tmp_path: Path) -> None:
    nodes = [{"type": "node", "node": f"pve{i}", "maxcpu": 32, "maxmem": 64 * GIB} for i in (1, 2, 3)]
    guests = [
        {
            "type": "qemu",
            "vmid": vmid,
            "node": node,
            "maxcpu": 2,
            "cpu": 0.1,
            "maxmem": 4 * GIB,
            "mem": 2 * GIB,
        }
        for vmid, node in ((100, "pve1"), (101, "pve1"), (102, "pve2"), (103, "pve3"))
    ]
    raw = {"resources": nodes + guests, "sim": {"noise": 0, "drift": 0}}
    with running_simulator(parse_scenario(raw), time_scale=0.0, seed=3) as sim:
        cfg = write_config(tmp_path, sim)
        before = json_out(run_cli("-c", str(cfg), "-d", "-j"))
        assert not {100, 101} <= _moved(before) and not ({100, 101} & _moved(before))
        api = ProxmoxAPI(
            sim.host, port=sim.port, user=sim.user, password=sim.password, verify_ssl=sim.ca_file
        )
        for vmid in (100, 101):
            api.nodes("pve1").qemu(vmid).config.put(tags="plb_anti_affinity_db")
        after = json_out(run_cli("-c", str(cfg), "-d", "-j"))
        assert len({100, 101} & _moved(after)) == 1, after["plan"]
