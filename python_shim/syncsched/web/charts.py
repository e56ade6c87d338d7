"""Small charts drawn as inline SVG on the server: no script, nothing fetched."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

COLOURS = {
    "completed": "#2e7d32",
    "failed": "#c62828",
    "running": "#1565c0",
    "pending": "#9e9e9e",
    "cancelled": "#6d4c41",
}


def sparkline(statuses: list[str]) -> Markup:
    """One bar per recent run, oldest first, coloured by status."""
    bars = []
    for n, status in enumerate(statuses):
        colour = COLOURS.get(status, "#9e9e9e")
        bars.append(
            f'<rect x="{n * 7}" y="0" width="5" height="14" fill="{colour}"><title>{escape(status)}</title></rect>'
        )
    width = max(7 * len(statuses), 7)
    return Markup(
        f'<svg class="spark" width="{width}" height="14" role="img" aria-label="recent outcomes">{"".join(bars)}</svg>'
    )


# the colours of the series that are not statuses (integration types), in turn
PALETTE = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e", "#37474f"]


def runs_chart(rows: list[dict[str, Any]], by: str = "status") -> Markup:
    """Runs created per half hour over the last 12 hours, stacked by status (or by another column,
    such as integration_type)."""
    buckets: dict[datetime, dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts = buckets[row["bucket"]]
        counts[row[by]] = counts.get(row[by], 0) + int(row["n"])
    if not buckets:
        return Markup('<p class="muted">No runs in the last 12 hours.</p>')
    if by == "status":
        colours = COLOURS
    else:
        names = sorted({name for counts in buckets.values() for name in counts})
        colours = {name: PALETTE[n % len(PALETTE)] for n, name in enumerate(names)}
    times = sorted(buckets)
    tallest = max(sum(counts.values()) for counts in buckets.values())
    height, bar = 120, 14
    parts = []
    for n, at in enumerate(times):
        y = height
        for name, colour in colours.items():
            count = buckets[at].get(name, 0)
            if not count:
                continue
            h = max(1, round(count / tallest * (height - 10)))
            y -= h
            label = escape(f"{at:%H:%M} {name}: {count}")
            parts.append(
                f'<rect x="{n * (bar + 4)}" y="{y}" width="{bar}" height="{h}" fill="{colour}"'
                f' data-series="{escape(name)}"><title>{label}</title></rect>'
            )
    width = len(times) * (bar + 4)
    legend = " ".join(
        f'<span class="legend"><svg width="10" height="10"><rect width="10" height="10" fill="{colour}"/></svg> '
        f"{escape(name)}</span>"
        for name, colour in colours.items()
    )
    return Markup(
        f'<svg class="chart" id="chart-by-{escape(by)}" width="{width}" height="{height}" role="img"'
        f' aria-label="runs per half hour by {escape(by)}">{"".join(parts)}</svg><div>{legend}</div>'
    )
