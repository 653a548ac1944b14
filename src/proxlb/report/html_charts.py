"""Server-rendered SVG charts for the HTML report, drawn with pygal. Pure; no I/O.

pygal writes plain SVG with its CSS inlined. Its optional tooltip script is loaded from a CDN, so
every chart here is built with `js=[]`, and the small inline config script pygal still emits (data for
that tooltip script) is removed: the report must open offline, and without a script there is nothing
that can raise a console error. pygal names each chart with a random UUID; we give it a fixed id so
the same cycle renders the same bytes. docs/dependencies.md says why pygal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pygal
from pygal.style import Style

from proxlb.planning.curve import CurvePoint

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#bbbbbb",
    colors=("#9aa5b1", "#1f77b4", "#d62728", "#2ca02c"),
    font_family="DejaVu Sans, Arial, sans-serif",
    title_font_size=15,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
)

CURVE_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#bbbbbb",
    colors=("#1f77b4", "#ff7f0e", "#2ca02c"),
    font_family="DejaVu Sans, Arial, sans-serif",
    title_font_size=15,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
)

_COMMON = {
    "style": STYLE,
    "js": [],
    "disable_xml_declaration": True,
    "show_legend": True,
    "explicit_size": True,
}


_THRESHOLD_LINE = "stroke:#d62728 !important;stroke-width:2px;stroke-dasharray:6,3;opacity:1"
_CONFIG_SCRIPT = re.compile(r'<script type="text/javascript">window\.pygal[^<]*</script>')


def _svg(chart: pygal.graph.graph.Graph, chart_id: str) -> str:
    chart.uuid = chart_id  # instead of a random uuid4: deterministic output
    text = str(chart.render(is_unicode=True))
    return _CONFIG_SCRIPT.sub("", text)


def node_bars(
    resource: str,
    nodes: Sequence[str],
    before: Mapping[str, float],
    after: Mapping[str, float],
    threshold: float | None,
) -> str:
    """Grouped bars per node: load % of usable capacity before and after the plan; the threshold
    (when set) is the red dashed guide line (a major y label, styled by an inline rule)."""
    chart_id = f"proxlb-{resource.replace(' ', '-')}"
    title = f"{resource}: % of usable capacity"
    top = max([100.0, *before.values(), *after.values()])
    labels: list[float] = [float(v) for v in range(0, int(top) + 1, 20)]
    extra: dict[str, object] = {}
    if threshold:
        title += f" (red line: threshold {threshold:g} %)"
        labels = sorted({*labels, float(threshold)})
        rule = f"#chart-{chart_id} .axis.y .guides .major.line"
        extra = {
            "y_labels_major": [float(threshold)],
            "css": ["file://style.css", "file://graph.css", f"inline:{rule}{{{_THRESHOLD_LINE}}}"],
        }
    chart = pygal.Bar(
        title=title,
        width=400,
        height=290,
        range=(0, top),
        y_labels=labels,
        show_minor_y_labels=True,
        y_title="%",
        legend_at_bottom=True,
        x_label_rotation=0 if len(nodes) <= 8 else 30,
        print_values=False,
        **_COMMON,
        **extra,
    )
    chart.x_labels = list(nodes)
    chart.add("before", [round(before.get(n, 0.0), 1) for n in nodes])
    chart.add("after", [round(after.get(n, 0.0), 1) for n in nodes])
    return _svg(chart, chart_id)


def gain_curve_chart(points: Sequence[CurvePoint], best: int | None = None) -> str:
    """Spread (left axis, pp) and objective (right axis, pp²) after the first k moves, against GiB
    copied; `best`: the k that reaches 90 % of the spread reduction, marked as its own labelled
    series. Both axes start at 0, so the last point never sits on the x axis. pygal has no title for
    the secondary axis: the legend names each series with its unit and axis."""
    chart = pygal.XY(
        title="Gain curve: balance bought by each further migration",
        width=700,
        height=340,
        x_title="GiB copied (cumulative)",
        y_title="spread (pp), left axis",
        legend_at_bottom=True,
        dots_size=4,
        show_x_guides=False,
        include_x_axis=True,
        truncate_legend=-1,  # the legend carries the units; never cut it
        value_formatter=lambda v: f"{v:.0f}",
        **{**_COMMON, "style": CURVE_STYLE},
    )
    chart.add("spread (pp, left axis)", [(p.gib_copied, p.spread) for p in points])
    chart.add("objective (pp², right axis)", [(p.gib_copied, p.objective) for p in points], secondary=True)
    marked = [p for p in points if best is not None and p.k == best and best > 0]
    if marked:
        k = marked[0]
        chart.add(
            f"90 % of the reduction after {k.k} move(s)",
            [{"value": (k.gib_copied, k.spread), "label": f"{k.k} moves: 90 % of the reduction"}],
            dots_size=8,
            stroke=False,
        )
    return _svg(chart, "proxlb-gain-curve")
