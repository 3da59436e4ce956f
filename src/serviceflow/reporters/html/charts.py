"""Charts as inline SVG, drawn here: no charting library, no script, nothing fetched.

Two kinds cover the report: horizontal bars (a count per label: actors, channels, policies) and
stacked columns (a count per category and series: violations per week and policy, the age histogram).
Every drawn value is a ``<rect class="datum">`` carrying ``data-chart``, ``data-series``,
``data-category`` and ``data-value``, with a ``<title>`` a browser shows on hover; the same numbers
are in a table under the chart (for screen readers, and for copying). Zero values are not drawn.

Colours are SVG presentation attributes, not ``style`` attributes, so that the page's
Content-Security-Policy can forbid inline styles. Every label is escaped (:func:`html_text`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from serviceflow.reporters.escaping import html_text

__all__ = ["PALETTE", "bar_chart", "color_for", "stacked_columns"]

#: Colour-blind-safe categorical colours (Okabe and Ito, then Tol's muted scheme).
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#d55e00",
    "#cc79a7",
    "#56b4e9",
    "#f0e442",
    "#332288",
    "#117733",
    "#882255",
    "#999933",
    "#aa4499",
    "#44aa99",
    "#661100",
    "#6699cc",
    "#888888",
)
_LABEL_CHARS = 38
_FONT = 12


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "\u2026"


def bar_chart(
    chart_id: str,
    caption: str,
    bars: Sequence[tuple[str, int]],
    *,
    series: str = "count",
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars, one per ``(label, value)``, in the order given."""
    if not bars:
        return _empty(caption)
    row, left, bar_width, right = 20, 260, 420, 70
    height = row * len(bars) + 10
    largest = max(value for _, value in bars) or 1
    parts = [_svg(caption, left + bar_width + right, height)]
    for index, (label, value) in enumerate(bars):
        y = 5 + index * row
        width = 0 if value <= 0 else max(1.0, bar_width * value / largest)
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="{_FONT}">'
            f"{html_text(_short(label))}<title>{html_text(label)}</title></text>"
        )
        if value > 0:
            parts.append(
                f'<rect class="datum" data-chart="{html_text(chart_id)}" data-series="{html_text(series)}" '
                f'data-category="{html_text(label)}" data-value="{value}" x="{left}" y="{y + 3}" '
                f'width="{width:.1f}" height="{row - 6}" fill="{color}"><title>{html_text(label)}: {value:,}'
                "</title></rect>"
            )
        parts.append(f'<text x="{left + width + 4:.1f}" y="{y + 14}" font-size="{_FONT}">{value:,}</text>')
    parts.append("</svg>")
    table = _table(caption, ["", series], [(label, [value]) for label, value in bars])
    return _figure(caption, "".join(parts), table)


def stacked_columns(
    chart_id: str,
    caption: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[int]],
    colors: Mapping[str, str],
) -> str:
    """One column per category, each series stacked in it in the order of ``series``; a legend."""
    totals = [sum(values[index] for values in series.values()) for index in range(len(categories))]
    if not categories or not any(totals):
        return _empty(caption)
    # Room on the left and below for the first column's label, drawn at 45 degrees.
    longest = max(len(_short(category)) for category in categories)
    plot_height, top, left, bottom = 220, 10, max(50, min(200, longest * 4)), max(60, min(200, longest * 5))
    step = max(6, min(40, 900 // max(1, len(categories))))
    column = max(4, step - 2)
    width = left + step * len(categories) + 20
    height = top + plot_height + bottom
    largest = max(totals)
    parts = [
        _svg(caption, width, height),
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width - 10}" y2="{top + plot_height}" '
        'stroke="#888"/>',
        f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="{_FONT}">{largest:,}</text>',
        f'<text x="{left - 4}" y="{top + plot_height}" text-anchor="end" font-size="{_FONT}">0</text>',
    ]
    label_every = -(-14 // step)  # rotated labels need about 14px each, whatever the column width
    for index, category in enumerate(categories):
        x = left + index * step + 1
        y: float = top + plot_height
        for name, values in series.items():
            value = values[index]
            if value <= 0:
                continue
            bar_height = plot_height * value / largest
            y -= bar_height  # float: the columns stack exactly
            parts.append(
                f'<rect class="datum" data-chart="{html_text(chart_id)}" data-series="{html_text(name)}" '
                f'data-category="{html_text(category)}" data-value="{value}" x="{x}" y="{y:.2f}" '
                f'width="{column}" height="{bar_height:.2f}" fill="{colors.get(name, PALETTE[0])}">'
                f"<title>{html_text(category)} \u00b7 {html_text(name)}: {value:,}</title></rect>"
            )
        if index % label_every == 0:
            lx, ly = x + column / 2, top + plot_height + 12
            parts.append(
                f'<text x="{lx:.1f}" y="{ly}" font-size="10" text-anchor="end" '
                f'transform="rotate(-45 {lx:.1f} {ly})">{html_text(_short(category))}</text>'
            )
    parts.append("</svg>")
    legend = "".join(
        f'<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
        f'fill="{colors.get(name, PALETTE[0])}"/></svg> {html_text(name)}</li>'
        for name, values in series.items()
        if any(values)
    )
    rows = [
        (category, [values[index] for values in series.values()]) for index, category in enumerate(categories)
    ]
    table = _table(caption, ["", *series], rows)
    return _figure(caption, "".join(parts) + f'<ul class="legend">{legend}</ul>', table)


def _figure(caption: str, drawing: str, table: str) -> str:
    return (
        f'<figure class="chart-box"><figcaption>{html_text(caption)}</figcaption>'
        f'<div class="scroll">{drawing}</div>{table}</figure>'
    )


def _table(caption: str, header: Sequence[str], rows: Sequence[tuple[str, Sequence[int]]]) -> str:
    head = "".join(f"<th>{html_text(name)}</th>" for name in header)
    body = "".join(
        "<tr><th>" + html_text(label) + "</th>" + "".join(f"<td>{value:,}</td>" for value in values) + "</tr>"
        for label, values in rows
    )
    return (
        f'<details><summary>numbers</summary><table class="numbers" aria-label="{html_text(caption)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"
    )


def _svg(caption: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{html_text(caption)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    )


def _empty(caption: str) -> str:
    return (
        f'<figure class="chart-box"><figcaption>{html_text(caption)}</figcaption>'
        '<p class="none">none</p></figure>'
    )
