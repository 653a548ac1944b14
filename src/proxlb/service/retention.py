"""How long the state store keeps what it remembers, and how large it may grow.

Role: the daemon calls `enforce_retention` after each cycle that bound the store to a cluster.
At most once an hour it forgets the bound cluster's rows older than the retention (migrations,
runs, CPU samples, planned moves); when the database file is larger than `STATE_DB_MAX_BYTES`
it forgets everything older than what planning still reads (the size cap). Invariants: rows that
cooldowns, the return window or CPU smoothing read are never pruned; the store's methods do the
SQL; the clock is the caller's.
"""

from __future__ import annotations

import logging

from proxlb.config.model import ProxlbConfig
from proxlb.service.state import StateStore

log = logging.getLogger(__name__)

HISTORY_KEEP_SECONDS = 30 * 86400.0  # docs/operations.md "State": 30 days of history
STATE_DB_MAX_BYTES = 64 * 1024 * 1024
PRUNE_EVERY_SECONDS = 3600.0
CPU_SAMPLES_SECONDS = 6 * 3600.0  # pipeline.CPU_HISTORY_MAX_AGE_SECONDS


def needed_seconds(config: ProxlbConfig) -> float:
    """The span planning reads back: cooldowns, the return window (in runs), CPU smoothing."""
    bal = config.balancing
    schedule = float(config.service.schedule.seconds)
    return max(
        2 * bal.cooldown_minutes * 60.0, (bal.return_window_cycles + 2) * schedule, CPU_SAMPLES_SECONDS
    )


class Retention:
    """Per daemon: when the store was last pruned."""

    def __init__(
        self, max_bytes: int = STATE_DB_MAX_BYTES, keep_seconds: float = HISTORY_KEEP_SECONDS
    ) -> None:
        self.max_bytes = max_bytes
        self.keep_seconds = keep_seconds
        self._last: float | None = None

    def enforce(self, store: StateStore, config: ProxlbConfig, now: float) -> None:
        """Prune the bound cluster's old rows (hourly), and down to what planning needs when over the cap."""
        if self._last is not None and now - self._last < PRUNE_EVERY_SECONDS:
            return
        self._last = now
        needed = needed_seconds(config)
        store.prune(before=now - max(self.keep_seconds, needed))
        size = store.size_bytes()
        if size > self.max_bytes:
            store.prune(before=now - needed)
            log.warning(
                "state database %s is %d MiB, over its cap of %d MiB: history older than %.0f h "
                "was forgotten early (cooldowns and the return window are kept)",
                store.location,
                size // (1024 * 1024),
                self.max_bytes // (1024 * 1024),
                needed / 3600,
            )
