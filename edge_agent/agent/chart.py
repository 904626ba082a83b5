"""The status page's picture of the last hour: inline SVG drawn on the server, no script, no library.

Three bands over the same minute axis (oldest left, the current minute right): SDK requests per minute
(bars), queue depth (the last depth seen in each minute, a step line with gaps where nothing was
sampled) and sync runs by outcome (stacked bars: ok, failed, skipped). Every bar and step carries a
``<title>`` with its figure, so hovering reads the number the picture shows.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, LEFT, RIGHT = 720, 118, 8
BAND, GAP, TOP, AXIS = 56, 22, 16, 22
COLOURS = {
    "requests": "#0969da",
    "queue": "#8250df",
    "ok": "#1a7f37",
    "failed": "#cf222e",
    "skipped": "#afb8c1",
}


@dataclass(frozen=True, slots=True)
class Hour:
    """Per-minute series of the last hour, oldest first, all the same length."""

    requests: Sequence[int]
    queue: Sequence[int | None]
    sync_ok: Sequence[int]
    sync_failed: Sequence[int]
    sync_skipped: Sequence[int]


def _ago(index: int, minutes: int) -> str:
    back = minutes - 1 - index
    return "this minute" if back == 0 else f"{back} min ago"


def _scale(peak: int) -> int:
    """A round top for a band's axis, at least ``peak``: 1, 2, 5, 10, 20, 50, …"""
    magnitude = 1
    while True:
        for top in (magnitude, 2 * magnitude, 5 * magnitude):
            if top >= peak:
                return top
        magnitude *= 10


def _band_frame(y: float, label: str, top: int) -> list[str]:
    inner = WIDTH - LEFT - RIGHT
    return [
        f"<text x='{LEFT - 8}' y='{y + 12:.0f}' text-anchor='end' class='lbl'>{html.escape(label)}</text>",
        f"<text x='{LEFT - 8}' y='{y + BAND:.0f}' text-anchor='end' class='tick'>0</text>",
        f"<text x='{LEFT - 8}' y='{y + 26:.0f}' text-anchor='end' class='tick'>max {top}</text>",
        f"<rect x='{LEFT}' y='{y:.0f}' width='{inner}' height='{BAND}' class='frame'/>",
    ]


def _bars(y: float, stacks: list[list[tuple[str, int]]], unit: tuple[str, str], top: int) -> list[str]:
    """Stacked bars; ``unit`` is (one, many), and a stack of several parts names each part."""
    minutes = len(stacks)
    step = (WIDTH - LEFT - RIGHT) / minutes
    out = []
    for i, parts in enumerate(stacks):
        base = y + BAND
        for name, value in parts:
            if value <= 0:
                continue
            h = BAND * min(value, top) / top
            base -= h
            what = unit[0] if value == 1 else unit[1]
            title = f"{_ago(i, minutes)}: {value} {what}{' ' + name if len(parts) > 1 else ''}"
            out.append(
                f"<rect x='{LEFT + i * step + 0.5:.1f}' y='{base:.1f}' width='{max(step - 1, 1):.1f}' "
                f"height='{h:.1f}' fill='{COLOURS[name]}'><title>{html.escape(title)}</title></rect>"
            )
    return out


def _steps(y: float, values: Sequence[int | None], top: int) -> list[str]:
    minutes = len(values)
    step = (WIDTH - LEFT - RIGHT) / minutes
    out = []
    for i, value in enumerate(values):
        if value is None:
            continue
        level = y + BAND - BAND * min(value, top) / top
        x = LEFT + i * step
        out.append(
            f"<rect x='{x:.1f}' y='{level - 1:.1f}' width='{step:.1f}' height='2' fill='{COLOURS['queue']}'>"
            f"<title>{html.escape(f'{_ago(i, minutes)}: {value} waiting')}</title></rect>"
        )
    return out


def render(hour: Hour) -> str:
    """The SVG element (to inline in the page)."""
    minutes = len(hour.requests)
    bands = 3
    height = TOP + bands * BAND + (bands - 1) * GAP + AXIS
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {WIDTH} {height}' width='100%' "
        f"role='img' aria-labelledby='chart-title' class='chart'>",
        "<title id='chart-title'>The last hour: requests per minute, queue depth, sync runs</title>",
        "<style>.lbl{font:600 12px system-ui,sans-serif;fill:#1f2328}"
        ".tick{font:11px system-ui,sans-serif;fill:#57606a}.frame{fill:#f6f8fa;stroke:#d0d7de}</style>",
    ]
    y = float(TOP)
    top = _scale(max(hour.requests, default=0))
    parts += _band_frame(y, "Requests/min", top)
    parts += _bars(y, [[("requests", n)] for n in hour.requests], ("request", "requests"), top)
    y += BAND + GAP
    top = _scale(max((v for v in hour.queue if v is not None), default=0))
    parts += _band_frame(y, "Queue depth", top)
    parts += _steps(y, hour.queue, top)
    y += BAND + GAP
    runs = list(zip(hour.sync_ok, hour.sync_failed, hour.sync_skipped, strict=True))
    top = _scale(max((sum(r) for r in runs), default=0))
    parts += _band_frame(y, "Sync runs", top)
    stacks = [[("ok", ok), ("failed", failed), ("skipped", skipped)] for ok, failed, skipped in runs]
    parts += _bars(y, stacks, ("sync run", "sync runs"), top)
    axis = y + BAND + 15
    for index, label in ((0, f"{minutes} min ago"), (minutes // 2, f"{minutes - minutes // 2} min ago")):
        x = LEFT + index * (WIDTH - LEFT - RIGHT) / minutes
        parts.append(f"<text x='{x:.0f}' y='{axis:.0f}' class='tick'>{html.escape(label)}</text>")
    parts.append(f"<text x='{WIDTH - RIGHT}' y='{axis:.0f}' text-anchor='end' class='tick'>now</text>")
    parts.append("</svg>")
    return "".join(parts)
