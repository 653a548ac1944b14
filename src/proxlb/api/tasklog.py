"""How far a running migration is, read from its PVE task log's progress lines.

Role: qemu-server logs `drive-scsi0: transferred 1.0 GiB of 32.0 GiB (3.12%) in 5s` while it copies a
local disk and `migration active, transferred 1.1 GiB of 8.0 GiB VM-state, 1.0 GiB/s` while it copies
memory (pve-api.md §6.2); `TaskLogFollower` reads only the lines it has not seen yet
(`GET /nodes/{node}/tasks/{upid}/log?start=N`) and adds the latest figure of every disk and of memory.
Invariants: parsing never raises; a log without progress lines yields zero transferred, zero total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4, "PiB": 1024**5}
_SIZE = r"([\d.]+)\s*(B|KiB|MiB|GiB|TiB|PiB)"
_MEMORY = re.compile(rf"migration active, transferred {_SIZE} of {_SIZE} VM-state(?:, {_SIZE}/s)?")
_DISK = re.compile(rf"(\S+): transferred {_SIZE} of {_SIZE} \(")
_PAGE = 500


class LogReader(Protocol):
    def get(self, path: str, **params: str | int) -> Any: ...


def to_bytes(number: str, unit: str) -> int:
    try:
        return int(float(number) * _UNITS[unit])
    except (KeyError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class TaskProgress:
    """Bytes copied so far and bytes to copy as the log states them; rate of the memory copy (B/s)."""

    transferred: int = 0
    total: int = 0
    rate: float | None = None


@dataclass
class _Seen:
    offset: int = 0
    disks: dict[str, tuple[int, int]] = field(default_factory=dict)
    memory: tuple[int, int] | None = None
    rate: float | None = None

    def feed(self, text: str) -> None:
        mem = _MEMORY.search(text)
        if mem:
            self.memory = (to_bytes(*mem.group(1, 2)), to_bytes(*mem.group(3, 4)))
            if mem.group(5):
                self.rate = float(to_bytes(*mem.group(5, 6)))
            return
        disk = _DISK.search(text)
        if disk:
            self.disks[disk.group(1)] = (to_bytes(*disk.group(2, 3)), to_bytes(*disk.group(4, 5)))

    def progress(self) -> TaskProgress:
        parts = [*self.disks.values(), *([self.memory] if self.memory else [])]
        return TaskProgress(
            transferred=sum(min(done, total) for done, total in parts),
            total=sum(total for _, total in parts),
            rate=self.rate,
        )


def parse_log(lines: list[str]) -> TaskProgress:
    """The progress stated by a whole task log (the latest line per disk, and for memory)."""
    seen = _Seen()
    for line in lines:
        seen.feed(line)
    return seen.progress()


class TaskLogFollower:
    """Reads each task's log incrementally; one instance per execution."""

    def __init__(self, client: LogReader) -> None:
        self.client = client
        self._seen: dict[str, _Seen] = {}

    def progress(self, node: str, upid: str) -> TaskProgress:
        """New lines since the last call are read and parsed; raises the client's ApiError."""
        seen = self._seen.setdefault(upid, _Seen())
        for _ in range(20):  # a long-unread log arrives in pages
            data = self.client.get(f"/nodes/{node}/tasks/{upid}/log", start=seen.offset, limit=_PAGE)
            rows = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
            numbered = [(int(r.get("n", 0) or 0), str(r.get("t", ""))) for r in rows]
            if not numbered or (len(numbered) == 1 and numbered[0][1] == "no content"):
                break
            for n, text in numbered:
                seen.feed(text)
                seen.offset = max(seen.offset, n)
            if len(numbered) < _PAGE:
                break
        return seen.progress()
