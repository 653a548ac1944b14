"""Issue #17: ProxLB as a daemon beside PVE 9.2's own HA auto-rebalance (simulated CRM rounds).

Soak: 32 daemon cycles (5 min apart, virtual clock) on a noisy cluster whose `/cluster/options` turn
PVE's dynamic auto-rebalance on. By default ProxLB leaves the HA resources PVE owns to PVE: every
HA resource moved is moved by PVE's CRM, ProxLB moves only the others (and vm:103, which opted
out with auto-rebalance=0), and no migration of one loop is undone by the other.
"""

from __future__ import annotations

from pathlib import Path

from proxlb.service.pipeline import RunReport
from tests.service.simhelp import sim
from tests.service.soak import run_daemon_cycles

CYCLES = 32
PVE_OWNED = {100, 101, 102, 104, 105}


def soak(
    tmp_path: Path, **balancing: object
) -> tuple[list[tuple[float, int, str, str, str]], list[RunReport]]:
    """Run the daemon; return every finished migration (time, vmid, from, to, who) and the reports."""
    cluster, api = sim("beside_pve.yaml")
    assert cluster.auto_rebalance is not None
    reports, store = run_daemon_cycles(
        tmp_path,
        cluster,
        api,
        CYCLES,
        {"method": "memory", "balanciness": 5, "parallel": True, "cooldown_minutes": 30, **balancing},
    )
    history = store.history(1000)
    ours = [
        (h.started or h.finished, int(h.vmid), h.source, h.target, "proxlb")
        for h in history
        if h.outcome == "done"
    ]
    pve = [(t, int(sid.split(":")[1]), src, dst, "pve") for t, sid, src, dst in cluster.auto_rebalance.moves]
    return sorted(ours + pve), reports


def reversals(moves: list[tuple[float, int, str, str, str]]) -> list[tuple[int, str, str]]:
    """Moves that send a guest back to the node the OTHER loop took it from."""
    last: dict[int, tuple[str, str]] = {}  # vmid -> (node it left, who moved it)
    out = []
    for _, vmid, src, dst, who in moves:
        left = last.get(vmid)
        if left is not None and left[1] != who and left[0] == dst:
            out.append((vmid, who, dst))
        last[vmid] = (src, who)
    return out


def test_beside_pve_auto_rebalance_ha_guests_are_moved_only_by_pve_and_nothing_is_undone(
    tmp_path: Path,
) -> None:
    moves, reports = soak(tmp_path)
    by_proxlb = {vmid for _, vmid, _, _, who in moves if who == "proxlb"}
    by_pve = {vmid for _, vmid, _, _, who in moves if who == "pve"}
    assert by_proxlb, "ProxLB never balanced the unbalanced cluster"
    assert by_pve, "PVE's auto-rebalance never acted"
    assert not by_proxlb & PVE_OWNED, moves
    assert by_pve <= PVE_OWNED, moves
    assert reversals(moves) == [], moves
    plan = reports[-1].plan
    assert plan is not None
    assert any("PVE auto-rebalance is on" in w for w in plan.warnings)


def test_balance_all_gives_proxlb_the_ha_guests_and_warns_to_turn_pve_balancing_off(tmp_path: Path) -> None:
    moves, reports = soak(tmp_path, pve_auto_rebalance="balance_all")
    assert {vmid for _, vmid, _, _, who in moves if who == "proxlb"} & PVE_OWNED
    assert reversals(moves) == [], moves
    plan = reports[0].plan
    assert plan is not None and any("turn PVE's auto-rebalance off" in w for w in plan.warnings)
