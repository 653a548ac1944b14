"""Property tests: any mix of tags, pools and HA rules derives without error, deterministically."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proxlb.domain import HaRule, VmId
from proxlb.rules.derive import derive_with_settings
from proxlb.rules.settings import PoolRule, RuleSettings

from .builders import guest, snapshot

TAGS = st.sampled_from(
    [
        "plb_affinity_a",
        "plb_affinity_b",
        "plb_anti_affinity_a",
        "plb_ignore",
        "plb_pin_pve1",
        "PLB_PIN_PVE2",
        "plb_pin_nosuch",
        "plb_pinned",
        "plb_x",
        "prod",
    ]
)
VMIDS = st.integers(100, 110)
RULES = st.lists(
    st.builds(
        HaRule,
        rule_id=st.sampled_from(["r1", "r2", "r3"]),
        rule_type=st.sampled_from(["node-affinity", "resource-affinity"]),
        resources=st.lists(VMIDS.map(VmId), max_size=3).map(tuple),
        nodes=st.lists(st.tuples(st.sampled_from(["pve1", "pve2", "x"]), st.integers(0, 3)), max_size=3).map(
            tuple
        ),
        strict=st.booleans(),
        affinity=st.sampled_from(["positive", "negative", None]),
        disabled=st.booleans(),
    ),
    max_size=4,
    unique_by=lambda r: r.rule_id,
)


@settings(max_examples=100, deadline=None)
@given(
    tags=st.dictionaries(VMIDS, st.lists(TAGS, max_size=3, unique=True).map(tuple), min_size=1, max_size=8),
    pool_members=st.sets(VMIDS, max_size=4),
    pool=st.builds(
        PoolRule,
        type=st.sampled_from([None, "affinity", "anti-affinity"]),
        pin=st.lists(st.sampled_from(["pve1", "pve3", "nope"]), max_size=2).map(tuple),
        strict=st.booleans(),
    ),
    rules=RULES,
    maintenance=st.frozensets(st.sampled_from(["pve1", "ghost"])),
)
def test_derive_is_total_and_deterministic(
    tags: dict[int, tuple[str, ...]],
    pool_members: set[int],
    pool: PoolRule,
    rules: list[HaRule],
    maintenance: frozenset[str],
) -> None:
    guests = [guest(v, on="pve2", tags=t) for v, t in tags.items()]
    settings_ = RuleSettings(pools={"p": pool})
    snap = snapshot(guests, pools={"p": {v for v in pool_members if v in tags}}, ha_rules=tuple(rules))
    first = derive_with_settings(snap, settings_, maintenance)
    again = derive_with_settings(
        snapshot(
            list(reversed(guests)),
            pools={"p": {v for v in pool_members if v in tags}},
            ha_rules=tuple(reversed(rules)),
        ),
        settings_,
        maintenance,
    )
    assert first == again
    nodes = set(snap.node_names)
    assert all(p.nodes and p.nodes <= nodes for p in first.pins)
    assert len({e.vmid for e in first.excludes}) == len(first.excludes)
    assert all(len(a.members) >= 2 for a in first.affinities + first.anti_affinities)  # type: ignore[operator]
