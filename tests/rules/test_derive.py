"""derive_constraints: tags, pools, HA rules/groups, exclusions, drains, conflicts, determinism."""

from __future__ import annotations

from typing import Any

import pytest

from proxlb.config.model import ProxlbConfig
from proxlb.domain import GuestKind, HaRule, RuleSource, SourceKind, VmId
from proxlb.rules.conflicts import affinity_components
from proxlb.rules.derive import derive_constraints, derive_with_settings
from proxlb.rules.settings import PoolRule, RuleSettings, rule_settings

from .builders import guest, node, snapshot

ALL = RuleSettings()


def derive(snap: Any, settings: RuleSettings = ALL, maintenance: frozenset[str] = frozenset()) -> Any:
    return derive_with_settings(snap, settings, maintenance)


def test_affinity_and_anti_affinity_tags_case_insensitive() -> None:
    snap = snapshot(
        [
            guest(100, tags=("plb_affinity_web",)),
            guest(101, tags=("PLB_Affinity_Web",)),
            guest(102, tags=("plb_anti_affinity_db",)),
            guest(103, tags=("plb_anti_affinity_db", "other")),
            guest(104, tags=("plb_affinity_lonely",)),
        ]
    )
    cons = derive(snap)
    (aff,) = cons.affinities
    assert aff.group == "plb_affinity_web" and aff.members == {100, 101}
    assert aff.source == RuleSource(SourceKind.TAG, "plb_affinity_web") and aff.strict
    (anti,) = cons.anti_affinities
    assert anti.group == "plb_anti_affinity_db" and anti.members == {102, 103}
    assert cons.warnings == ()


def test_ignore_tag_excludes() -> None:
    cons = derive(snapshot([guest(100, tags=("plb_ignore_dev",)), guest(101, tags=("PLB_IGNORE",))]))
    assert [(e.vmid, e.reason) for e in cons.excludes] == [
        (100, "tag plb_ignore_dev"),
        (101, "tag plb_ignore"),
    ]
    assert cons.excludes[0].source == RuleSource(SourceKind.TAG, "plb_ignore_dev")


def test_pin_tags_case_insensitive_several_make_a_set() -> None:
    snap = snapshot([guest(100, tags=("plb_pin_pve1", "plb_pin_PVE3"))], nodes=("PVE1", "pve2", "pve3"))
    (pin,) = derive(snap).pins
    assert pin.vmid == 100 and pin.nodes == {"PVE1", "pve3"} and pin.strict
    assert pin.source == RuleSource(SourceKind.TAG, "plb_pin_pve1,plb_pin_pve3")


def test_unknown_pin_node_warns_and_is_ignored() -> None:
    cons = derive(snapshot([guest(100, tags=("plb_pin_nosuch", "plb_pin_pve2"))]))
    (pin,) = cons.pins
    assert pin.nodes == {"pve2"}
    assert (
        len(cons.warnings) == 1 and "guest 100" in cons.warnings[0] and "plb_pin_nosuch" in cons.warnings[0]
    )


@pytest.mark.parametrize("tag", ["plb_pinned", "plb_pin", "plb_pin_", "plb_afinity_x"])
def test_malformed_plb_tags_are_reported_not_applied(tag: str) -> None:
    cons = derive(snapshot([guest(100, tags=(tag,))], nodes=("pve1", "ned", "pinned")))
    assert cons.pins == () and cons.affinities == () and cons.excludes == ()
    assert len(cons.warnings) == 1 and tag in cons.warnings[0] and "not a ProxLB tag" in cons.warnings[0]


