"""Request log of the simulator: every API request with method, path, params (secrets masked), status,
virtual and real time. Readable through `/_sim/requests` so tests can prove e.g. that a dry run made
no write. Bounded (oldest entries dropped, indexes keep counting). Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

SECRET_KEYS = frozenset({"password", "new-password", "secret", "token", "ticket"})
MAX_ENTRIES = 100_000


def mask(params: dict[str, Any]) -> dict[str, Any]:
    """A copy with secret-bearing values replaced by '***'."""
    return {k: ("***" if k.lower() in SECRET_KEYS else v) for k, v in params.items()}


class RequestLog:
    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._next = 0

    def add(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        status: int,
        virtual_time: float,
        user: str | None,
        duration_s: float,
    ) -> None:
        with self._lock:
            self._entries.append(
                {
                    "index": self._next,
                    "method": method,
                    "path": path,
                    "params": mask(params),
                    "status": status,
                    "virtual_time": round(virtual_time, 3),
                    "real_time": round(time.time(), 3),
                    "duration_ms": round(duration_s * 1000, 3),
                    "user": user,
                }
            )
            self._next += 1

    def since(self, index: int = 0) -> list[dict[str, Any]]:
        """Entries with `index >= index`, oldest first."""
        with self._lock:
            return [dict(e) for e in self._entries if e["index"] >= index]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def next_index(self) -> int:
        return self._next
