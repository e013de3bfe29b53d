"""Activation distributions: the CS231n lecture figure, live.

Top row: one histogram per hidden layer (up to MAX_HISTOGRAMS, evenly spaced over depth), side
by side on one x scale (the engine bins all layers of a snapshot over one range) and one count
scale, titled with the layer's mean and std. Bottom left: mean and std across depth. Bottom right: one layer's distribution over
time as nested percentile bands (TensorBoard's distribution view: min–max, ±1.5σ, ±1σ, ±0.5σ
percentiles and the median), the layer picked in the combo box.

Histogram plots are rebuilt only when the hidden layers change (a new run), never per frame.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from . import theme
from .base import BasePlot
from .layers import hidden_indices, probe_steps
from .scalars import STEP_LABEL

MAX_HISTOGRAMS = 8  # deeper nets show this many, evenly spaced over depth (first and last kept)
# band (lower, upper) indices into engine.probes.PERCENTILES, outermost first
_BANDS = ((0, 8), (1, 7), (2, 6), (3, 5))
_BAND_ALPHA = (35, 55, 80, 110)
_MEDIAN = 4


class BandItem(QtWidgets.QGraphicsPathItem):
    """The area between two series, cheap at any length.

    Few rows (up to one per two pixels): a filled polygon per finite stretch. More rows: one
    vertical line per pixel column from the column's lowest `lo` to its highest `hi` (an
    envelope, like peak downsampling). A noisy outline with thousands of points makes a polygon
    fill cost ~1 s per frame (every scanline crosses every edge); lines cost one pass per pixel.
    pyqtgraph's FillBetweenItem fills polygons only and rebuilds on each of its curves' changes.
    """

    def __init__(self):
        super().__init__()
        self.setZValue(-10)
        self._colour = QtGui.QColor(0, 0, 0, 40)
        self._data = (np.zeros(0), np.zeros(0), np.zeros(0))

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):
        """For the view's auto-range (the bands reach further than the median line)."""
        x, lo, hi = self._data
        if not np.isfinite(lo).any():
            return None, None
        if ax == 0:
            return float(x[0]), float(x[-1])
        return float(np.nanmin(lo)), float(np.nanmax(hi))

    def set_colour(self, colour: QtGui.QColor) -> None:
        self._colour = QtGui.QColor(colour)

    def set_band(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        self._data = (np.asarray(x, np.float64), np.where(ok, lo, np.nan), np.where(ok, hi, np.nan))
        self.redraw()

    def redraw(self) -> None:
        x, lo, hi = self._data
        view = self.parentItem()
        while view is not None and not isinstance(view, pg.ViewBox):
            view = view.parentItem()
        pixels = int(view.width()) if view is not None and view.width() > 10 else 800
        if view is not None:
            x0, x1 = view.viewRange()[0]
        else:
            x0, x1 = (x[0], x[-1]) if len(x) else (0.0, 1.0)
        a, b = np.searchsorted(x, x0, "left"), np.searchsorted(x, x1, "right")
        a, b = max(0, a - 1), min(len(x), b + 1)  # one row past each edge, so the band reaches it
        path = QtGui.QPainterPath()
        if b - a > pixels // 2 and x1 > x0:
            # envelope per pixel column, drawn as vertical strokes
            cols = np.clip(((x[a:b] - x0) / (x1 - x0) * pixels).astype(np.int64), -1, pixels)
            starts = np.flatnonzero(np.diff(np.concatenate(([-2], cols))))
            with np.errstate(invalid="ignore"):
                low = np.fmin.reduceat(lo[a:b], starts)
                high = np.fmax.reduceat(hi[a:b], starts)
            xs = x[a:b][starts]
            keep = np.isfinite(low) & np.isfinite(high)
            xs, low, high = xs[keep], low[keep], high[keep]
            if len(xs):
                path = pg.arrayToQPath(np.repeat(xs, 2), np.column_stack((low, high)).ravel(), connect="pairs")
            pen = pg.mkPen(self._colour, width=1)  # width 1: Qt's fast cosmetic stroker
            pen.setCosmetic(True)
            pen.setCapStyle(QtCore.Qt.PenCapStyle.FlatCap)
            self.setPen(pen)
            self.setBrush(QtGui.QBrush())
        else:
            ok = np.isfinite(lo[a:b])
            if ok.any():
                # one polygon per finite stretch, so a missing probe leaves a hole, not a bridge
                edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
                for s, e in zip(edges[::2] + a, edges[1::2] + a):
                    xs = np.concatenate((x[s:e], x[s:e][::-1]))
                    ys = np.concatenate((hi[s:e], lo[s:e][::-1]))
                    path.addPath(pg.arrayToQPath(xs, ys.astype(np.float64), connect="all"))
            self.setPen(pg.mkPen(None))
            self.setBrush(pg.mkBrush(self._colour))
        self.setPath(path)


def shown_layers(n: int, limit: int = MAX_HISTOGRAMS) -> list[int]:
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


class ActivationsPlot(BasePlot):
    name = "activations"
    title = "Activations"
    default_export_size = (1400, 760)

    def __init__(self, parent=None):
        self._snapshot = None
        self._rows = -1
        self._bands_stale = False  # the step range moved while off screen: bands binned for the old one
        self._hist_names: list[str] = []
        self._hist_items: list[tuple[str, pg.PlotItem, pg.PlotDataItem]] = []
        self._layer_names: list[str] = []
        self._titles: dict[str, str] = {}
        self._hist_range = None
        self._hist_total: float | None = None  # values in the sample the count range was set for
        self._depth_ticks = None
        super().__init__(parent)

    # ------------------------------------------------------------------ construction
    def build(self) -> None:
        ci = self.glw.ci
        self.hist_row = ci.addLayout(row=0, col=0, colspan=2)
        self.hist_row.setSpacing(2)
        # the legend is in the title: inside the plot it would cover the deepest layers' points
        self.depth_plot = self.add_plot(
            1, 0, theme.titled_key("Across depth", [
                (theme.BOLD_LINE + theme.DOT_GLYPH, theme.FOREGROUND, "mean"),
                (theme.DASHED + theme.SQUARE, theme.MUTED, "std")]),
            "hidden layer (1 = nearest the input)", "activation value", time_based=False)
        self.depth_plot.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=theme.pen(theme.MUTED, 1, theme.DOT)),
                                ignoreBounds=True)
        self.mean_curve = self.add_curve(self.depth_plot, "mean", None, pen=theme.pen(theme.FOREGROUND, 1.4),
                                         symbol="o", symbolSize=9, symbolPen=pg.mkPen(theme.FOREGROUND))
        self.std_curve = self.add_curve(self.depth_plot, "std", None, pen=theme.pen(theme.MUTED, 1.4, theme.DASH),
                                        symbol="s", symbolSize=8, symbolPen=pg.mkPen(theme.MUTED))
        for curve in (self.mean_curve, self.std_curve):  # a point per layer: never clip or thin out
            curve.setClipToView(False)
            curve.setDownsampling(auto=False)
        self.pct_plot = self.add_plot(1, 1, "Distribution over time", STEP_LABEL, "activation value")
        # the median as a line (subsampled: it is a summary already), the other percentiles as
        # nested bands (TensorBoard's distribution view draws no outlines either)
        self.median_curve = self.add_curve(self.pct_plot, "median", None, downsample_method="subsample")
        self.pct_fills = [BandItem() for _ in _BANDS]  # outermost first, drawn below the lines
        for fill in self.pct_fills:
            self.pct_plot.addItem(fill)
        vb = self.pct_plot.getViewBox()
        vb.sigXRangeChanged.connect(self._range_moved)  # bands are binned per pixel of the view
        vb.sigResized.connect(self._redraw_bands)
        layout = ci.layout
        layout.setRowStretchFactor(0, 5)
        layout.setRowStretchFactor(1, 4)
        layout.setColumnStretchFactor(0, 2)
        layout.setColumnStretchFactor(1, 3)

        self.bar.addWidget(QtWidgets.QLabel("distribution over time of"))
        self.layer_box = QtWidgets.QComboBox()
        self.layer_box.setMinimumWidth(110)
        self.layer_box.currentIndexChanged.connect(lambda _: self._layer_picked())
        self.bar.addWidget(self.layer_box)
        self.bar.addSpacing(12)
        self.add_note("bands: percentiles 30.9–69.1, 15.9–84.1, 6.7–93.3 and 0–100 "
                      "(±0.5σ, ±1σ, ±1.5σ of a normal; min–max), as TensorBoard draws them")
        self._style_percentiles(0, 1)

    def _style_percentiles(self, j: int, n: int) -> None:
        colour = theme.layer_colour(j, max(n, 1))
        self.median_curve.setPen(theme.pen(colour, 1.6))
        for fill, alpha in zip(self.pct_fills, _BAND_ALPHA):
            fill.set_colour(theme.with_alpha(colour, alpha))

    # ------------------------------------------------------------------ layers
    def _sync_layers(self, names: list[str]) -> None:
        """Percentile combo box for these layers (history.layer_names)."""
        if names == self._layer_names:
            return
        self._layer_names = list(names)
        keep = self.layer_box.currentText()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        hidden = [names[j] for j in hidden_indices(names)]
        self.layer_box.addItems(hidden)
        if keep in hidden:
            self.layer_box.setCurrentText(keep)
        self.layer_box.blockSignals(False)
        self._layer_picked(redraw=False)

    def selected_layer(self) -> int | None:
        """Index into history.layer_names of the layer whose distribution is drawn over time."""
        name = self.layer_box.currentText()
        return self._layer_names.index(name) if name in self._layer_names else None

    def _redraw_bands(self, *_) -> None:
        self._bands_stale = False
        for fill in self.pct_fills:
            fill.redraw()

    def _range_moved(self, *_) -> None:
        # the shared step axis moves this view every frame even on a hidden tab: bin the bands
        # again only where they can be seen (shown again or exported: caught up then)
        if self.off_screen():
            self._bands_stale = True
            return
        self._redraw_bands()

    def ensure_current(self) -> None:
        super().ensure_current()
        if self._bands_stale:
            self._redraw_bands()

    def _layer_picked(self, redraw: bool = True) -> None:
        j = self.selected_layer()
        name = self.layer_box.currentText() or "—"
        self.pct_plot.setTitle(theme.titled_key(f"{name} over time", [
            (theme.BOLD_LINE, theme.FOREGROUND, "median"), (theme.SQUARE, theme.MUTED, "percentile bands")]),
            color=theme.FOREGROUND, size="10pt")
        if j is not None:
            self._style_percentiles(j, len(self._layer_names))
        if redraw:
            self._rows = -1
            self.redraw()

    def _sync_histograms(self, hidden: list[str]) -> None:
        """One histogram plot per shown hidden layer, rebuilt only when the layers change."""
        if hidden == self._hist_names:
            return
        self.hist_row.clear()
        self._hist_items = []
        self._hist_names = list(hidden)
        self._titles, self._hist_range, self._hist_total = {}, None, None
        n_all = len(self._layer_names) or len(hidden) + 1
        for col, i in enumerate(shown_layers(len(hidden))):
            name = hidden[i]
            j = self._layer_names.index(name) if name in self._layer_names else i
            plot = self.hist_row.addPlot(row=0, col=col)
            theme.style_plot(plot, name, "activation value", "count" if col == 0 else "")
            plot.setMenuEnabled(True)
            colour = theme.layer_colour(j, n_all)
            item = pg.PlotDataItem([0.0, 1.0], [0.0], stepMode="center", fillLevel=0.0,
                                   brush=theme.with_alpha(colour, 150), pen=theme.pen(colour, 1.0), name=name)
            plot.addItem(item)
            if col > 0:  # one count scale for all (set in _draw_snapshot): values on the first only
                plot.getAxis("left").setStyle(showValues=False)
                plot.getAxis("left").setWidth(8)
            plot.enableAutoRange(enable=False)
            self._hist_items.append((name, plot, item))
        self.cache_static_items()  # the new plots' axes and titles too

    # ------------------------------------------------------------------ feeding
    def update_data(self, history, full: bool) -> None:
        self._sync_layers(history.layer_names)
        snap = history.latest_snapshot
        if snap is not None and (full or snap is not self._snapshot):
            self._snapshot = snap
            self._draw_snapshot(snap)
        rows = history.probes.n if history.probes is not None else 0
        if full or rows != self._rows:
            self._rows = rows
            self._draw_percentiles(history)

    def show_snapshot(self, snap: dict) -> None:
        """Draw this snapshot's histograms (a recorded run's step scrubber, gui/runs)."""
        self._snapshot = snap
        self._draw_snapshot(snap)

    def _draw_snapshot(self, snap: dict) -> None:
        layers = [l for l in snap.get("layers") or [] if l.get("hist")]
        self._sync_histograms([l["name"] for l in layers])
        by_name = {l["name"]: l for l in layers}
        drawn = []
        for name, plot, item in self._hist_items:
            layer = by_name[name]
            edges = np.asarray(layer["hist"]["edges"], dtype=np.float64)
            counts = np.asarray(layer["hist"]["counts"], dtype=np.float64)
            item.setData(edges, counts)
            drawn.append((plot, edges, counts))
            # three short lines: a long one would set a minimum width that ten layers cannot share
            title = (f"{name}<br><span style='font-size:8pt; color:{theme.MUTED}'>mean "
                     f"{_num(layer.get('act_mean'))}<br>std {_num(layer.get('act_std'))}</span>")
            if self._titles.get(name) != title:  # a title set again re-lays its text out
                self._titles[name] = title
                # never narrower than before: a title that changes width re-lays out the whole
                # row, so every histogram's axes generate their ticks again (~2 ms each)
                width = plot.titleLabel.minimumWidth()
                plot.setTitle(title, color=theme.FOREGROUND, size="9pt")
                if plot.titleLabel.minimumWidth() < width:
                    plot.titleLabel.setMinimumWidth(width)
        # one x scale (the engine bins every layer of a snapshot over one range) and one count
        # scale, set explicitly: linked auto-ranges would follow the first layer's tallest bin only
        if drawn:
            lo = min(e[0] for _, e, _ in drawn)
            hi = max(e[-1] for _, e, _ in drawn)
            top = max(float(c.max()) if c.size else 0.0 for _, _, c in drawn) or 1.0
            x, y = self._hist_range or ((math.inf, -math.inf), (0.0, 0.0))
            # kept while the new bins still fit and fill most of it: a range that moves every
            # snapshot makes every histogram's axes lay out their ticks again
            # (the engine bins each snapshot over its own min..max, so both wobble from one
            # snapshot to the next: a new range gets some room to spare)
            if not (x[0] <= lo and hi <= x[1] and (hi - lo) >= 0.5 * (x[1] - x[0])):
                pad = 0.12 * (hi - lo)
                x = (lo - pad, hi + pad)
            # an epoch's short last batch gives a smaller sample (a quarter of it with the default
            # setup): its counts are compared as if from a sample of the size the range was set for
            total = float(drawn[0][2].sum()) or 1.0
            scaled = top * (self._hist_total or total) / total
            # (the counts drawn never exceed the axis; only "much shorter" is judged as if from
            # the same sample size)
            if not (top <= y[1] and scaled >= 0.4 * y[1]):
                y = (0.0, top * 1.3)
                self._hist_total = total
            if (x, y) != self._hist_range:
                self._hist_range = (x, y)
                for plot, _, _ in drawn:
                    plot.setXRange(*x, padding=0)
                    plot.setYRange(*y, padding=0)
        x = np.arange(1, len(layers) + 1, dtype=np.float64)
        means = np.array([_float(l.get("act_mean")) for l in layers])
        stds = np.array([_float(l.get("act_std")) for l in layers])
        n_all = len(self._layer_names) or len(layers) + 1
        brushes = [theme.layer_colour(self._index(l["name"], i), n_all) for i, l in enumerate(layers)]
        self.depth_plot.setXRange(0.5, len(layers) + 0.5, padding=0)  # a category axis: no auto-range
        every = max(1, math.ceil(len(layers) / 12))  # layer numbers (names would overlap)
        ticks = [[(float(i), str(int(i))) for i in x[::every]]]
        if ticks != self._depth_ticks:
            self._depth_ticks = ticks
            self.depth_plot.getAxis("bottom").setTicks(ticks)
        self.mean_curve.setData(x, means, symbolBrush=brushes)
        self.std_curve.setData(x, stds, symbolBrush=[theme.with_alpha(b, 150) for b in brushes])

    def _index(self, name: str, fallback: int) -> int:
        return self._layer_names.index(name) if name in self._layer_names else fallback

    def _draw_percentiles(self, history) -> None:
        j = self.selected_layer()
        pcts = history.layer_column("pcts")
        if j is None or pcts.ndim != 3 or j >= pcts.shape[1]:
            self.median_curve.setData([], [])
            for fill in self.pct_fills:
                fill.set_band(np.zeros(0), np.zeros(0), np.zeros(0))
            return
        steps = probe_steps(history)
        for fill, (lo, hi) in zip(self.pct_fills, _BANDS):
            fill.set_band(steps, pcts[:, j, lo], pcts[:, j, hi])
        median = self.median_curve
        median.setData(steps, pcts[:, j, _MEDIAN])
        if (len(steps) < 3) != (median.opts["symbol"] is not None):  # a lone probe: show a dot
            median.setSymbol("o" if len(steps) < 3 else None)
            median.setSymbolBrush(median.opts["pen"].color())
            median.setSymbolPen(None)
            median.setSymbolSize(5)

    def clear_data(self) -> None:
        super().clear_data()
        self.median_curve.setData([], [])
        for fill in self.pct_fills:
            fill.set_band(np.zeros(0), np.zeros(0), np.zeros(0))
        self.mean_curve.setData([], [])
        self.std_curve.setData([], [])
        self.hist_row.clear()
        self._hist_items = []
        self._hist_names = []
        self._titles, self._hist_range, self._depth_ticks, self._hist_total = {}, None, None, None
        self._layer_names = []
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.blockSignals(False)
        self._snapshot = None
        self._rows = -1

    # ------------------------------------------------------------------ tests and export
    def histogram_items(self) -> dict[str, pg.PlotDataItem]:
        """Layer name -> its histogram item (x: bin edges, y: counts)."""
        return {name: item for name, _, item in self._hist_items}

    def csv_table(self) -> tuple[list[str], list[list]]:
        """The latest histograms: layer, bin_left, bin_right, count (every hidden layer)."""
        header = ["layer", "bin_left", "bin_right", "count"]
        rows: list[list] = []
        snap = self._snapshot
        for layer in (snap or {}).get("layers") or []:
            hist = layer.get("hist")
            if not hist:
                continue
            edges, counts = hist["edges"], hist["counts"]
            for k, c in enumerate(counts):
                rows.append([layer["name"], f"{edges[k]:.6g}", f"{edges[k + 1]:.6g}", int(c)])
        return header, rows


def _float(v) -> float:
    return np.nan if v is None else float(v)


def _num(v) -> str:
    return "–" if v is None else f"{float(v):.3g}"
