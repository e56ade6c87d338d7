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


def runs_chart(rows: list[dict[str, Any]]) -> Markup:
    """Runs created per half hour over the last 12 hours, stacked by status."""
    buckets: dict[datetime, dict[str, int]] = defaultdict(dict)
    for row in rows:
        buckets[row["bucket"]][row["status"]] = int(row["n"])
    if not buckets:
        return Markup('<p class="muted">No runs in the last 12 hours.</p>')
    times = sorted(buckets)
    tallest = max(sum(counts.values()) for counts in buckets.values())
    height, bar = 120, 14
    parts = []
    for n, at in enumerate(times):
        y = height
        for status in ("completed", "failed", "running", "pending", "cancelled"):
            count = buckets[at].get(status, 0)
            if not count:
                continue
            h = max(1, round(count / tallest * (height - 10)))
            y -= h
            label = escape(f"{at:%H:%M} {status}: {count}")
            parts.append(
                f'<rect x="{n * (bar + 4)}" y="{y}" width="{bar}" height="{h}" fill="{COLOURS[status]}">'
                f"<title>{label}</title></rect>"
            )
    width = len(times) * (bar + 4)
    legend = " ".join(f'<span class="legend"><span class="swatch" data-status="{s}"></span>{s}</span>' for s in COLOURS)
    return Markup(
        f'<svg class="chart" width="{width}" height="{height}" role="img" aria-label="runs per half hour">'
        f"{''.join(parts)}</svg><div>{legend}</div>"
    )