def test_pool_affinity_anti_affinity_and_pin_by_vmid() -> None:
    snap = snapshot(
        [guest(100), guest(101), guest(102), guest(103, tags=("plb_pin_pve1",))],
        pools={"web": {100, 101}, "db": {102, 103}, "pinned": {103}},
    )
    settings = RuleSettings(
        pools={
            "web": PoolRule(type="affinity"),
            "db": PoolRule(type="anti-affinity"),
            "pinned": PoolRule(pin=("PVE2", "pve3"), strict=False),
            "missing": PoolRule(type="affinity"),
        }
    )
    cons = derive(snap, settings)
    assert [(a.group, a.members, a.source.kind) for a in cons.affinities] == [
        ("web", {100, 101}, SourceKind.POOL)
    ]
    assert [(a.group, a.members) for a in cons.anti_affinities] == [("db", {102, 103})]
    pins = {(p.vmid, p.source.kind): p for p in cons.pins}
    assert pins[(103, SourceKind.POOL)].nodes == {"pve2", "pve3"} and not pins[(103, SourceKind.POOL)].strict
    # the pool's strict=False does not leak onto the tag pin (upstream bug)
    assert pins[(103, SourceKind.TAG)].strict and pins[(103, SourceKind.TAG)].nodes == {"pve1"}
    assert any("pool 'missing'" in w for w in cons.warnings)


def test_pool_pin_unknown_node_warns() -> None:
    cons = derive(
        snapshot([guest(100)], pools={"p": {100}}), RuleSettings(pools={"p": PoolRule(pin=("nope",))})
    )
    assert cons.pins == () and "balancing.pools.p.pin" in cons.warnings[0]


def test_ha_node_affinity_is_a_pin_with_priorities_not_colocation() -> None:
    rules = (
        HaRule(
            "cascade", "node-affinity", (VmId(100), VmId(101)), nodes=(("pve1", 2), ("pve2", 1), ("pve3", 0))
        ),
        HaRule("strict-one", "node-affinity", (VmId(102),), nodes=(("PVE3", 0),), strict=True),
    )
    cons = derive(snapshot([guest(100), guest(101), guest(102)], ha_rules=rules))
    assert cons.affinities == ()
    p100, p101, p102 = cons.pins
    assert p100.vmid == 100 and p100.nodes == {"pve1", "pve2", "pve3"} and not p100.strict
    assert p100.priorities == (("pve1", 2), ("pve2", 1), ("pve3", 0))
    assert p100.source == RuleSource(SourceKind.HA_RULE, "cascade") and p101.vmid == 101
    assert p102.strict and p102.nodes == {"pve3"}


def test_ha_resource_affinity_and_disabled_rules() -> None:
    rules = (
        HaRule("together", "resource-affinity", (VmId(100), VmId(101)), affinity="positive"),
        HaRule("apart", "resource-affinity", (VmId(102), VmId(103)), affinity="negative"),
        HaRule("off", "resource-affinity", (VmId(100), VmId(103)), affinity="negative", disabled=True),
        HaRule("ghost", "resource-affinity", (VmId(100), VmId(999)), affinity="negative"),
    )
    cons = derive(snapshot([guest(v) for v in (100, 101, 102, 103)], ha_rules=rules))
    assert [(a.group, a.members) for a in cons.affinities] == [("together", {100, 101})]
    assert [(a.group, a.members) for a in cons.anti_affinities] == [("apart", {102, 103})]
    assert cons.affinities[0].source.kind is SourceKind.HA_RULE
    assert len(cons.warnings) == 1 and "ghost" in cons.warnings[0] and "999" in cons.warnings[0]


def test_pve8_ha_group_restricted_is_strict() -> None:
    rules = (
        HaRule(
            "ha-group-prefer",
            "node-affinity",
            (VmId(100),),
            nodes=(("pve1", 2), ("pve2", 0)),
            strict=True,
            from_group=True,
        ),
        HaRule("ha-group-soft", "node-affinity", (VmId(101),), nodes=(("pve2", 0),), from_group=True),
    )
    p100, p101 = derive(snapshot([guest(100), guest(101)], ha_rules=rules)).pins
    assert p100.source == RuleSource(SourceKind.HA_GROUP, "prefer") and p100.strict
    assert p100.priorities == (("pve1", 2), ("pve2", 0))
    assert p101.source == RuleSource(SourceKind.HA_GROUP, "soft") and not p101.strict


