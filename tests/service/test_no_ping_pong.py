"""Issue #12 finding 6: no ping-pong by construction, whatever cooldown_minutes is.

Soak: 32 cycles of the daemon on a simulated cluster whose guests' CPU swings by ±50 % (virtual
clock, so it runs in seconds) with `cooldown_minutes: 0`: no guest is ever balanced back to a node
it left. Before the return-move rule the same soak made 15 moves, 8 of them returns.
"""

from __future__ import annotations

from pathlib import Path

from tests.service.simhelp import sim
from tests.service.soak import run_daemon_cycles

CYCLES = 32


def test_noisy_cycles_without_cooldown_never_move_a_guest_back_for_balance(tmp_path: Path) -> None:
    cluster, api = sim("pingpong.yaml")
    _, store = run_daemon_cycles(
        tmp_path,
        cluster,
        api,
        CYCLES,
        {"method": "cpu", "balanciness": 5, "parallel": True, "cooldown_minutes": 0},
    )
    history = store.history(1000)
    moves = [(h.vmid, h.source, h.target, h.reason) for h in reversed(history) if h.outcome == "done"]
    assert moves, "the unbalanced cluster was never balanced"
    left: dict[int, set[str]] = {}
    returns = []
    for vmid, source, target, reason in moves:
        if reason == "balance" and target in left.get(vmid, set()):
            returns.append((vmid, source, target))
        left.setdefault(vmid, set()).add(source)
    assert returns == [], f"balanced back to a node it had left: {returns} (all moves: {moves})"
