"""The gain-curve chart explains itself (#20 item 9): each series names its unit and axis (pygal has
no title for the right axis), the 90 % point is a labelled series, and the y axis starts at 0 so the
last point does not sit on the x axis."""

from __future__ import annotations

import re

from proxlb.domain import VmId
from proxlb.planning.curve import CurvePoint, knee
from proxlb.report.html_charts import gain_curve_chart

POINTS = (
    CurvePoint(0, None, "", 76.0, 5800.0, 0.0),
    CurvePoint(1, VmId(112), "balance", 40.0, 1700.0, 51.0),
    CurvePoint(2, VmId(102), "balance", 15.0, 300.0, 80.0),
    CurvePoint(3, VmId(110), "balance", 8.0, 90.0, 91.0),
    CurvePoint(4, VmId(108), "balance", 4.0, 30.0, 92.0),
)


def _texts(svg: str) -> list[str]:
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg) if t.strip()]


def test_axes_units_and_the_90_percent_marker_are_labelled() -> None:
    best = knee(POINTS)
    texts = _texts(gain_curve_chart(POINTS, best))
    assert "spread (pp, left axis)" in texts
    assert "objective (pp², right axis)" in texts
    assert f"90 % of the reduction after {best} move(s)" in texts
    assert "GiB copied (cumulative)" in texts
    assert "0" in texts  # the y axis includes 0: the last point (4 pp) is drawn above the x axis
