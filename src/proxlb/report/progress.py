"""Live view of an apply: one row per planned migration and an overall bar with ETA. Pure.

Role: `ProgressBoard` folds the executor's `MigrationEvent`s (plus the bytes read from PVE task
logs) into rows; `render` draws them with rich for a terminal, `heartbeat` says the same in one log
line for journald and pipes. Invariants: no I/O, no clock — every time comes from the caller; rows
stay in plan order; a row's state only moves forward (queued → running → an outcome).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from proxlb.api.tasklog import TaskProgress
from proxlb.domain import GIB, GuestKind, Migration
from proxlb.execute.progress import MigrationEvent, MigrationPhase

QUEUED = "queued"
RUNNING = "running"
_STYLE = {"done": "green", "failed": "red", "timeout": "red", "skipped": "yellow", "cancelled": "yellow"}


@dataclass
class Row:
    migration: Migration
    state: str = QUEUED
    started_at: float | None = None
    ended_at: float | None = None
    transferred: int = 0
    total: int = 0
    rate: float | None = None
    detail: str = ""

    @property
    def finished(self) -> bool:
        return self.state not in (QUEUED, RUNNING)

    def to_copy(self) -> int:
        """Bytes this move copies: what the task log says, else the planner's estimate."""
        return max(self.total, self.migration.bytes_to_copy)


def duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _gib(n: float) -> str:
    return f"{n / GIB:.1f}"


class ProgressBoard:
    """The state of one execution as the administrator sees it."""

    def __init__(self, moves: Sequence[Migration]) -> None:
        self.rows = [Row(m) for m in moves]
        self.started_at: float | None = None

    def apply(self, event: MigrationEvent, progress: TaskProgress | None = None) -> Row:
        row = self.rows[event.index]
        if self.started_at is None:
            self.started_at = event.at
        if event.phase is MigrationPhase.FINISHED:
            row.state = event.outcome or "done"
            row.ended_at = event.at
            row.detail = event.detail
            if row.started_at is None and event.seconds:
                row.started_at = event.at - event.seconds
            if row.state == "done":
                row.transferred = row.to_copy()
        elif not row.finished:
            row.state = RUNNING
            if row.started_at is None:
                row.started_at = event.at
            if event.detail:
                row.detail = event.detail
        if progress is not None and not row.finished:
            row.transferred = max(row.transferred, progress.transferred)
            row.total = max(row.total, progress.total)
            row.rate = progress.rate or row.rate
        return row

    # -- figures -------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.state] = out.get(row.state, 0) + 1
        return out

    def fraction(self) -> float:
        """Share of the whole apply that is behind us: bytes where known, finished moves count whole."""
        total = sum(max(1, r.to_copy()) for r in self.rows)
        done = sum(max(1, r.to_copy()) if r.finished else min(r.transferred, r.to_copy()) for r in self.rows)
        return done / total if total else 1.0

    def eta(self, now: float) -> float | None:
        """Seconds left, extrapolated from the progress so far (None until there is some)."""
        if self.started_at is None:
            return None
        fraction = self.fraction()
        elapsed = now - self.started_at
        if fraction <= 0.01 or elapsed <= 0:
            return None
        return elapsed * (1 - fraction) / fraction

    def finished(self) -> bool:
        return all(r.finished for r in self.rows)

    # -- text ----------------------------------------------------------------------------------
    def _copy_text(self, row: Row, now: float) -> str:
        if row.state == QUEUED:
            return f"{_gib(row.to_copy())} GiB"
        if row.finished:
            return f"{_gib(row.transferred)} of {_gib(row.to_copy())} GiB" if row.state == "done" else "-"
        if row.transferred or row.total:
            rate = f" at {row.rate / 2**20:.0f} MiB/s" if row.rate else ""
            return f"{_gib(row.transferred)} of {_gib(row.to_copy())} GiB{rate}"
        return f"? of {_gib(row.to_copy())} GiB"

    def heartbeat(self, now: float) -> str:
        """One log line: counts, each running move's bytes and time, overall percent and ETA."""
        counts = self.counts()
        finished = sum(n for s, n in counts.items() if s not in (QUEUED, RUNNING))
        states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        text = f"progress: {finished}/{len(self.rows)} finished ({states})"
        running = [r for r in self.rows if r.state == RUNNING]
        if running:
            text += "; running: " + "; ".join(
                f"{r.migration.vmid} {r.migration.source}→{r.migration.target} "
                f"{self._copy_text(r, now)}, {duration(now - (r.started_at or now))}"
                for r in running
            )
        eta = self.eta(now)
        return text + f"; {self.fraction() * 100:.0f}% overall" + (f", ETA {duration(eta)}" if eta else "")

    def render(self, now: float) -> RenderableType:
        table = Table(title="Migrations", title_justify="left", expand=False)
        for col in ("step", "guest", "from → to", "state", "copied", "time"):
            table.add_column(col, justify="right" if col in ("step", "time") else "left")
        for row in self.rows:
            m = row.migration
            kind = "VM" if m.kind is GuestKind.QEMU else "CT"
            elapsed = "" if row.started_at is None else duration((row.ended_at or now) - row.started_at)
            state = Text(row.state, style=_STYLE.get(row.state, "cyan" if row.state == RUNNING else "dim"))
            table.add_row(
                str(m.step + 1),
                f"{kind} {m.vmid} {m.name}",
                f"{m.source} → {m.target}",
                state,
                self._copy_text(row, now),
                elapsed,
            )
        counts = self.counts()
        finished = sum(n for s, n in counts.items() if s not in (QUEUED, RUNNING))
        eta = self.eta(now)
        started = self.started_at if self.started_at is not None else now
        bar_line = Table.grid(padding=(0, 1))
        bar_line.add_row(
            Text("overall"),
            ProgressBar(total=1000, completed=int(self.fraction() * 1000), width=40),
            Text(
                f"{self.fraction() * 100:3.0f}%  {finished}/{len(self.rows)} finished  "
                f"elapsed {duration(now - started)}  ETA {duration(eta) if eta is not None else '?'}"
            ),
        )
        return Group(table, bar_line)
