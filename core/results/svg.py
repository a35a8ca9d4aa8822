"""Charts as plain SVG, for the HTML report: a few kilobytes each, drawn without any script, so
the report opens offline, prints, and is small enough to mail (with plotly.js inline it was
4.8 MB). The app's pages keep their interactive Plotly charts (core/results/charts.py); these
use the same colours and axis words.

One function, `chart`: points (with intervals), lines and step lines on linear or log axes, or
on named categories (a dot per series in each category), reference lines, a legend, and a
tooltip (`<title>`) on every point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 760, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 230, 36, 48  # margins: the legend sits on the right


@dataclass
class Series:
    name: str
    colour: str
    x: Sequence[float]  # positions; on a categorical axis, the index of each category
    y: Sequence[float]
    low: Sequence[float] | None = None  # an interval around each point
    high: Sequence[float] | None = None
    mode: str = "markers"  # markers, lines or steps (a step line: the frontier)
    dash: bool = False
    tips: Sequence[str] | None = None  # a tooltip per point


@dataclass
class Axis:
    label: str
    log: bool = False
    limits: tuple[float, float] | None = None
    categories: Sequence[str] | None = None
    ticks: Callable[[float], str] = field(default=lambda v: f"{v:g}")


@dataclass
class Guide:
    """A dashed reference line across the chart: at y (horizontal) or at x (vertical)."""

    value: float
    label: str
    vertical: bool = False


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = (high - low) or 1.0
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if step * m >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((high - first) / step + 1e-9) + 1)]


def _log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten; where the range holds fewer than two, 1-2-5 steps within the decades."""
    powers = list(range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1))
    every = max(1, math.ceil(len(powers) / 7))
    ticks = [10.0 ** p for p in powers[::every] if low <= 10.0 ** p <= high]
    if len(ticks) < 2:
        ticks = [m * 10.0 ** p for p in powers for m in (1, 2, 5) if low <= m * 10.0 ** p <= high]
    return ticks


class _Scale:
    def __init__(self, axis: Axis, values: list[float], start: float, end: float):
        self.axis, self.start, self.end = axis, start, end
        if axis.categories is not None:
            self.low, self.high = -0.5, len(axis.categories) - 0.5
        elif axis.limits:
            self.low, self.high = axis.limits
        else:
            finite = [v for v in values if math.isfinite(v) and (v > 0 or not axis.log)]
            self.low, self.high = (min(finite), max(finite)) if finite else (1.0, 10.0)
            if self.low == self.high:
                self.low, self.high = (self.low / 2, self.high * 2) if axis.log else \
                    (self.low - 1, self.high + 1)
            if axis.log:
                self.low, self.high = self.low / 1.5, self.high * 1.5
            else:
                pad = (self.high - self.low) * 0.05
                self.low, self.high = self.low - pad, self.high + pad

    def __call__(self, value: float) -> float:
        f = (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low)) \
            if self.axis.log else (value - self.low) / (self.high - self.low)
        return self.start + f * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        if self.axis.categories is not None:
            return [(i, str(c)) for i, c in enumerate(self.axis.categories)]
        values = _log_ticks(self.low, self.high) if self.axis.log else \
            _nice_ticks(self.low, self.high)
        return [(v, self.axis.ticks(v)) for v in values]


