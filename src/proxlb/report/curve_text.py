"""The gain curve as a terminal table (`proxlb plan --curve`). Pure; returns a rich renderable."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from proxlb.planning.curve import CurvePoint, knee


def curve_table(points: Sequence[CurvePoint], max_migrations: int | None = None) -> Table:
    """k, the k-th move, spread and objective after it, cumulative GiB copied; the knee is marked."""
    best = knee(points)
    title = "Gain curve: the cluster after the first k moves"
    if len(points) > 1:
        title += f" ({best} of {len(points) - 1} moves reach 90 % of the spread reduction)"
    if max_migrations is not None:
        title += f"; max_migrations {max_migrations}"
    table = Table(title=title, title_justify="left")
    for col in ("k", "vmid", "reason", "spread pp", "objective", "GiB copied"):
        table.add_column(col, justify="left" if col == "reason" else "right")
    for p in points:
        table.add_row(
            str(p.k) + (" *" if p.k == best and len(points) > 1 else ""),
            str(p.vmid) if p.vmid is not None else "-",
            p.reason or "start",
            f"{p.spread:.2f}",
            f"{p.objective:.1f}",
            f"{p.gib_copied:.1f}",
        )
    return table
