"""Issue #12 finding 6: no ping-pong by construction, whatever cooldown_minutes is.

Soak: 32 cycles of the daemon on a simulated cluster whose guests' CPU swings by ±50 % (virtual
clock, so it runs in seconds) with `cooldown_minutes: 0`: no guest is ever balanced back to a node
it left. Before the return-move rule the same soak made 15 moves, 8 of them returns.
"""

from __future__ import annotations

from pathlib import Path

from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import RunReport, run_once
from proxlb.service.state import StateStore
from tests.service.simhelp import SimClock, client_for, sim
from tests.service.test_daemon import write_config

CYCLES = 32


def test_noisy_cycles_without_cooldown_never_move_a_guest_back_for_balance(tmp_path: Path) -> None:
    cluster, api = sim("pingpong.yaml")
    signals = DaemonSignals()
    state = StateStore.open(tmp_path / "state")

    reports: list[RunReport] = []

    def stop_after(report: RunReport) -> None:
        reports.append(report)
        if len(reports) >= CYCLES:
            signals.request_stop()

    daemon = Daemon(
        write_config(
            tmp_path / "p.yaml",
            balancing={"method": "cpu", "balanciness": 5, "parallel": True, "cooldown_minutes": 0},
            service={"schedule": {"interval": 5, "format": "minutes"}},
        ),
        signals=signals,
        clock=SimClock(cluster),
        connect=lambda config, stop: client_for(api),
        open_state=lambda config, one_shot: state,
        run_cycle=run_once,
        on_report=stop_after,
        configure_log=False,
    )
    assert daemon.run() == 0
    assert daemon.failures == 0 and len(reports) == CYCLES
    first = reports[0].snapshot
    assert first is not None
    history = StateStore.open(tmp_path / "state", cluster=first.identity).history(1000)
    moves = [(h.vmid, h.source, h.target, h.reason) for h in reversed(history) if h.outcome == "done"]
    assert moves, "the unbalanced cluster was never balanced"
    left: dict[int, set[str]] = {}
    returns = []
    for vmid, source, target, reason in moves:
        if reason == "balance" and target in left.get(vmid, set()):
            returns.append((vmid, source, target))
        left.setdefault(vmid, set()).add(source)
    assert returns == [], f"balanced back to a node it had left: {returns} (all moves: {moves})"
