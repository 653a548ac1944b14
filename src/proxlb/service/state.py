"""Persistent service state in SQLite: migration history, cooldowns, smoothed guest CPU, last run.

Role: the memory that survives restarts — above all the cross-run guard against ping-pong (a guest
moved recently is not moved again for balancing). Invariants: schema versioned in `meta`; WAL
journal; every write is one transaction; times are epoch seconds supplied by the caller (no clock
is read here). An unwritable state dir raises `StateError` unless the caller asked for the
documented in-memory fallback (one-shot runs), which logs a WARNING.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxlb.domain import VmId
from proxlb.errors import ProxlbError
from proxlb.execute.model import MigrationOutcome, Outcome

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "proxlb.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vmid INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    started REAL,
    finished REAL NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    upid TEXT
);
CREATE INDEX IF NOT EXISTS migrations_vmid_finished ON migrations (vmid, finished);
CREATE TABLE IF NOT EXISTS cpu_samples (
    vmid INTEGER PRIMARY KEY, cpu_milli REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL NOT NULL, summary TEXT NOT NULL
);
"""


class StateError(ProxlbError):
    """The state directory or database cannot be used."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    vmid: VmId
    name: str
    kind: str
    source: str
    target: str
    reason: str
    started: float | None
    finished: float
    outcome: str
    detail: str
    upid: str | None


class StateStore:
    """One SQLite database under the state directory (or in memory, see `open`)."""

    def __init__(self, conn: sqlite3.Connection, location: str) -> None:
        self._conn = conn
        self.location = location
        self._migrate_schema()

    @classmethod
    def open(cls, state_dir: str | Path, *, memory_fallback: bool = False) -> StateStore:
        """Open (creating) `<state_dir>/proxlb.sqlite3`.

        memory_fallback: when the directory is unusable, keep state in memory for this process
        only (cooldowns then do not survive a restart) and log a WARNING instead of raising.
        """
        directory = Path(state_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / DB_NAME
            conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return cls(conn, str(path))
        except (OSError, sqlite3.Error) as exc:
            message = f"state directory {directory} is not usable: {exc}"
            if not memory_fallback:
                raise StateError(
                    message + " (create it writable for the proxlb user, or set service.state_dir)"
                ) from None
            log.warning("%s; keeping state in memory for this run only (no cooldown across runs)", message)
            return cls.in_memory()

    @classmethod
    def in_memory(cls) -> StateStore:
        return cls(sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False), ":memory:")

    def close(self) -> None:
        self._conn.close()

    def _migrate_schema(self) -> None:
        try:
            self._conn.executescript(_SCHEMA)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise StateError(
                    f"state database {self.location} has schema {row[0]}, newer than this ProxLB "
                    f"understands ({SCHEMA_VERSION}); upgrade ProxLB or move the file away"
                )
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.location} is not usable: {exc}") from None

    @property
    def schema_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    # -- migrations ----------------------------------------------------------------------------
    def record_migrations(self, outcomes: Iterable[MigrationOutcome], finished: float) -> int:
        """Store every outcome except dry-run skips; returns how many rows were written."""
        rows = [
            (
                int(o.vmid),
                o.name,
                o.kind.value,
                o.source,
                o.target,
                o.reason,
                o.started_at,
                finished if o.started_at is None else o.started_at + o.seconds,
                o.outcome.value,
                o.detail,
                o.upid,
            )
            for o in outcomes
            if not o.detail.startswith("dry run")
        ]
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO migrations (vmid, name, kind, source, target, reason, started, finished,"
                " outcome, detail, upid) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        return len(rows)

    def recent_moves(self, since: float) -> dict[VmId, float]:
        """vmid → finish time of its latest successful move finished at or after `since`."""
        cur = self._conn.execute(
            "SELECT vmid, MAX(finished) FROM migrations WHERE outcome=? AND finished>=? GROUP BY vmid",
            (Outcome.DONE.value, since),
        )
        return {VmId(int(vmid)): float(when) for vmid, when in cur.fetchall()}

    def history(self, limit: int = 100) -> list[HistoryEntry]:
        cur = self._conn.execute(
            "SELECT vmid, name, kind, source, target, reason, started, finished, outcome, detail, upid"
            " FROM migrations ORDER BY finished DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [
            HistoryEntry(VmId(int(r[0])), r[1], r[2], r[3], r[4], r[5], r[6], float(r[7]), r[8], r[9], r[10])
            for r in cur.fetchall()
        ]

    def prune(self, before: float) -> None:
        """Forget migrations and CPU samples older than `before`."""
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.execute("DELETE FROM migrations WHERE finished < ?", (before,))
            self._conn.execute("DELETE FROM cpu_samples WHERE updated < ?", (before,))
            self._conn.execute("DELETE FROM runs WHERE finished < ?", (before,))

    # -- cpu smoothing -------------------------------------------------------------------------
    def cpu_history(self, since: float | None = None) -> dict[VmId, float]:
        """Last smoothed CPU (milli-cores) per guest, optionally only samples newer than `since`."""
        cur = self._conn.execute(
            "SELECT vmid, cpu_milli FROM cpu_samples WHERE updated >= ?", (since if since is not None else 0,)
        )
        return {VmId(int(vmid)): float(cpu) for vmid, cpu in cur.fetchall()}

    def record_cpu(self, samples: Mapping[VmId, float], now: float) -> None:
        """Replace the stored smoothed CPU of these guests (the collector already applied the EWMA)."""
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO cpu_samples (vmid, cpu_milli, updated) VALUES (?,?,?)"
                " ON CONFLICT(vmid) DO UPDATE SET cpu_milli=excluded.cpu_milli, updated=excluded.updated",
                [(int(v), float(c), now) for v, c in samples.items()],
            )

    # -- runs ----------------------------------------------------------------------------------
    def record_run(self, summary: Mapping[str, Any], started: float, finished: float) -> None:
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.execute(
                "INSERT INTO runs (started, finished, summary) VALUES (?,?,?)",
                (started, finished, json.dumps(dict(summary), sort_keys=True, default=str)),
            )

    def last_run(self) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT started, finished, summary FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        summary: dict[str, Any] = json.loads(row[2])
        return {"started": row[0], "finished": row[1], **summary}
