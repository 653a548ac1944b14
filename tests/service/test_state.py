from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from proxlb.domain import GuestKind, VmId
from proxlb.execute.model import MigrationOutcome, Outcome
from proxlb.service.state import DB_NAME, SCHEMA_VERSION, StateError, StateStore


def outcome(
    vmid: int,
    result: Outcome,
    started: float | None = 100.0,
    seconds: float = 5.0,
    detail: str = "",
    dry_run: bool = False,
) -> MigrationOutcome:
    return MigrationOutcome(
        vmid=VmId(vmid),
        name=f"g{vmid}",
        kind=GuestKind.QEMU,
        source="pve1",
        target="pve2",
        reason="balance",
        outcome=result,
        detail=detail,
        started_at=started,
        seconds=seconds,
        dry_run=dry_run,
    )


def test_history_and_cooldowns_survive_reopen(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state", cluster="cluster:a")
    written = store.record_migrations(
        [
            outcome(100, Outcome.DONE),
            outcome(101, Outcome.FAILED),
            outcome(102, Outcome.SKIPPED, None),
            outcome(103, Outcome.SKIPPED, None, detail="dry run: no request sent", dry_run=True),
        ],
        finished=200.0,
    )
    assert written == 3
    store.record_migrations([outcome(100, Outcome.DONE, started=300.0)], finished=310.0)
    store.close()
    again = StateStore.open(tmp_path / "state", cluster="cluster:a")
    assert again.schema_version == SCHEMA_VERSION
    assert again.recent_moves(since=0) == {VmId(100): 305.0}  # only successful moves count
    assert again.recent_moves(since=306) == {}
    hist = again.history()
    assert [h.vmid for h in hist][:1] == [100] and len(hist) == 4
    assert {h.outcome for h in hist} == {"done", "failed", "skipped"}
    mode = sqlite3.connect(tmp_path / "state" / DB_NAME).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_cpu_history_and_runs(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path, cluster="cluster:a")
    store.record_cpu({VmId(1): 500.0, VmId(2): 1200.0}, now=10.0)
    store.record_cpu({VmId(1): 700.0}, now=20.0)
    assert store.cpu_history() == {1: 700.0, 2: 1200.0}
    assert store.cpu_history(since=15.0) == {1: 700.0}
    assert store.last_run() is None
    store.record_run({"migrations": 3, "failed": 0}, started=1.0, finished=2.0)
    store.record_run({"migrations": 1, "failed": 1}, started=3.0, finished=4.0)
    assert store.last_run() == {"started": 3.0, "finished": 4.0, "migrations": 1, "failed": 1}
    store.prune(before=15.0)
    assert store.cpu_history() == {1: 700.0}
    assert store.last_run() is None


def test_unusable_dir_is_a_clear_error_or_memory_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")  # a file where the directory should be: fails even for root
    with pytest.raises(StateError) as info:
        StateStore.open(blocker / "sub")
    assert "state_dir" in str(info.value)
    store = StateStore.open(blocker / "sub", memory_fallback=True, cluster="cluster:a")
    assert store.location == ":memory:" and "memory" in caplog.text
    store.record_migrations([outcome(1, Outcome.DONE)], finished=1.0)
    assert store.recent_moves(0) == {1: 105.0}


def test_newer_schema_refused(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path, cluster="cluster:a")
    store._conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(StateError, match="newer"):
        StateStore.open(tmp_path)
