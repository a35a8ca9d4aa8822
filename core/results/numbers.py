"""Numbers for people: 4.6e10 FLOPs as '46 GFLOP', 754 seconds as '12 min 34 s', dollars with
a sensible number of digits: the verdict's costs and the What-if page's calibration print so."""

from __future__ import annotations

import math

from core.queue.progress import format_duration

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float, unit: str = "") -> str:
    """Three significant digits with an SI prefix: si(4.57e9, 'FLOP') -> '4.57 GFLOP'."""
    if value is None or not math.isfinite(value):
        return "–"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def duration(seconds: float) -> str:
    """As the queue's ETA is written (progress.format_duration) from 10 s to a day; below,
    with three digits (a query's 0.0163 s is '16.3 ms', not '0 s'); days and years beyond,
    where a what-if at a billion queries lands."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds == 0:
        return "0 s"
    if abs(seconds) < 1:
        return f"{seconds * 1000:.3g} ms"
    if abs(seconds) < 10:
        return f"{seconds:.3g} s"
    for size, name in ((86400 * 365, "years"), (86400, "days")):
        if abs(seconds) >= size:
            return f"{seconds / size:.3g} {name}"
    return format_duration(seconds)


def money(dollars: float) -> str:
    if dollars is None or not math.isfinite(dollars):
        return "–"
    if abs(dollars) >= 1000:
        return f"${dollars:,.0f}"
    return f"${dollars:.3g}" if abs(dollars) < 1 else f"${dollars:,.2f}"


def cost(value: float, unit: str) -> str:
    """A cost in the what-if's units: 'flops', 'seconds' or 'dollars'."""
    return {"flops": lambda v: si(v, "FLOP"), "seconds": duration, "dollars": money}[unit](value)