def chart(chart_id: str, title: str, series: Sequence[Series], x: Axis, y: Axis,
          guides: Sequence[Guide] = ()) -> str:
    """An SVG chart (a `<figure>` with the SVG and the title as its caption)."""
    usable = lambda v, axis: math.isfinite(v) and (v > 0 or not axis.log)  # noqa: E731
    xs = [v for s in series for v in s.x] + [g.value for g in guides if g.vertical]
    ys = [v for s in series for v in [*s.y, *(s.low or []), *(s.high or [])]] + \
        [g.value for g in guides if not g.vertical]
    sx = _Scale(x, xs, LEFT, WIDTH - RIGHT)
    sy = _Scale(y, ys, HEIGHT - BOTTOM, TOP)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" viewBox="0 0 {WIDTH} '
             f'{HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="system-ui, sans-serif" '
             'font-size="11" role="img">']
    for value, text in sx.ticks():  # grid and tick labels
        px = sx(value)
        parts.append(f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{HEIGHT - BOTTOM}" '
                     'stroke="#eee"/>'
                     f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
                     f'{escape(text)}</text>')
    for value, text in sy.ticks():
        py = sy(value)
        parts.append(f'<line x1="{LEFT}" y1="{py:.1f}" x2="{WIDTH - RIGHT}" y2="{py:.1f}" '
                     'stroke="#eee"/>'
                     f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{escape(text)}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - RIGHT - LEFT}" '
                 f'height="{HEIGHT - BOTTOM - TOP}" fill="none" stroke="#999"/>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" '
                 f'text-anchor="middle">{escape(x.label)}</text>')
    parts.append(f'<text transform="translate(14 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
                 f'text-anchor="middle">{escape(y.label)}</text>')
    for guide in guides:
        if not usable(guide.value, x if guide.vertical else y):
            continue
        if guide.vertical:
            px = sx(guide.value)
            line = f'x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{HEIGHT - BOTTOM}"'
            at = f'x="{px + 4:.1f}" y="{TOP + 12}"'
        else:
            py = sy(guide.value)
            line = f'x1="{LEFT}" y1="{py:.1f}" x2="{WIDTH - RIGHT}" y2="{py:.1f}"'
            at = f'x="{WIDTH - RIGHT - 4}" y="{py - 4:.1f}" text-anchor="end"'
        parts.append(f'<line {line} stroke="#777" stroke-dasharray="5 4"/>'
                     f'<text {at} fill="#555">{escape(guide.label)}</text>')
    width = 0.6 / max(1, len(series))  # a category's dots side by side
    for k, s in enumerate(series):
        offset = (k - (len(series) - 1) / 2) * width if x.categories is not None else 0.0
        points = [(sx(a + offset), sy(b), i) for i, (a, b) in enumerate(zip(s.x, s.y))
                  if usable(a, x) and usable(b, y)]
        dash = ' stroke-dasharray="6 4"' if s.dash else ""
        if s.mode in ("lines", "steps") and len(points) > 1:
            path = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
            for x1, y1, _ in points[1:]:
                path += f" H{x1:.1f} V{y1:.1f}" if s.mode == "steps" else f" L{x1:.1f},{y1:.1f}"
            parts.append(f'<path d="{path}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}/>')
        if s.mode != "markers":
            continue
        for px, py, i in points:
            if s.low is not None and s.high is not None:
                lo, hi = sy(s.low[i]), sy(s.high[i])
                parts.append(f'<path d="M{px:.1f},{lo:.1f} V{hi:.1f} M{px - 4:.1f},{lo:.1f} '
                             f'h8 M{px - 4:.1f},{hi:.1f} h8" stroke="{s.colour}" fill="none"/>')
            tip = escape(s.tips[i]) if s.tips else escape(f"{s.name}: {s.y[i]:.3g}")
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{s.colour}" '
                         f'stroke="white"><title>{tip}</title></circle>')
    room = (HEIGHT - BOTTOM - TOP) // 17  # legend lines that fit beside the plot
    listed = series if len(series) <= room else [*series[:room - 1], Series(
        f"and {len(series) - room + 1} more (hover the chart)", "#999999", [], [], mode="lines")]
    for k, s in enumerate(listed):  # the legend
        ly = TOP + 8 + 17 * k
        dash = ' stroke-dasharray="4 3"' if s.dash else ""
        mark = (f'<circle cx="{WIDTH - RIGHT + 20}" cy="{ly}" r="5" fill="{s.colour}"/>'
                if s.mode == "markers" else
                f'<line x1="{WIDTH - RIGHT + 12}" y1="{ly}" x2="{WIDTH - RIGHT + 28}" y2="{ly}" '
                f'stroke="{s.colour}" stroke-width="2"{dash}/>')
        parts.append(f'{mark}<text x="{WIDTH - RIGHT + 34}" y="{ly + 4}">{escape(s.name)}</text>')
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}<figcaption>{escape(title)}</figcaption></figure>"
