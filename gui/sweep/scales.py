"""Where a value of a sweep key sits on a plot axis, and an axis that labels it in the key's units.

    coord(p, x)   log         log10(x)             (one unit per decade)
                  one_minus_log  -log10(1 - x)     (beta grows to the right; 0.9 -> 0.99 is as wide
                                                    as 0.99 -> 0.999, as the sampler sees them)
                  linear      x
                  a list      its index in the list
    value(p, c)   the inverse (a range key only)

ScaleAxis labels those coordinates as the key's values: decades as 0.001, 0.01, ... on a log
key, 0.9, 0.99, 0.999 on a one_minus_log key, the listed values on a list key.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from engine.sweep.space import Param


def coord(p: Param, x) -> float:
    """The plot coordinate of value x of key p (NaN where the key's scale cannot hold it)."""
    if not p.is_range:
        for i, c in enumerate(p.choices):
            if repr(c) == repr(x):
                return float(i)
        return math.nan
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return math.nan
    if p.scale == "log":
        return math.log10(x) if x > 0 else math.nan
    if p.scale == "one_minus_log":
        return -math.log10(1.0 - x) if x < 1 else math.nan
    return float(x)


def value(p: Param, c: float) -> float:
    """The value at plot coordinate c of a range key."""
    return p.from_axis(-c if p.scale == "one_minus_log" else c, rounded=False)


def coord_range(p: Param) -> tuple[float, float]:
    """The key's whole range (or list) in plot coordinates, low end first."""
    if not p.is_range:
        return -0.5, len(p.choices) - 0.5
    a, b = coord(p, p.low), coord(p, p.high)
    return (a, b) if a <= b else (b, a)


def label(p: Param | None, c: float, digits: int = 3) -> str:
    """A coordinate as the key's value, in as few characters as tell it apart."""
    if p is None or (p.is_range and p.scale == "linear"):
        return f"{c:.{digits}g}"
    if not p.is_range:
        i = int(round(c))
        return str(p.choices[i]) if 0 <= i < len(p.choices) and abs(c - i) < 1e-6 else ""
    if p.scale == "log":
        return f"{10.0 ** c:.{digits}g}"
    # one_minus_log: beta = 1 - 10^-c, with as many decimals as its nines need
    text = f"{1.0 - 10.0 ** -c:.{max(1, math.ceil(c - 1e-9) + 1)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _nice(lo: float, hi: float) -> list[float]:
    """Values 1, 2, 5 x 10^k (or 1..9 x 10^k on a short span) between lo and hi (> 0)."""
    for mantissas in ((1,), (1, 2, 5), tuple(range(1, 10))):
        out = [m * 10.0 ** k for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
               for m in mantissas]
        out = [v for v in out if lo <= v <= hi]
        if len(out) >= 3:
            return out
    return out


class ScaleAxis(pg.AxisItem):
    """An axis over plot coordinates (see coord) labelled with the key's own values."""

    def __init__(self, orientation: str, **kw):
        super().__init__(orientation, **kw)
        self.param: Param | None = None
        self.enableAutoSIPrefix(False)

    def set_param(self, p: Param | None) -> None:
        self.param = p
        self.picture = None  # redraw the labels
        self.update()

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 (pyqtgraph's name)
        p = self.param
        self.style["maxTextLevel"] = 2
        if p is None or (p.is_range and p.scale == "linear"):
            return super().tickValues(minVal, maxVal, size)
        if not p.is_range:
            return [(1.0, [float(i) for i in range(len(p.choices)) if minVal - 0.5 <= i <= maxVal + 0.5])]
        # ticks at round values of x (log) or of 1 - x (one_minus_log), placed at their coordinates
        sign = 1.0 if p.scale == "log" else -1.0
        lo, hi = sorted((10.0 ** (sign * minVal), 10.0 ** (sign * maxVal)))
        if maxVal - minVal >= 1.0:   # a decade or more: label the decades only
            majors = [float(k) for k in range(math.ceil(minVal), math.floor(maxVal) + 1)]
            minors = [sign * math.log10(m * 10.0 ** k) for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)))
                      for m in range(2, 10)]
            self.style["maxTextLevel"] = 0
            return [(1.0, majors), (0.1, [c for c in minors if minVal <= c <= maxVal])]
        return [(None, sorted(sign * math.log10(v) for v in _nice(lo, hi)))]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        p = self.param
        if p is None or (p.is_range and p.scale == "linear"):
            return super().tickStrings(values, scale, spacing)
        return [label(p, v) for v in values]


def coords(p: Param, xs) -> np.ndarray:
    return np.array([coord(p, x) for x in xs], dtype=float)
