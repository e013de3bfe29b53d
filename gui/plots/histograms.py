"""The Activations chart's row of histograms: one per shown hidden layer, side by side.

Shared range (the default, the lecture's figure): one x scale (the engine bins every layer of a
snapshot over one range) and one count scale, so a layer narrower than the others is seen as
narrower. Each to its own data ("each to its data" in the chart's bar, or a double-click on one
histogram): the layer over its own values' range, drawn from its percentiles rather than from the
shared bins, since a layer whose spread is smaller than one shared bin (tanh with a tiny init
from layer 2 on) has no shape left in them. Between each two of the 9 percentiles lies a known
share of the values: a bar of that share over that width, height = share / width (the area of
each bar is its share). The axis then says how narrow the layer is.

Plots are rebuilt only when the layers change (a new run), never per frame.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from engine.train.thresholds import PERCENTILES

from . import theme

_SHARES = np.diff(PERCENTILES) / 100.0
_POINT = 0.01   # a point mass (percentiles equal: a dead ReLU's zeros) is a bar this share of the range wide


def own_range_histogram(pcts) -> tuple[np.ndarray, np.ndarray] | None:
    """(edges, heights) of one layer's distribution over its own range, from its percentiles
    (PERCENTILES, the extremes exact); None when they are missing or all equal."""
    q = np.asarray(pcts if pcts is not None else [], dtype=np.float64)
    if q.shape != (len(PERCENTILES),) or not np.isfinite(q).all() or not q[-1] > q[0]:
        return None
    half = _POINT * (q[-1] - q[0]) / 2
    bars: list[list[float]] = []   # [left, right, share], in order
    i = 0
    while i < len(_SHARES):
        j = i
        while j < len(_SHARES) and q[j + 1] == q[i]:
            j += 1
        if j > i:   # percentiles i..j equal: their shares sit on one value
            bars.append([q[i] - half, q[i] + half, float(_SHARES[i:j].sum())])
            i = j
        else:
            bars.append([q[i], q[i + 1], float(_SHARES[i])])
            i += 1
    for a, b in zip(bars, bars[1:]):   # a point mass's bar overlaps its neighbours: meet halfway
        if a[1] > b[0]:
            a[1] = b[0] = (max(a[0], b[0]) + min(a[1], b[1])) / 2
    edges = np.array([bars[0][0]] + [b[1] for b in bars])
    widths = np.diff(edges)
    shares = np.array([b[2] for b in bars])
    return edges, np.where(widths > 0, shares / np.maximum(widths, 1e-300), 0.0)


class HistogramRow:
    """The histogram plots of one GraphicsLayout row, their shared or own ranges and titles."""

    def __init__(self, layout: pg.GraphicsLayout, on_rebuilt):
        self.layout = layout
        self._on_rebuilt = on_rebuilt   # (the chart caches the new plots' axes and titles)
        self.items: list[tuple[str, pg.PlotItem, pg.PlotDataItem]] = []
        self.names: list[str] = []
        self.zoomed: set[str] = set()   # layers drawn over their own data's range
        self.zoom_all = False           # every layer, new ones too
        self._titles: dict[str, str] = {}
        self._applied: dict[str, tuple] = {}   # layer -> (mode, x range, y range) last set on its plot
        self._shared = None                    # (x range, y range) of the shared scale
        self._shared_total: float | None = None

    def sync(self, hidden: list[str], shown: list[int], layer_names: list[str]) -> None:
        """One plot per shown hidden layer, rebuilt only when the layers change."""
        if hidden == self.names:
            return
        self.layout.clear()
        self.items = []
        self.names = list(hidden)
        self._titles, self._applied, self._shared, self._shared_total = {}, {}, None, None
        self.zoomed = set(hidden) if self.zoom_all else self.zoomed & set(hidden)
        n_all = len(layer_names) or len(hidden) + 1
        for col, i in enumerate(shown):
            name = hidden[i]
            j = layer_names.index(name) if name in layer_names else i
            plot = self.layout.addPlot(row=0, col=col)
            theme.style_plot(plot, name, "activation value", "count" if col == 0 else "")
            plot.setMenuEnabled(True)
            colour = theme.layer_colour(j, n_all)
            item = pg.PlotDataItem([0.0, 1.0], [0.0], stepMode="center", fillLevel=0.0,
                                   brush=theme.with_alpha(colour, 150), pen=theme.pen(colour, 1.0), name=name)
            plot.addItem(item)
            if col > 0:  # one count scale for all (see draw): values on the first only
                plot.getAxis("left").setStyle(showValues=False)
                plot.getAxis("left").setWidth(8)
            plot.enableAutoRange(enable=False)
            self.items.append((name, plot, item))
        self._on_rebuilt()

    def clear(self) -> None:
        self.layout.clear()
        self.items, self.names = [], []
        self._titles, self._applied, self._shared, self._shared_total = {}, {}, None, None

    # ------------------------------------------------------------------ zoom
    def set_zoom_all(self, on: bool) -> None:
        self.zoom_all = bool(on)
        self.zoomed = set(self.names) if on else set()

    def toggle(self, name: str) -> None:
        self.zoomed ^= {name}

    def plot_at(self, scene_pos) -> str | None:
        """The layer whose histogram is under a scene point."""
        for name, plot, _ in self.items:
            if plot.sceneBoundingRect().contains(scene_pos):
                return name
        return None

    # ------------------------------------------------------------------ drawing
    def draw(self, layers: list[dict]) -> None:
        """Draw these layers' histograms (the snapshot's hidden layers, by name)."""
        by_name = {l["name"]: l for l in layers}
        shared = []
        for name, plot, item in self.items:
            layer = by_name[name]
            edges = np.asarray(layer["hist"]["edges"], dtype=np.float64)
            counts = np.asarray(layer["hist"]["counts"], dtype=np.float64)
            own = own_range_histogram(layer.get("pcts")) if name in self.zoomed else None
            if name in self.zoomed and own is None:
                own = _nonzero_bins(edges, counts)   # no percentiles (or one value): the bins it fills
            if own is None:
                item.setData(edges, counts)
                shared.append((name, plot, edges, counts))
            else:
                item.setData(*own)
                self._apply(name, plot, "own", *self._own_range(name, *own))
            self._set_title(name, plot, layer, own is not None)
        if shared:
            x, y = self._shared_range(shared)
            for name, plot, _, _ in shared:
                self._apply(name, plot, "shared", x, y)

    def _set_title(self, name: str, plot: pg.PlotItem, layer: dict, own: bool) -> None:
        # three short lines: a long one would set a minimum width that ten layers cannot share
        scale = "own range" if own else "mean " + _num(layer.get("act_mean"))
        title = (f"{name}<br><span style='font-size:8pt; color:{theme.MUTED}'>{scale}"
                 f"<br>std {_num(layer.get('act_std'))}</span>")
        if self._titles.get(name) == title:   # a title set again re-lays its text out
            return
        self._titles[name] = title
        # never narrower than before: a title that changes width re-lays out the whole row, so
        # every histogram's axes generate their ticks again (~2 ms each)
        width = plot.titleLabel.minimumWidth()
        plot.setTitle(title, color=theme.FOREGROUND, size="9pt")
        if plot.titleLabel.minimumWidth() < width:
            plot.titleLabel.setMinimumWidth(width)

    def _apply(self, name: str, plot: pg.PlotItem, mode: str, x, y) -> None:
        """Set a plot's ranges only when they change: every change lays its axes' ticks out again."""
        key = (mode, x, y)
        if self._applied.get(name) == key:
            return
        old = self._applied.get(name, ("shared",))[0]
        self._applied[name] = key
        if old != mode and plot is self.items[0][1]:
            # the count axis's values belong to the shared scale (an own one is a shape only)
            plot.getAxis("left").setStyle(showValues=mode == "shared")
            plot.setLabel("left", "count" if mode == "shared" else "density")
        # a narrow plot's own ticks: pyqtgraph may label only 0, and the scale is the point here
        plot.getAxis("bottom").setTicks(_ticks(*x) if mode == "own" else None)
        plot.setXRange(*x, padding=0)
        plot.setYRange(*y, padding=0)

    def _own_range(self, name: str, edges: np.ndarray, heights: np.ndarray):
        """A zoomed layer's ranges: kept while its data still fit and fill most of them (the
        percentiles move a little from snapshot to snapshot), else fitted with room to spare."""
        lo, hi, top = float(edges[0]), float(edges[-1]), float(heights.max()) or 1.0
        last = self._applied.get(name)
        if last is not None and last[0] == "own":
            (x0, x1), (_, y1) = last[1], last[2]
            if x0 <= lo and hi <= x1 and hi - lo >= 0.6 * (x1 - x0) and 0.6 * y1 <= top <= y1:
                return last[1], last[2]
        pad = 0.08 * (hi - lo)
        return (lo - pad, hi + pad), (0.0, top * 1.15)

    def _shared_range(self, drawn):
        """One x scale and one count scale, set explicitly: linked auto-ranges would follow the
        first layer's tallest bin only. Kept while the new bins still fit and fill most of it
        (the engine bins each snapshot over its own min..max, so both wobble from one snapshot to
        the next: a new range gets some room to spare)."""
        lo = min(e[0] for _, _, e, _ in drawn)
        hi = max(e[-1] for _, _, e, _ in drawn)
        top = max(float(c.max()) if c.size else 0.0 for _, _, _, c in drawn) or 1.0
        x, y = self._shared or ((math.inf, -math.inf), (0.0, 0.0))
        if not (x[0] <= lo and hi <= x[1] and (hi - lo) >= 0.5 * (x[1] - x[0])):
            pad = 0.12 * (hi - lo)
            x = (lo - pad, hi + pad)
        # an epoch's short last batch gives a smaller sample (a quarter of it with the default
        # setup): its counts are compared as if from a sample of the size the range was set for
        # (the counts drawn never exceed the axis; only "much shorter" is judged that way)
        total = float(drawn[0][3].sum()) or 1.0
        scaled = top * (self._shared_total or total) / total
        if not (top <= y[1] and scaled >= 0.4 * y[1]):
            y = (0.0, top * 1.3)
            self._shared_total = total
        self._shared = (x, y)
        return x, y


def _ticks(x0: float, x1: float) -> list[list[tuple[float, str]]]:
    """Two or three round values well inside (x0, x1), labelled short ("5e-4": a plot is ~100 px
    wide); a label near an edge would reach past the axis, and pyqtgraph hides it."""
    span = x1 - x0
    lo, hi = x0 + 0.12 * span, x1 - 0.12 * span
    step = 10.0 ** math.ceil(math.log10(span))
    values = np.zeros(0)
    for _ in range(12):   # 1, 0.5, 0.2, 0.1, ... of the span's decade, until two fit
        values = np.arange(math.ceil(lo / step), math.floor(hi / step) + 1) * step
        if len(values) >= 2:
            break
        step /= 2.5 if str(step / 10.0 ** math.floor(math.log10(step)))[0] == "5" else 2
    if len(values) > 3:   # (five of them overlap on a narrow plot) every other one, 0 kept
        step *= 2
        values = values[np.isclose(np.round(values / step) * step, values, rtol=0, atol=step * 1e-6)]
    return [[(float(v), "0" if abs(v) < step / 2 else _short(v)) for v in values]]


def _short(v: float) -> str:
    if 0.01 <= abs(v) < 1000:
        return f"{v:.2g}"
    mantissa, exponent = f"{v:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def _nonzero_bins(edges: np.ndarray, counts: np.ndarray):
    """The shared bins a layer fills, one empty bin either side; None if it fills them all."""
    filled = np.flatnonzero(counts > 0)
    if not len(filled):
        return None
    a, b = max(0, filled[0] - 1), min(len(counts), filled[-1] + 2)
    if a == 0 and b == len(counts):
        return None
    return edges[a:b + 1], counts[a:b]


def _num(v) -> str:
    return "–" if v is None else f"{float(v):.3g}"
