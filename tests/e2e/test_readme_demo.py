"""README drift (#20 item 9): the README's excerpt of an apply has the shape of what `make demo`
really prints — the same header, row and summary lines (numbers aside), the listed moves with the
same guest, route and reason, and a plan count equal to its applied count."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _excerpt() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("Shortened, from `make demo`")
    block = text[text.index("```\n", start) + 4 : text.index("```", text.index("```\n", start) + 4)]
    return [line.strip() for line in block.splitlines() if line.strip() and line.strip() != "…"]


def _shape(line: str) -> str:
    """Numbers aside; in a plan row the 'why' is reduced to its first word (its wording depends on
    the cycle: 'gains 36.1 pp …', 'repairs … ; as planned last cycle')."""
    if line.startswith("│"):
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 6 and "→" in cells[3]:  # a plan row
            cells[5] = cells[5].split(" ", 1)[0]
        line = " │ ".join(cells)
    return re.sub(r"\s+", " ", NUMBER.sub("N", line)).strip()


def _row(line: str) -> tuple[str, ...]:
    cells = [c.strip() for c in line.strip("│ ").split("│")]
    if len(cells) == 6 and "→" in cells[3]:  # plan row: step, vmid, name, route, reason, why
        return ("plan", cells[1], cells[2], cells[3], cells[4])
    return ("run", cells[0], cells[1], cells[2], cells[3])  # execution row: vmid, name, route, outcome


@pytest.mark.timeout(300)
def test_readme_excerpt_matches_a_real_demo_run() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    demo = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True, text=True, timeout=280, env=env, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-2000:]
    applied_part = demo.stdout[demo.stdout.index("== 2.") : demo.stdout.index("== 3.")]
    real = [line.strip() for line in applied_part.splitlines() if line.strip()]
    real_shapes = {_shape(line) for line in real}
    real_rows = {_row(line) for line in real if line.startswith("│")}
    excerpt = _excerpt()
    for line in excerpt:
        assert _shape(line) in real_shapes, f"README line has no counterpart in the demo: {line}"
        if line.startswith("│"):
            assert _row(line) in real_rows, f"the demo did not do this: {line}"

    def count(lines: list[str], pattern: str) -> int:
        return int(next(m.group(1) for m in map(re.compile(pattern).search, lines) if m))

    assert count(excerpt, r"^Plan: (\d+) migration") == count(excerpt, r"^Applied: (\d+) done")
    assert count(real, r"^Plan: (\d+) migration") == count(real, r"^Applied: (\d+) done")


def test_readme_recipe_runs_proxlb_against_proxlb_sim(tmp_path: Path) -> None:
    """The README's by-hand recipe, as written (the port replaced by a free one)."""
    text = (ROOT / "README.md").read_text()
    start = text.index("Point `proxlb` at the simulator by hand")
    begin = text.index("```sh\n", start) + 6
    block = text[begin : text.index("\n```\n", begin)]
    port = _free_port()
    script = block.replace("8106", str(port)).replace("kill %1", "kill %1; wait")
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    proc = subprocess.run(
        ["bash", "-euc", script], cwd=tmp_path, capture_output=True, text=True, timeout=200, env=env,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Plan:" in proc.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
