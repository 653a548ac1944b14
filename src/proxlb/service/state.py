"""Persistent service state in SQLite: migration history, cooldowns, smoothed guest CPU, last run,
last cycle's planned moves.

Role: the memory that survives restarts — above all the cross-run guard against ping-pong (a guest
moved recently is not moved again for balancing). Invariants: schema versioned in `meta`; WAL
journal; every write is one transaction; times are epoch seconds supplied by the caller (no clock
is read here). An unwritable state dir raises `StateError` unless the caller asked for the
documented in-memory fallback (one-shot runs), which logs a WARNING. A write that fails later
(a full disk, an I/O error) never raises: it is logged naming what is full; migration rows go to
the fallback journal (service/journal.py), count for cooldowns from memory, and are replayed at
the next write that succeeds.

Scoped per cluster: every row carries the identity of the cluster it belongs to
(`ClusterSnapshot.identity`: the PVE cluster name, or the node set of a standalone node), and
every read and write goes through the identity the store is bound to (`bind`) — one state_dir can
serve several clusters (a real one and `proxlb-sim` rehearsals) whose VMIDs overlap, and none sees
another's cooldowns or CPU samples. Reading or writing before `bind` raises `StateError`.
Schema 1 databases (unscoped) are migrated in place: their rows are adopted by the first cluster
that binds after the upgrade (the common case: one cluster per state_dir); the schema, its
upgrade and the store's errors are in service/state_schema.py.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxlb.domain import VmId
from proxlb.execute.model import MigrationOutcome, Outcome
from proxlb.service.journal import Journal, Row, what_failed
from proxlb.service.ownership import adopt_directory_owner, ownership_fix
from proxlb.service.state_schema import (
    LEGACY,
    SCHEMA_VERSION,
    SCOPED_TABLES,
    StateError,
    StateFullError,
    is_full,
    migrate,
)

__all__ = ["DB_NAME", "SCHEMA_VERSION", "HistoryEntry", "StateError", "StateFullError", "StateStore"]

log = logging.getLogger(__name__)

DB_NAME = "proxlb.sqlite3"
RUNNING = "running"  # outcome of a row written when PVE accepted the move, until it is settled
INSERT_MIGRATION = (
    "INSERT INTO migrations (cluster, vmid, name, kind, source, target, reason, started,"
    " finished, outcome, detail, upid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)


_WRITE_ERRORS = (OSError, sqlite3.OperationalError, sqlite3.DatabaseError)


class _Discard:
    """Stands in for the connection while the database cannot be written: statements go nowhere."""

    lastrowid = None

    def execute(self, *args: object) -> _Discard:
        return self

    def executemany(self, *args: object) -> _Discard:
        return self


def _done(row: Row, since: float) -> bool:
    """A kept-aside migration row (INSERT_MIGRATION order) that succeeded at or after `since`."""
    return row[9] == Outcome.DONE.value and float(str(row[8])) >= since


def _set_aside(path: Path) -> Path:
    """Rename a corrupt database (and its -wal/-shm) out of the way; returns the new name."""
    aside = path.with_name(f"{path.name}.corrupt-{int(os.stat(path).st_mtime)}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(path) + suffix)
        if source.exists():
            source.replace(Path(str(aside) + suffix))
    return aside


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
    """One SQLite database under the state directory (or in memory, see `open`), bound to one
    cluster at a time (`bind`)."""

    def __init__(self, conn: sqlite3.Connection, location: str, cluster: str | None = None) -> None:
        self._conn = conn
        self.location = location
        self._cluster: str | None = None
        self._held: list[Callable[[], None]] = []
        self._journal = Journal(location)
        self.write_failures = 0  # writes that failed since the store was opened
        self.on_bind: Callable[[str], None] | None = None
        migrate(conn, location)
        if cluster is not None:
            self.bind(cluster)

    @classmethod
    def open(
        cls,
        state_dir: str | Path,
        *,
        memory_fallback: bool = False,
        cluster: str | None = None,
        _rebuilt: bool = False,
    ) -> StateStore:
        """Open (creating) `<state_dir>/proxlb.sqlite3`, bound to `cluster` when given.

        memory_fallback: when the directory is unusable, keep state in memory for this process
        only (cooldowns then do not survive a restart) and log a WARNING instead of raising.
        A corrupt database file is moved aside (`proxlb.sqlite3.corrupt-<epoch>`) and rebuilt
        empty, with a WARNING — as docs/operations.md says, the file may be deleted at any time.
        """
        directory = Path(state_dir)
        try:
            return cls._open(directory, cluster)
        except (sqlite3.DatabaseError, StateError) as exc:
            if _rebuilt or not ("not a database" in str(exc) or "malformed" in str(exc)):
                if isinstance(exc, StateError) and not isinstance(exc, StateFullError):
                    raise  # e.g. a schema newer than this ProxLB: its own message says what to do
                return cls._unusable(directory, exc, memory_fallback, cluster)
            aside = _set_aside(directory / DB_NAME)
            log.warning(
                "state database %s is corrupt (%s); moved aside to %s and started afresh "
                "(history and cooldowns of earlier runs are not seen)",
                directory / DB_NAME,
                exc,
                aside,
            )
            return cls.open(directory, memory_fallback=memory_fallback, cluster=cluster, _rebuilt=True)
        except (OSError, sqlite3.Error) as exc:
            return cls._unusable(directory, exc, memory_fallback, cluster)

    @classmethod
    def _open(cls, directory: Path, cluster: str | None) -> StateStore:
        # created here (not by systemd's StateDirectory=): only the proxlb user may look inside;
        # SQLite gives its -wal/-shm files the database file's mode, so all stay 0600
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / DB_NAME
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600))
        conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # a run as root must not leave files the service user cannot open
        adopt_directory_owner(directory, DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")
        return cls(conn, str(path), cluster)

    @classmethod
    def _unusable(
        cls, directory: Path, exc: BaseException, memory_fallback: bool, cluster: str | None
    ) -> StateStore:
        message = f"state directory {directory} is not usable: {exc}"
        if is_full(exc) and not memory_fallback:
            raise StateFullError(
                f"state directory {directory} is not usable: {what_failed(str(directory / DB_NAME), exc)}"
            ) from None
        if not memory_fallback:
            denied = isinstance(exc, PermissionError) or "readonly" in str(exc)
            fix = (
                f"fix the ownership: {ownership_fix(directory)}"
                if denied
                else "create it writable for the proxlb user, or set service.state_dir"
            )
            raise StateError(f"{message} ({fix})") from None
        log.warning("%s; keeping state in memory for this run only (no cooldown across runs)", message)
        return cls.in_memory(cluster)

    @classmethod
    def in_memory(cls, cluster: str | None = None) -> StateStore:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        return cls(conn, ":memory:", cluster)

    def close(self) -> None:
        self._conn.close()
        for release in self._held:
            release()
        self._held.clear()

    def hold(self, release: Callable[[], None]) -> None:
        """Call `release` when the store is closed (the daemon's instance lock lives as long as it)."""
        self._held.append(release)

    @contextmanager
    def _writing(self, what: str) -> Iterator[Any]:
        """One write transaction; a failure (disk full, I/O error) is logged, never raised.

        Migration rows the journal holds are replayed first, in their own transaction."""
        saved = self._journal.saved()
        if saved:
            try:
                with self._conn:
                    self._conn.execute("BEGIN")
                    self._conn.executemany(INSERT_MIGRATION, saved)
                self._journal.written()
                log.info("state: %d migration record(s) kept aside are stored now", len(saved))
            except _WRITE_ERRORS:
                pass  # still failing: the write below reports it
        try:
            self._conn.execute("BEGIN")
        except _WRITE_ERRORS as exc:
            self._failed(what, exc)
            yield _Discard()
            return
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except _WRITE_ERRORS as exc:
            self._rollback()
            self._failed(what, exc)
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        with suppress(sqlite3.Error):  # nothing was open
            self._conn.execute("ROLLBACK")

    def _failed(self, what: str, exc: BaseException) -> None:
        self.write_failures += 1
        log.warning("state: could not store %s: %s", what, what_failed(self.location, exc))

    def _kept_aside(self) -> list[Row]:
        """Migration rows of the bound cluster waiting in the journal (they count for cooldowns)."""
        return [r for r in self._journal.pending if r[0] == self._cluster]

    @property
    def schema_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    # -- cluster scope -------------------------------------------------------------------------
    def bind(self, cluster: str) -> None:
        """Scope every later read and write to `cluster` (see `ClusterSnapshot.identity`).

        The first bind after a schema 1 → 2 upgrade adopts the unscoped rows for this cluster.
        """
        if not cluster:
            raise StateError("a cluster identity is required to scope the state store")
        if self.on_bind is not None and cluster != self._cluster:
            self.on_bind(cluster)  # an acting instance takes the cluster's host-wide lock here
        self._cluster = cluster
        row = self._conn.execute("SELECT value FROM meta WHERE key='legacy_rows'").fetchone()
        if row is None:
            return
        with self._conn:
            self._conn.execute("BEGIN")
            for table in SCOPED_TABLES:
                self._conn.execute(f"UPDATE {table} SET cluster=? WHERE cluster=?", (cluster, LEGACY))
            self._conn.execute("DELETE FROM meta WHERE key='legacy_rows'")
        log.info("state rows written before per-cluster scoping now belong to cluster %s", cluster)

    @property
    def cluster(self) -> str:
        """The bound cluster identity; raises `StateError` when unbound."""
        if self._cluster is None:
            raise StateError("the state store is not bound to a cluster yet (call bind first)")
        return self._cluster

    # -- migrations ----------------------------------------------------------------------------
    def record_migrations(self, outcomes: Iterable[MigrationOutcome], finished: float) -> int:
        """Store every outcome except dry-run skips; returns how many rows were written."""
        rows = [
            self._migration_row(
                o,
                o.started_at,
                finished if o.started_at is None else o.started_at + o.seconds,
                o.outcome.value,
                o.detail,
            )
            for o in outcomes
            if not o.dry_run
        ]
        if not rows:
            return 0
        failures = self.write_failures
        with self._writing("the outcome of migrations") as conn:
            conn.executemany(INSERT_MIGRATION, rows)
        if self.write_failures != failures:
            self._journal.keep(rows)
        return len(rows)

    def _migration_row(
        self, o: MigrationOutcome, started: float | None, finished: float, outcome: str, detail: str
    ) -> tuple[object, ...]:
        """The values of one `migrations` row, in INSERT_MIGRATION's column order."""
        return (
            self.cluster, int(o.vmid), o.name, o.kind.value, o.source, o.target, o.reason,
            started, finished, outcome, detail, o.upid,
        )  # fmt: skip

    def migration_started(self, o: MigrationOutcome) -> int:
        """Write a row for a migration PVE just accepted (outcome 'running'); returns its id.

        Written before the move ends, so a kill -9, OOM or stop timeout cannot lose it: the next
        start settles it from the guest's real location (`settle_migration`).
        """
        started = o.started_at or 0.0
        row_id = 0
        with self._writing(f"the start of the migration of {o.vmid}") as conn:
            cur = conn.execute(INSERT_MIGRATION, self._migration_row(o, started, started, RUNNING, ""))
            row_id = int(cur.lastrowid or 0)
        return row_id  # 0: not stored; the caller stores the final outcome as a whole row

    def settle_migration(self, row_id: int, outcome: str, detail: str, finished: float) -> None:
        """Give a 'running' or 'timeout' row its final outcome (one transaction; on failure the row
        stays unsettled and the next cycle's reconcile decides it from PVE)."""
        with self._writing(f"the outcome of migration row {row_id}") as conn:
            conn.execute(
                "UPDATE migrations SET outcome=?, detail=?, finished=? WHERE id=? AND cluster=?",
                (outcome, detail, finished, row_id, self.cluster),
            )

    def unsettled_migrations(self) -> list[tuple[int, HistoryEntry]]:
        """(row id, entry) of this cluster's moves whose end was never seen: 'running' or 'timeout'."""
        cur = self._conn.execute(
            "SELECT id, vmid, name, kind, source, target, reason, started, finished, outcome, detail, upid"
            " FROM migrations WHERE cluster=? AND outcome IN (?, ?) ORDER BY id",
            (self.cluster, RUNNING, Outcome.TIMEOUT.value),
        )
        return [
            (
                int(r[0]),
                HistoryEntry(
                    VmId(int(r[1])), r[2], r[3], r[4], r[5], r[6], r[7], float(r[8]), r[9], r[10], r[11]
                ),
            )
            for r in cur.fetchall()
        ]

    def recent_departures(self, since: float) -> dict[VmId, frozenset[str]]:
        """vmid → source nodes of its successful balancing moves finished at or after `since`."""
        cur = self._conn.execute(
            "SELECT vmid, source FROM migrations WHERE cluster=? AND outcome=? AND reason=? AND finished>=?",
            (self.cluster, Outcome.DONE.value, "balance", since),
        )
        aside = [(r[1], r[4]) for r in self._kept_aside() if _done(r, since) and r[6] == "balance"]
        out: dict[VmId, set[str]] = {}
        for vmid, source in cur.fetchall() + aside:
            out.setdefault(VmId(int(str(vmid))), set()).add(str(source))
        return {vmid: frozenset(nodes) for vmid, nodes in out.items()}

    def run_started(self, back: int) -> float | None:
        """Start time of this cluster's `back`-th most recent recorded run (1 = the last); None if fewer."""
        row = self._conn.execute(
            "SELECT started FROM runs WHERE cluster=? ORDER BY id DESC LIMIT 1 OFFSET ?",
            (self.cluster, max(0, back - 1)),
        ).fetchone()
        return None if row is None else float(row[0])

    def recent_moves(self, since: float) -> dict[VmId, float]:
        """vmid → finish time of its latest successful move finished at or after `since`."""
        cur = self._conn.execute(
            "SELECT vmid, MAX(finished) FROM migrations WHERE cluster=? AND outcome=? AND finished>=?"
            " GROUP BY vmid",
            (self.cluster, Outcome.DONE.value, since),
        )
        moves = {VmId(int(vmid)): float(when) for vmid, when in cur.fetchall()}
        for r in self._kept_aside():
            if _done(r, since):
                vmid, when = VmId(int(str(r[1]))), float(str(r[8]))
                moves[vmid] = max(moves.get(vmid, when), when)
        return moves

    def last_move_finished(self, reason: str = "balance") -> float | None:
        """Finish time of this cluster's latest successful migration for `reason` (PSI window)."""
        row = self._conn.execute(
            "SELECT MAX(finished) FROM migrations WHERE cluster=? AND outcome=? AND reason=?",
            (self.cluster, Outcome.DONE.value, reason),
        ).fetchone()
        times = [float(str(r[8])) for r in self._kept_aside() if _done(r, 0.0) and r[6] == reason]
        if row is not None and row[0] is not None:
            times.append(float(row[0]))
        return max(times) if times else None

    def history(self, limit: int = 100) -> list[HistoryEntry]:
        cur = self._conn.execute(
            "SELECT vmid, name, kind, source, target, reason, started, finished, outcome, detail, upid"
            " FROM migrations WHERE cluster=? ORDER BY finished DESC, id DESC LIMIT ?",
            (self.cluster, limit),
        )
        return [
            HistoryEntry(VmId(int(r[0])), r[1], r[2], r[3], r[4], r[5], r[6], float(r[7]), r[8], r[9], r[10])
            for r in cur.fetchall()
        ]

    def prune(self, before: float) -> None:
        """Forget this cluster's migrations, CPU samples, runs and planned moves older than `before`."""
        cluster = self.cluster
        with self._writing("the pruning of old rows") as conn:
            conn.execute("DELETE FROM migrations WHERE cluster=? AND finished < ?", (cluster, before))
            conn.execute("DELETE FROM cpu_samples WHERE cluster=? AND updated < ?", (cluster, before))
            conn.execute("DELETE FROM runs WHERE cluster=? AND finished < ?", (cluster, before))
            conn.execute("DELETE FROM planned_moves WHERE cluster=? AND planned < ?", (cluster, before))

    def size_bytes(self) -> int:
        """Bytes the database occupies (pages in use and free), WAL excluded."""
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        return int(pages) * int(self._conn.execute("PRAGMA page_size").fetchone()[0])

    # -- cpu smoothing -------------------------------------------------------------------------
    def cpu_history(self, since: float | None = None) -> dict[VmId, float]:
        """Last smoothed CPU (milli-cores) per guest, optionally only samples newer than `since`."""
        cur = self._conn.execute(
            "SELECT vmid, cpu_milli FROM cpu_samples WHERE cluster=? AND updated >= ?",
            (self.cluster, since if since is not None else 0),
        )
        return {VmId(int(vmid)): float(cpu) for vmid, cpu in cur.fetchall()}

    def record_cpu(self, samples: Mapping[VmId, float], now: float) -> None:
        """Replace the stored smoothed CPU of these guests (the collector already applied the EWMA)."""
        cluster = self.cluster
        with self._writing("CPU samples") as conn:
            conn.executemany(
                "INSERT INTO cpu_samples (cluster, vmid, cpu_milli, updated) VALUES (?,?,?,?)"
                " ON CONFLICT(cluster, vmid) DO UPDATE SET cpu_milli=excluded.cpu_milli,"
                " updated=excluded.updated",
                [(cluster, int(v), float(c), now) for v, c in samples.items()],
            )

    # -- planned moves (plan stability) --------------------------------------------------------
    def planned_moves(self) -> dict[VmId, str]:
        """vmid → target of the moves the last plan of this cluster chose (executed or not)."""
        cur = self._conn.execute(
            "SELECT vmid, target FROM planned_moves WHERE cluster=? ORDER BY rowid", (self.cluster,)
        )
        return {VmId(int(vmid)): str(target) for vmid, target in cur.fetchall()}

    def record_planned_moves(self, moves: Mapping[VmId, str], now: float) -> None:
        """Replace this cluster's remembered plan by `moves` (vmid → target)."""
        cluster = self.cluster
        with self._writing("the planned moves") as conn:
            conn.execute("DELETE FROM planned_moves WHERE cluster=?", (cluster,))
            conn.executemany(
                "INSERT INTO planned_moves (cluster, vmid, target, planned) VALUES (?,?,?,?)",
                [(cluster, int(v), t, now) for v, t in moves.items()],  # plan order
            )

    # -- runs ----------------------------------------------------------------------------------
    def record_run(self, summary: Mapping[str, Any], started: float, finished: float) -> None:
        cluster = self.cluster
        with self._writing("the run summary") as conn:
            conn.execute(
                "INSERT INTO runs (cluster, started, finished, summary) VALUES (?,?,?,?)",
                (cluster, started, finished, json.dumps(dict(summary), sort_keys=True, default=str)),
            )

    def last_run(self) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT started, finished, summary FROM runs WHERE cluster=? ORDER BY id DESC LIMIT 1",
            (self.cluster,),
        ).fetchone()
        if row is None:
            return None
        summary: dict[str, Any] = json.loads(row[2])
        return {"started": row[0], "finished": row[1], **summary}
