"""The CLI's view of an apply while it runs (part of the CLI edge: it writes to the terminal).

On a terminal: a rich live table, one row per migration (state, GiB copied of the total, read from
the PVE task log's progress lines) and an overall bar with ETA; log lines keep printing above it.
Without a terminal (journald, pipes): the executor's own start / finish / failure / skip lines, plus
a `progress:` heartbeat so that an apply is never silent for more than `QUIET_LIMIT_S` at INFO.
Invariants: nothing here can stop or slow a migration (the executor swallows observer errors; task
logs are read only when the executor polls anyway); with --json or --quiet nothing reaches stdout.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.live import Live

from proxlb.api.tasklog import TaskLogFollower, TaskProgress
from proxlb.domain import Migration
from proxlb.errors import ProxlbError
from proxlb.execute.progress import MigrationEvent, MigrationPhase
from proxlb.report.progress import ProgressBoard

log = logging.getLogger("proxlb.progress")

QUIET_LIMIT_S = 15.0
HEARTBEAT_AFTER_S = 10.0  # a heartbeat when nothing was said for this long …
HEARTBEAT_CHECK_S = 4.0  # … checked this often, so the longest silence is < QUIET_LIMIT_S


class LiveProgress:
    """Observer of one execution: feeds a `ProgressBoard` and shows it (live or as log lines)."""

    def __init__(
        self,
        client: Any,
        console: Console | None,
        now: Callable[[], float] = time.time,
        heartbeat: bool = True,
        quiet_after_s: float = HEARTBEAT_AFTER_S,
        check_every_s: float = HEARTBEAT_CHECK_S,
    ) -> None:
        self.follower = TaskLogFollower(client)
        self.console = console  # None: not a terminal (or --json/--quiet): no live display
        self.now = now
        self.heartbeat = heartbeat and console is None
        self.quiet_after_s = quiet_after_s
        self.check_every_s = check_every_s
        self.board: ProgressBoard | None = None
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_said = now()
        self._streams: list[tuple[logging.StreamHandler[Any], Any]] = []

    def begin(self, moves: Sequence[Migration]) -> None:
        with self._lock:
            self.board = ProgressBoard(moves)

    def __call__(self, event: MigrationEvent) -> None:
        if self.board is None:
            return
        progress = self._read(event)
        with self._lock:
            self.board.apply(event, progress)
            if event.phase is not MigrationPhase.RUNNING:
                self._last_said = self.now()  # the executor logged a start or an end line
            done = self.board.finished()
        if done:
            self.close()
        elif self.console is not None and self._live is None:
            self._start_live()
        elif self.heartbeat and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="proxlb-progress", daemon=True)
            self._thread.start()

    def _read(self, event: MigrationEvent) -> TaskProgress | None:
        if event.phase is MigrationPhase.FINISHED or not event.upid or not event.task_node:
            return None
        try:
            return self.follower.progress(event.task_node, event.upid)
        except ProxlbError as exc:
            log.debug("task log of %s unavailable: %s", event.upid, exc)
            return None

    def _render(self) -> Any:
        with self._lock:
            assert self.board is not None
            return self.board.render(self.now())

    def _start_live(self) -> None:
        assert self.console is not None
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._live.start()
        # our log handler writes to the stream it was given; point it at the live display's proxy
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (
                sys.__stdout__,
                sys.__stderr__,
            ):
                proxy = sys.stdout if handler.stream is sys.__stdout__ else sys.stderr
                self._streams.append((handler, handler.setStream(proxy)))

    def _beat(self) -> None:
        while not self._stop.wait(self.check_every_s):
            with self._lock:
                if self.board is None or self.board.finished():
                    return
                now = self.now()
                if now - self._last_said < self.quiet_after_s:
                    continue
                line = self.board.heartbeat(now)
                self._last_said = now
            log.info("%s", line)

    def close(self) -> None:
        """Stop the live display or the heartbeat (idempotent; also after a failed cycle)."""
        self._stop.set()
        if self._live is not None:
            live, self._live = self._live, None
            for handler, old in self._streams:
                handler.setStream(old)
            self._streams.clear()
            live.stop()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.check_every_s + 1)