def test_ha_maintenance_and_config_maintenance_drain() -> None:
    snap = snapshot([guest(100)], nodes=("pve1", "pve2"), extra_nodes=(node("pve3", ha_maintenance=True),))
    settings = RuleSettings(static_maintenance=frozenset({"pve1"}))
    cons = derive(snap, settings, frozenset({"pve1", "PVE2", "ghost"}))
    assert [(d.node, d.reason, d.source.name) for d in cons.drains] == [
        ("pve1", "listed in proxmox_cluster.maintenance_nodes", "maintenance_nodes"),
        ("pve2", "maintenance window (maintenance_nodes_schedule)", "maintenance_nodes_schedule"),
        ("pve3", "HA maintenance mode", "HA node maintenance"),
    ]
    assert len(cons.warnings) == 1 and "'ghost'" in cons.warnings[0]


def test_ignore_guests_by_name_warns_on_many_and_none() -> None:
    snap = snapshot([guest(100, name="web"), guest(101, name="web"), guest(102, name="db")])
    cons = derive(snap, RuleSettings(ignore_guests=("web", "nosuch")))
    assert [(e.vmid, e.reason) for e in cons.excludes] == [
        (100, "listed in ignore_guests ('web')"),
        (101, "listed in ignore_guests ('web')"),
    ]
    assert len(cons.warnings) == 2 and "100, 101" in cons.warnings[0] and "nosuch" in cons.warnings[1]


def test_balance_types() -> None:
    snap = snapshot([guest(100), guest(200, kind=GuestKind.LXC)])
    cons = derive(snap, RuleSettings(balance_types=frozenset({"vm"})))
    assert [(e.vmid, e.reason) for e in cons.excludes] == [(200, "balance_types does not include 'ct'")]
    assert cons.excludes[0].source == RuleSource(SourceKind.CONFIG, "balance_types")
    empty = derive(snap, RuleSettings(balance_types=frozenset()))
    assert len(empty.excludes) == 2 and "balance_types is empty" in empty.warnings[0]


@pytest.mark.parametrize(
    ("kwargs", "settings", "reason"),
    [
        ({"template": True, "status": "stopped"}, ALL, "template"),
        ({"lock": "backup"}, ALL, "locked (backup)"),
        ({"status": "paused"}, ALL, "status 'paused'"),
        ({"ha_state": "error", "ha_managed": True}, ALL, "HA state 'error'"),
        ({"local_devices": ("hostpci0", "usb1")}, ALL, "passthrough hostpci0, usb1"),
        (
            {"local_disk_bytes": 1, "local_storages": frozenset({"local-lvm"})},
            RuleSettings(with_local_disks=False),
            "local disks on local-lvm (balancing.with_local_disks is false)",
        ),
        ({"lock": "migrate", "tags": ("plb_ignore",)}, ALL, "tag plb_ignore; locked (migrate)"),
    ],
)
def test_guest_property_exclusions(kwargs: dict[str, Any], settings: RuleSettings, reason: str) -> None:
    (exclude,) = derive(snapshot([guest(100, **kwargs)]), settings).excludes
    assert exclude.reason == reason


def test_movable_guests_are_not_excluded() -> None:
    snap = snapshot([guest(100), guest(101, status="stopped"), guest(102, local_disk_bytes=5)])
    assert derive(snap, RuleSettings()).excludes == ()  # stopped guests move offline (drains, rules)


def test_guest_on_offline_node_is_excluded() -> None:
    snap = snapshot([guest(100, on="pve9")], extra_nodes=(node("pve9", online=False),))
    assert derive(snap).excludes[0].reason == "its node 'pve9' is offline"


