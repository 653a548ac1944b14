"""Collect (and derive rules) through the simulator's in-process API: real PVE shapes end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxlb.collect.enrich import enrich_guests
from proxlb.collect.snapshot import collect_snapshot
from proxlb.config.model import ProxlbConfig
from proxlb.domain import GIB, SourceKind
from proxlb.rules.derive import derive_constraints
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import bundled_scenarios, load_scenario

HERE = Path(__file__).parent


def api_for(path: Path | str) -> InProcessApi:
    return InProcessApi(SimCluster.from_scenario(load_scenario(path), time_scale=0))


def config(**balancing: Any) -> ProxlbConfig:
    return ProxlbConfig.model_validate(
        {"proxmox_api": {"hosts": ["127.0.0.1"], "user": "root@pam", "pass": "x"}, "balancing": balancing}
    )


def test_mixed_scenario_collects_and_derives() -> None:
    api = api_for(HERE / "scenarios" / "mixed.yaml")
    cfg = config(balance_types=["vm", "ct"], with_local_disks=False, pools={"prod": {"pin": ["pve1"]}})
    snapshot = collect_snapshot(api, cfg, now=1.0)
    assert len(api.calls) == 6 + 2 * 3  # 4 cluster-wide, HA rules, /cluster/options, 2 per node
    assert snapshot.node_names == ("pve1", "pve2", "pve3")
    assert snapshot.node("pve3").ha_maintenance  # type: ignore[union-attr]
    assert snapshot.ha_master == "pve1"
    assert snapshot.pools["prod"] == {100, 101}
    g100 = snapshot.guest(100)
    assert g100 is not None and 1000 < g100.usage.cpu_milli < 3000  # ≈ 0.44 × 4 cores, not 0.44

    enriched = enrich_guests(api, snapshot, [100])
    assert enriched.guest(100).local_disk_bytes == 32 * GIB  # type: ignore[union-attr]
    assert enriched.guest(100).local_devices == ("hostpci0",)  # type: ignore[union-attr]

    cons = derive_constraints(enriched, cfg, frozenset())
    assert [(a.group, a.members) for a in cons.affinities] == [("plb_affinity_web", {100, 101})]
    assert [(a.group, a.members) for a in cons.anti_affinities] == [("apart", {100, 300})]
    pins = {(p.vmid, p.source.kind): p for p in cons.pins}
    assert pins[(100, SourceKind.TAG)].nodes == {"pve1", "pve2"}
    assert pins[(100, SourceKind.POOL)].nodes == {"pve1"}
    assert pins[(300, SourceKind.HA_RULE)].priorities == (("pve1", 2), ("pve2", 0))
    assert [d.node for d in cons.drains] == ["pve3"]
    reasons = {e.vmid: e.reason for e in cons.excludes}
    assert reasons[100].startswith("passthrough hostpci0")
    assert reasons[200] == "tag plb_ignore_x"
    assert 300 not in reasons  # stopped: movable offline (drains, rules), never excluded


def test_the_simulator_bundles_the_documented_scenarios() -> None:
    assert {"demo", "pve8"} <= set(bundled_scenarios())


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_bundled_scenarios_collect_without_errors(name: str) -> None:
    api = api_for(bundled_scenarios()[name])
    snapshot = collect_snapshot(api, config(balance_types=["vm", "ct"]), now=1.0)
    online = sum(1 for n in snapshot.nodes if n.online)
    assert 4 + 2 * online <= len(api.calls) <= 7 + 2 * online
    assert snapshot.guests, "a scenario without guests"
    for guest in snapshot.guests:
        assert guest.usage.cpu_milli <= guest.allocated.cpu_milli
    cons = derive_constraints(snapshot, config(balance_types=["vm", "ct"]), frozenset())
    assert cons == derive_constraints(snapshot, config(balance_types=["vm", "ct"]), frozenset())


def _bundled(name: str) -> InProcessApi:
    return api_for(bundled_scenarios()[name])


def test_bundled_pve8_reads_groups_not_rules() -> None:
    api = _bundled("pve8")
    snapshot = collect_snapshot(api, config(balance_types=["vm", "ct"]), now=1.0)
    paths = [path for _, path, _ in api.calls]
    assert "/cluster/ha/rules" not in paths and "/cluster/ha/groups" in paths
    assert snapshot.ha_rules and all(r.from_group for r in snapshot.ha_rules)
    cons = derive_constraints(snapshot, config(balance_types=["vm", "ct"]), frozenset())
    assert any(p.source.kind is SourceKind.HA_GROUP for p in cons.pins)


def test_bundled_pve9_node_affinity_rules_are_pins_not_groups() -> None:
    snapshot = collect_snapshot(_bundled("ha-rules-pve9"), config(balance_types=["vm", "ct"]), now=1.0)
    cons = derive_constraints(snapshot, config(balance_types=["vm", "ct"]), frozenset())
    node_rules = {r.rule_id for r in snapshot.ha_rules if r.rule_type == "node-affinity" and not r.disabled}
    assert node_rules
    assert not node_rules & {a.group for a in cons.affinities}
    assert node_rules <= {p.source.name for p in cons.pins}
