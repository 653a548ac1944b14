"""`/cluster/options` crs and the HA resources' auto-rebalance flags, read through the simulator."""

from __future__ import annotations

from typing import Any

from proxlb.collect.crs import parse_crs
from proxlb.collect.snapshot import collect_snapshot
from proxlb.config.model import ProxlbConfig
from proxlb.domain import VmId
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import parse_scenario


def scenario(crs: object) -> dict[str, Any]:
    return {
        "resources": [
            {"type": "node", "node": "pve1", "maxcpu": 8, "maxmem": "32G"},
            {"type": "node", "node": "pve2", "maxcpu": 8, "maxmem": "32G"},
            {"type": "qemu", "vmid": 100, "node": "pve1", "maxmem": "4G", "mem": "2G"},
            {"type": "qemu", "vmid": 101, "node": "pve1", "maxmem": "4G", "mem": "2G"},
        ],
        "ha": {"resources": [{"sid": "vm:100"}, {"sid": "vm:101", "auto-rebalance": 0}]},
        "options": {"crs": crs},
    }


def collect(crs: object) -> tuple[Any, list[str]]:
    api = InProcessApi(SimCluster.from_scenario(parse_scenario(scenario(crs)), time_scale=0))
    cfg = ProxlbConfig.model_validate(
        {"proxmox_api": {"hosts": ["127.0.0.1"], "user": "root@pam", "pass": "x"}}
    )
    snap = collect_snapshot(api, cfg, now=1.0)
    return snap, [c if isinstance(c, str) else c[1] for c in api.calls]


def test_auto_rebalance_on_reads_options_resources_and_tasks_once() -> None:
    crs = {"ha": "dynamic", "ha-auto-rebalance": 1, "ha-auto-rebalance-threshold": 0.4}
    snap, calls = collect(crs)
    assert snap.crs.known and snap.crs.pve_balances and snap.crs.auto_rebalance_threshold == 0.4
    assert (
        snap.crs.auto_rebalance_hold_duration == 3 and snap.crs.auto_rebalance_margin == 0.1
    )  # PVE's defaults
    assert snap.ha_auto_rebalance_off == frozenset({VmId(101)})
    assert sum("/cluster/options" in c for c in calls) == 1
    assert sum("/cluster/ha/resources" in c for c in calls) == 1
    assert sum(c.endswith("/cluster/tasks") for c in calls) == 1


def test_auto_rebalance_off_costs_one_request() -> None:
    snap, calls = collect({"ha": "static"})
    assert snap.crs.ha == "static" and not snap.crs.pve_balances
    assert sum("/cluster/options" in c for c in calls) == 1
    assert not any("/cluster/ha/resources" in c or c.endswith("/cluster/tasks") for c in calls)


def test_property_string_and_odd_values() -> None:
    warnings: list[str] = []
    crs = parse_crs({"crs": "static,ha-auto-rebalance=1,ha-auto-rebalance-margin=lots"}, warnings)
    assert crs.ha == "static" and crs.auto_rebalance and crs.auto_rebalance_margin == 0.1
    assert warnings == [
        "/cluster/options crs: ha-auto-rebalance-margin 'lots' is not a number; PVE's default used"
    ]
    assert parse_crs({"crs": {"ha": "fancy"}}, []).effective_scheduler == "basic"