def test_transitive_affinity_keeps_every_source_and_merges_units() -> None:
    snap = snapshot(
        [guest(100, tags=("plb_affinity_a",)), guest(101, tags=("plb_affinity_a",)), guest(102), guest(103)],
        pools={"p": {101, 102}},
        ha_rules=(HaRule("r", "resource-affinity", (VmId(102), VmId(103)), affinity="positive"),),
    )
    cons = derive(snap, RuleSettings(pools={"p": PoolRule(type="affinity")}))
    assert {str(a.source) for a in cons.affinities} == {"tag 'plb_affinity_a'", "pool 'p'", "ha-rule 'r'"}
    ((members, groups),) = affinity_components(cons.affinities)
    assert members == {100, 101, 102, 103} and len(groups) == 3


def test_conflict_affinity_and_anti_affinity() -> None:
    snap = snapshot(
        [
            guest(100, tags=("plb_affinity_x", "plb_anti_affinity_y")),
            guest(101, tags=("plb_affinity_x", "plb_anti_affinity_y")),
        ]
    )
    (warning,) = derive(snap).warnings
    assert "100, 101" in warning and "plb_affinity_x" in warning and "plb_anti_affinity_y" in warning


def test_conflict_strict_pins_without_common_node() -> None:
    snap = snapshot(
        [
            guest(100, tags=("plb_affinity_x", "plb_pin_pve1")),
            guest(101, tags=("plb_affinity_x", "plb_pin_pve2")),
            guest(102, tags=("plb_pin_pve3",)),
        ],
        pools={"p": {102}},
    )
    cons = derive(snap, RuleSettings(pools={"p": PoolRule(pin=("pve1",))}))
    assert len(cons.warnings) == 2
    assert "guests 100, 101" in cons.warnings[0] and "no node in common" in cons.warnings[0]
    assert "guest 102" in cons.warnings[1] and "pool 'p'" in cons.warnings[1]


def test_soft_pins_never_conflict() -> None:
    snap = snapshot([guest(100, tags=("plb_pin_pve1",))], pools={"p": {100}})
    assert derive(snap, RuleSettings(pools={"p": PoolRule(pin=("pve2",), strict=False)})).warnings == ()


def test_deterministic_and_sorted() -> None:
    guests = [
        guest(v, tags=("plb_affinity_a", f"plb_anti_affinity_{v % 2}", "plb_pin_pve1"))
        for v in range(110, 100, -1)
    ]
    first = derive(snapshot(guests))
    second = derive(snapshot(list(reversed(guests))))
    assert first == second
    assert [p.vmid for p in first.pins] == sorted(p.vmid for p in first.pins)
    assert [a.group for a in first.anti_affinities] == ["plb_anti_affinity_0", "plb_anti_affinity_1"]


def test_from_config() -> None:
    config = ProxlbConfig.model_validate(
        {
            "proxmox_api": {"hosts": ["h"], "user": "u@pam", "pass": "x"},
            "proxmox_cluster": {"maintenance_nodes": ["pve1"]},
            "balancing": {
                "balance_types": ["vm"],
                "mode": "assigned",
                "with_local_disks": False,
                "ignore_guests": ["g101"],
                "pools": {"web": {"type": "affinity", "pin": ["pve2"], "strict": False}},
            },
        }
    )
    settings = rule_settings(config)
    assert settings.balance_types == {"vm"} and not settings.with_local_disks
    assert settings.pools == {"web": PoolRule(type="affinity", pin=("pve2",), strict=False)}
    snap = snapshot([guest(100), guest(101), guest(102, kind=GuestKind.LXC)], pools={"web": {100, 101}})
    cons = derive_constraints(snap, config, frozenset({"pve1"}))
    assert [e.vmid for e in cons.excludes] == [101, 102]
    assert [d.node for d in cons.drains] == ["pve1"]
    assert cons.affinities[0].group == "web" and not cons.pins[0].strict
