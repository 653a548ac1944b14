"""The fallback for migration rows the state database could not take (a full disk, an I/O error).

Role: when SQLite refuses a write, the rows are kept in memory (so this process still honours
their cooldowns), appended as JSON lines to `<state_dir>/proxlb-journal.jsonl` (so a restart
does too), and — if even that fails — logged at WARNING with every field, the last durable place.
The store replays the journal into the database at the next write that succeeds, then removes it.
Invariants: append-only; one line per row; never a secret (rows hold vmids, names, nodes, times).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path

from proxlb.service.ownership import adopt_directory_owner

log = logging.getLogger(__name__)

JOURNAL_NAME = "proxlb-journal.jsonl"
Row = tuple[object, ...]


def what_failed(location: str, exc: BaseException) -> str:
    """'the file system of /var/lib/proxlb is full (0 bytes free)' or the error text with the file."""
    text = str(exc)
    full = "full" in text.lower() or getattr(exc, "errno", None) == errno.ENOSPC
    directory = os.path.dirname(location) or "."
    if full:
        try:
            free = shutil.disk_usage(directory).free
        except OSError:
            return f"the file system of {directory} is full"
        return f"the file system of {directory} is full ({free} bytes free)"
    return f"{location}: {text}"


class Journal:
    """Rows waiting for the database: in memory, in the journal file, or at least in the log."""

    def __init__(self, location: str) -> None:
        self.path = None if location == ":memory:" else Path(location).parent / JOURNAL_NAME
        self.pending: list[Row] = []

    def keep(self, rows: list[Row]) -> None:
        self.pending.extend(rows)
        try:
            if self.path is None:
                raise OSError("no state directory")
            with self.path.open("a", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(list(row)) + "\n")
                f.flush()
                os.fsync(f.fileno())
            adopt_directory_owner(self.path.parent, JOURNAL_NAME)  # a root run leaves it usable
        except OSError as exc:
            for row in rows:
                log.warning("state journal unavailable (%s); migration record kept in memory: %s", exc, row)

    def saved(self) -> list[Row]:
        """Rows from a journal left by an earlier process, plus this process's pending ones."""
        rows: list[Row] = []
        if self.path is not None and self.path.exists():
            try:
                for line in self.path.read_text(encoding="utf-8").splitlines():
                    try:
                        value = json.loads(line)
                    except ValueError:
                        continue  # a line torn by a crash
                    if isinstance(value, list):
                        rows.append(tuple(value))
            except OSError as exc:
                log.warning("cannot read %s: %s", self.path, exc)
        for row in self.pending:
            if row not in rows:
                rows.append(row)
        return rows

    def written(self) -> None:
        """Everything saved is in the database now."""
        self.pending.clear()
        if self.path is not None:
            try:
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot remove %s: %s", self.path, exc)
