"""Virtual clock of the simulator: sim seconds advance `time_scale` times faster than real seconds.

Invariants: `now()` never goes backwards; `advance()` adds a fixed offset; `time_scale` 0 freezes the
clock so that only `advance()` moves it (deterministic tests). Thread-safe.
"""

from __future__ import annotations

import threading
import time


class VirtualClock:
    """Epoch seconds in simulated time."""

    def __init__(self, time_scale: float = 1.0, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._scale = float(time_scale)
        self._start = float(start if start is not None else int(time.time()))
        self._real0 = time.monotonic()
        self._offset = 0.0
        self._last = self._start

    @property
    def time_scale(self) -> float:
        return self._scale

    @property
    def start(self) -> float:
        """Virtual epoch at which the simulator started."""
        return self._start

    def now(self) -> float:
        """Current virtual epoch time (float seconds)."""
        with self._lock:
            value = self._start + (time.monotonic() - self._real0) * self._scale + self._offset
            self._last = max(self._last, value)
            return self._last

    def elapsed(self) -> float:
        """Virtual seconds since the start."""
        return self.now() - self._start

    def advance(self, seconds: float) -> float:
        """Jump forward by `seconds` of virtual time; returns the new time."""
        if seconds < 0:
            raise ValueError("the virtual clock cannot go backwards")
        with self._lock:
            self._offset += seconds
        return self.now()

    def set_time_scale(self, time_scale: float) -> None:
        """Change the speed from now on without a jump."""
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        with self._lock:
            real = time.monotonic()
            current = self._start + (real - self._real0) * self._scale + self._offset
            self._real0 = real
            self._offset = current - self._start
            self._scale = float(time_scale)

    def real_seconds(self, virtual_seconds: float) -> float:
        """How long `virtual_seconds` take in real time (inf when frozen)."""
        return virtual_seconds / self._scale if self._scale > 0 else float("inf")
