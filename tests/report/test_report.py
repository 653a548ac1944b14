import json

from rich.console import Console

from proxlb.domain import (
    GIB,
    AntiAffinity,
    Cause,
    CauseKind,
    ClusterSnapshot,
    ConstraintSet,
    Decision,
    Drain,
    Exclude,
    Guest,
    GuestKind,
    Migration,
    MigrationReason,
    Node,
    Plan,
    Resources,
    RuleSource,
    SourceKind,
    Verdict,
    VmId,
)
from proxlb.domain.decision import moving
from proxlb.report.state import node_accounts
from proxlb.report.text import ExecutionRow, render_cycle
from proxlb.report.upstream_json import build_json, guest_keys


def _snapshot() -> ClusterSnapshot:
    nodes = (
        Node(
            "pve1",
            True,
            Resources(16000, 64 * GIB, 100 * GIB),
            Resources(8000, 48 * GIB, 10 * GIB),
            pve_version=(9, 2, 11),
        ),
        Node(
            "pve2",
            True,
            Resources(16000, 64 * GIB, 100 * GIB),
            Resources(2000, 8 * GIB, 10 * GIB),
            pve_version=(9, 2, 11),
        ),
    )
    guests = (
        Guest(
            VmId(100),
            "web",
            GuestKind.QEMU,
            "pve1",
            "running",
            Resources(4000, 16 * GIB, 32 * GIB),
            Resources(2000, 12 * GIB, 0),
            tags=("plb_anti_affinity_web",),
        ),
        Guest(
            VmId(101),
            "web",
            GuestKind.QEMU,
            "pve1",
            "running",
            Resources(4000, 16 * GIB, 32 * GIB),
            Resources(2000, 12 * GIB, 0),
            tags=("plb_anti_affinity_web",),
        ),
        Guest(
            VmId(200),
            "ct",
            GuestKind.LXC,
            "pve2",
            "stopped",
            Resources(1000, 2 * GIB, 8 * GIB),
            Resources(),
            pool="dev",
        ),
    )
    return ClusterSnapshot(0.0, nodes, guests, pools={"dev": frozenset({VmId(200)})})


def _constraints() -> ConstraintSet:
    src = RuleSource(SourceKind.TAG, "plb_anti_affinity_web")
    return ConstraintSet(
        anti_affinities=(AntiAffinity("plb_anti_affinity_web", frozenset({VmId(100), VmId(101)}), src),),
        excludes=(Exclude(VmId(200), "tag plb_ignore_x", RuleSource(SourceKind.TAG, "plb_ignore_x")),),
        drains=(Drain("pve1", "maintenance_nodes", RuleSource(SourceKind.CONFIG, "maintenance_nodes")),),
    )


def _plan(snap: ClusterSnapshot) -> Plan:
    move = Migration(
        VmId(101),
        "web",
        GuestKind.QEMU,
        "pve1",
        "pve2",
        MigrationReason.RULE,
        "anti-affinity",
        bytes_to_copy=12 * GIB,
    )
    return Plan(
        snap.fingerprint(),
        (move,),
        decisions={
            VmId(100): Decision(VmId(100), Verdict.STAYS, "pve1", Cause(CauseKind.STOP, "balanciness", "ok")),
            VmId(101): moving(VmId(101), "pve1", "pve2", MigrationReason.RULE, "anti-affinity"),
        },
        triggered=True,
        trigger_reason="rule",
    )


def test_accounts_follow_the_plan() -> None:
    snap = _snapshot()
    after = node_accounts(snap, _plan(snap))
    assert after["pve1"].used.mem_bytes == 36 * GIB
    assert after["pve2"].used.mem_bytes == 20 * GIB
    # stopped guests still count as assigned
    assert after["pve2"].assigned.mem_bytes == 18 * GIB
    assert after["pve2"].guests == 2


def test_json_keeps_upstream_shape_and_disambiguates_names() -> None:
    snap = _snapshot()
    doc = build_json(snap, _constraints(), _plan(snap))
    assert {"groups", "guests", "ha_rules", "nodes", "pools", "plan"} <= doc.keys()
    assert guest_keys(snap.guests)[VmId(100)] == "web#100"
    moved = doc["guests"]["web#101"]
    assert (moved["node_current"], moved["node_target"]) == ("pve1", "pve2")
    assert doc["guests"]["ct"]["ignore"] is True and doc["guests"]["ct"]["type"] == "ct"
    assert doc["nodes"]["pve1"]["maintenance"] is True
    assert doc["nodes"]["pve2"]["memory"]["used_percent"] == 31.25
    assert doc["groups"]["anti_affinity"]["plb_anti_affinity_web"]["used_nodes"] == ["pve1", "pve2"]
    assert doc["pools"]["dev"]["members"] == ["ct"]
    assert doc["plan"]["migrations"][0]["reason"] == "rule"
    json.dumps(doc)  # serialisable


def test_text_report_mentions_moves_and_outcomes() -> None:
    snap = _snapshot()
    console = Console(record=True, width=160)
    rows = [ExecutionRow(101, "web", "pve1", "pve2", "DONE", 12.0, "")]
    console.print(render_cycle(snap, _constraints(), _plan(snap), execution=rows))
    out = console.export_text()
    assert "pve1 → pve2" in out and "maintenance" in out and "DONE" in out
