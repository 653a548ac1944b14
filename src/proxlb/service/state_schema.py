"""The state database's schema: its tables, the schema-1 upgrade, and the store's errors.

Role: what `service/state.py` creates and checks when it opens a database. Invariants: the
version lives in `meta`; a newer schema than this ProxLB knows is refused (never downgraded); the
upgrade from schema 1 (unscoped rows) runs in one transaction and leaves the old rows to the first
cluster that binds (`LEGACY`).
"""

from __future__ import annotations

import logging
import sqlite3

from proxlb.errors import ProxlbError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
LEGACY = ""  # cluster of rows written by schema 1 (unscoped), until a cluster adopts them

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster TEXT NOT NULL,
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
CREATE INDEX IF NOT EXISTS migrations_cluster_vmid_finished ON migrations (cluster, vmid, finished);
CREATE TABLE IF NOT EXISTS cpu_samples (
    cluster TEXT NOT NULL, vmid INTEGER NOT NULL, cpu_milli REAL NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (cluster, vmid)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cluster TEXT NOT NULL,
    started REAL NOT NULL, finished REAL NOT NULL, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS planned_moves (
    cluster TEXT NOT NULL, vmid INTEGER NOT NULL, target TEXT NOT NULL, planned REAL NOT NULL,
    PRIMARY KEY (cluster, vmid)
);
"""

# Schema 1 → 2: add the cluster column (rows marked legacy until a cluster adopts them); the
# cpu_samples key changes, so that table is rebuilt.
UPGRADE_1_TO_2 = """
ALTER TABLE migrations ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
DROP INDEX IF EXISTS migrations_vmid_finished;
ALTER TABLE runs ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
ALTER TABLE cpu_samples RENAME TO cpu_samples_v1;
CREATE TABLE cpu_samples (
    cluster TEXT NOT NULL, vmid INTEGER NOT NULL, cpu_milli REAL NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (cluster, vmid)
);
INSERT INTO cpu_samples (cluster, vmid, cpu_milli, updated)
    SELECT '', vmid, cpu_milli, updated FROM cpu_samples_v1;
DROP TABLE cpu_samples_v1;
INSERT OR REPLACE INTO meta (key, value) VALUES ('legacy_rows', 'unclaimed');
"""
SCOPED_TABLES = ("migrations", "cpu_samples", "runs", "planned_moves")


class StateError(ProxlbError):
    """The state directory or database cannot be used."""


class StateFullError(StateError):
    """The state database cannot be created or opened because its file system is full."""


def is_full(exc: BaseException) -> bool:
    return "full" in str(exc).lower() or getattr(exc, "errno", None) == 28  # ENOSPC


def migrate(conn: sqlite3.Connection, location: str) -> None:
    """Create the tables, upgrading a schema-1 database in place; raises StateError (StateFullError
    when the file system is full) when the database cannot be used."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = None
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row is not None else None
        if version is not None and version > SCHEMA_VERSION:
            raise StateError(
                f"state database {location} has schema {version}, newer than this ProxLB "
                f"understands ({SCHEMA_VERSION}); upgrade ProxLB or move the file away"
            )
        with conn:
            conn.execute("BEGIN")
            if version == 1:
                for statement in UPGRADE_1_TO_2.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                log.info("state database %s upgraded to schema 2 (scoped per cluster)", location)
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
    except sqlite3.Error as exc:
        kind = StateFullError if is_full(exc) else StateError
        raise kind(f"state database {location} is not usable: {exc}") from None
