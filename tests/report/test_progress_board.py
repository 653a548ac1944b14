"""Live progress: task-log parsing, the board's rows and ETA, and the heartbeat of non-terminal runs."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from rich.console import Console

from proxlb.api.tasklog import TaskLogFollower, parse_log
from proxlb.cli.progress import LiveProgress
from proxlb.domain import GIB, GuestKind, Migration, MigrationReason, VmId
from proxlb.execute.progress import MigrationEvent, MigrationPhase
from proxlb.report.progress import ProgressBoard

LOG = [
    "2026-01-22 09:26:53 starting migration of VM 100 to node 'pve2' (10.0.0.12)",
    "2026-01-22 09:26:54 drive-scsi0: transferred 1.0 GiB of 4.0 GiB (25.00%) in 2s",
    "2026-01-22 09:26:56 drive-scsi0: transferred 4.0 GiB of 4.0 GiB (100.00%) in 4s, ready",
    "2026-01-22 09:26:56 drive-scsi1: transferred 512.0 MiB of 2.0 GiB (25.00%) in 1s",
    "2026-01-22 09:26:57 migration active, transferred 1.1 GiB of 8.0 GiB VM-state, 1.0 GiB/s",
]


def _move(vmid: int, size_gib: float = 8) -> Migration:
    return Migration(
        VmId(vmid), f"vm{vmid}", GuestKind.QEMU, "pve1", "pve2", MigrationReason.BALANCE, "d",
        bytes_to_copy=int(size_gib * GIB),
    )  # fmt: skip


def test_task_log_progress_adds_the_latest_line_of_each_disk_and_memory() -> None:
    p = parse_log(LOG)
    assert p.total == int((4 + 2 + 8) * GIB)
    assert p.transferred == int((4 + 0.5 + 1.1) * GIB)
    assert p.rate == GIB
    assert parse_log(["TASK OK", "garbage transferred lots"]) == parse_log([])


class _Log:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.calls: list[dict[str, Any]] = []

    def get(self, path: str, **params: Any) -> Any:
        self.calls.append(params)
        start = int(params["start"])
        rows = [{"n": i + 1, "t": t} for i, t in enumerate(self.lines)][start:]
        return rows or ([{"n": 1, "t": "no content"}] if not self.lines else [])


def test_follower_reads_only_new_lines() -> None:
    source = _Log([])
    follower = TaskLogFollower(source)
    assert follower.progress("pve1", "UPID:x").total == 0  # "no content" is not a line to skip
    source.lines.extend(LOG[:2])
    assert follower.progress("pve1", "UPID:x").transferred == GIB
    source.lines.extend(LOG[2:])
    assert follower.progress("pve1", "UPID:x").transferred == int((4 + 0.5 + 1.1) * GIB)
    assert [c["start"] for c in source.calls] == [0, 0, 2]


def _event(i: int, move: Migration, phase: MigrationPhase, at: float, **kw: Any) -> MigrationEvent:
    return MigrationEvent(i, move, phase, at, upid=f"UPID:pve1:{i}", task_node="pve1", **kw)


def test_board_rows_follow_events_and_eta_extrapolates() -> None:
    moves = [_move(100), _move(101)]
    board = ProgressBoard(moves)
    board.apply(_event(0, moves[0], MigrationPhase.STARTED, 100.0))
    board.apply(_event(0, moves[0], MigrationPhase.RUNNING, 104.0), parse_log(LOG[-1:]))
    assert [r.state for r in board.rows] == ["running", "queued"]
    assert board.rows[0].transferred == int(1.1 * GIB)
    board.apply(_event(0, moves[0], MigrationPhase.FINISHED, 110.0, outcome="done", seconds=10.0))
    assert board.fraction() == pytest.approx(0.5)
    assert board.eta(120.0) == pytest.approx(20.0)
    board.apply(_event(1, moves[1], MigrationPhase.FINISHED, 121.0, outcome="skipped", detail="locked"))
    assert board.finished() and board.counts() == {"done": 1, "skipped": 1}
    line = board.heartbeat(121.0)
    assert line.startswith("progress: 2/2 finished (1 done, 1 skipped)") and "100% overall" in line
    text = _text(board.render(121.0))
    assert "VM 100 vm100" in text and "8.0 of 8.0 GiB" in text and "skipped" in text and "overall" in text


def _text(renderable: Any) -> str:
    console = Console(width=140, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def test_heartbeat_speaks_when_nothing_else_did(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="proxlb.progress")
    moves = [_move(100)]
    progress = LiveProgress(_Log(LOG), None, quiet_after_s=0.2, check_every_s=0.05)
    progress.begin(moves)
    progress(_event(0, moves[0], MigrationPhase.STARTED, time.time()))
    deadline = time.time() + 10
    while "progress: 0/1 finished" not in caplog.text and time.time() < deadline:
        time.sleep(0.05)
    progress(_event(0, moves[0], MigrationPhase.FINISHED, time.time(), outcome="done"))
    progress.close()
    beats = [r.getMessage() for r in caplog.records if r.name == "proxlb.progress"]
    assert beats and "running: 100 pve1→pve2 5.6 of 14.0 GiB" in beats[0], beats
    assert progress._thread is None


def test_no_heartbeat_on_a_terminal_and_nothing_without_a_plan() -> None:
    progress = LiveProgress(_Log([]), Console(file=open("/dev/null", "w")))  # noqa: SIM115
    progress(_event(0, _move(100), MigrationPhase.STARTED, 1.0))  # before begin(): ignored
    assert progress.board is None and not progress.heartbeat
    progress.close()
