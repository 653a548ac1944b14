"""The HTML report in a real headless Chromium: it draws (not blank), logs no console message, and
shows the node table and both kinds of chart. Skipped with a clear message where Chromium is missing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from proxlb_sim.testing import SimInfo
from tests.e2e.browser import chromium, png_pixels, render
from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.timeout(300)


def test_console_detection_sees_a_broken_page(tmp_path: Path) -> None:
    """Control: the console check below can fail (a page with a script error is caught)."""
    chromium()
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>x</p><script>console.error('marker'); missing();</script></body></html>")
    shown = render(bad, tmp_path, width=400, height=300)
    assert any("marker" in line for line in shown.console)
    assert any("missing is not defined" in line for line in shown.console)


def test_report_renders_in_chromium(
    demo_sim: SimInfo, configured: Callable[..., Path], tmp_path: Path
) -> None:
    chromium()
    cfg = configured(demo_sim)
    page = tmp_path / "report.html"
    proc = run_cli("-c", str(cfg), "report", "-o", str(page))
    assert proc.returncode == 0, proc.stderr
    shown = render(page, tmp_path)
    assert shown.console == (), shown.console
    dom = shown.dom
    assert '<table id="nodes">' in dom and dom.count("<tr>") > 5
    charts = dom[dom.index('id="node-charts"') : dom.index("Gain curve</h2>")]
    assert charts.count("<svg") == 3 and "memory: % of usable capacity" in charts
    curve = dom[dom.index('id="gain-curve"') :]
    assert "<svg" in curve and "GiB copied (cumulative)" in curve
    width, height, rows = png_pixels(shown.screenshot)
    assert (width, height) == (1280, 2200)
    colours: Counter[bytes] = Counter()
    for row in rows[::8]:
        step = len(row) // width
        for x in range(0, len(row), step * 8):
            colours[row[x : x + 3]] += 1
    background_share = colours.most_common(1)[0][1] / sum(colours.values())
    assert len(colours) > 50, "the screenshot is nearly one colour"
    assert background_share < 0.9, f"{background_share:.0%} of the screenshot is background"
    blue = sum(n for c, n in colours.items() if c[2] > 150 and c[0] < 120)
    assert blue > 0, "no bar of the 'after' series (blue) was drawn"
