"""Activation distributions: the CS231n lecture figure, live.

Top row: one histogram per hidden layer (up to MAX_HISTOGRAMS, evenly spaced over depth), side
by side on one x scale and one count scale, or each over its own data ("each to its data", or a
double-click on one: see histograms.py), titled with the layer's mean and std. Bottom left: mean
and std across depth, the std on a log axis by default (a collapse by a factor per layer is a
straight line). Bottom right: one layer's distribution over time as nested percentile bands
(TensorBoard's distribution view: min–max, ±1.5σ, ±1σ, ±0.5σ percentiles and the median), the
layer picked in the combo box.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from . import theme
from .axes import LogAxis
from .bands import BandItem
from .base import BasePlot
from .histograms import HistogramRow
from .layers import hidden_indices, probe_steps
from .scalars import STEP_LABEL

MAX_HISTOGRAMS = 8  # deeper nets show this many, evenly spaced over depth (first and last kept)
# the newest probe's histograms are redrawn at most this often (a new one comes every few ms
# flat out: faster than an eye can read, and the costliest part of the tab's frame)
SNAPSHOT_SECONDS = 0.25
# band (lower, upper) indices into engine.train.probes.PERCENTILES, outermost first
_BANDS = ((0, 8), (1, 7), (2, 6), (3, 5))
_BAND_ALPHA = (35, 55, 80, 110)
_MEDIAN = 4


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
        self._snapshot_drawn_at = -math.inf
        self._rows = -1
        self._bands_stale = False  # the step range moved while off screen: bands binned for the old one
        self._layer_names: list[str] = []
        self._depth_ticks = None
        self._log_range: tuple[int, int] | None = None   # decades of the log std axis
        super().__init__(parent)
        # draws a snapshot held back by SNAPSHOT_SECONDS
        self._snapshot_timer = QtCore.QTimer(self, singleShot=True, timeout=self._draw_newest_snapshot)

    # ------------------------------------------------------------------ construction
    def build(self) -> None:
        ci = self.glw.ci
        row = ci.addLayout(row=0, col=0, colspan=2)
        row.setSpacing(2)
        self.histograms = HistogramRow(row, self.cache_static_items)   # (the new plots' axes too)
        self.glw.scene().sigMouseClicked.connect(self._clicked)
        # the legend is in the title: inside the plot it would cover the deepest layers' points
        self.depth_plot = self.add_plot(1, 0, "Across depth", "hidden layer (1 = nearest the input)",
                                        "activation value", time_based=False,
                                        axisItems={"left": LogAxis(orientation="left")})
        self.zero_line = pg.InfiniteLine(pos=0.0, angle=0, pen=theme.pen(theme.MUTED, 1, theme.DOT))
        self.depth_plot.addItem(self.zero_line, ignoreBounds=True)
        self.mean_curve = self.add_curve(self.depth_plot, "mean", None, pen=theme.pen(theme.FOREGROUND, 1.4),
                                         symbol="o", symbolSize=9, symbolPen=pg.mkPen(theme.FOREGROUND))
        self.std_curve = self.add_curve(self.depth_plot, "std", None, pen=theme.pen(theme.MUTED, 1.4, theme.DASH),
                                        symbol="s", symbolSize=8, symbolPen=pg.mkPen(theme.MUTED))
        for curve in (self.mean_curve, self.std_curve):  # a point per layer: never clip or thin out
            curve.setClipToView(False)
            curve.setDownsampling(auto=False)
        self.pct_plot = self.add_plot(1, 1, "Distribution over time", STEP_LABEL, "activation value",
                                      short_ylabel="value")
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

        self.zoom_check = QtWidgets.QCheckBox("each to its data")
        self.zoom_check.setToolTip(
            "on: each histogram over its own values' range, drawn from the layer's percentiles (its axis "
            "says how narrow it is); off: every layer on one shared range and count scale, as in the "
            "lecture's figure. Double-click a histogram to switch it alone.")
        self.zoom_check.toggled.connect(self.set_zoom_all)
        self.bar.addWidget(self.zoom_check)
        self.log_std_check = QtWidgets.QCheckBox("log std")
        self.log_std_check.setToolTip("the std across depth on a log axis: a spread that shrinks by the same "
                                      "factor at every layer is a straight line (the mean is shown when off)")
        self.log_std_check.setChecked(True)
        self.log_std_check.toggled.connect(self._set_depth_scale)
        self.bar.addWidget(self.log_std_check)
        self.bar.addSpacing(8)
        self.bar.addWidget(QtWidgets.QLabel("over time:"))
        self.layer_box = QtWidgets.QComboBox()
        self.layer_box.setMinimumWidth(110)
        self.layer_box.currentIndexChanged.connect(lambda _: self._layer_picked())
        self.bar.addWidget(self.layer_box)
        self.bar.addSpacing(12)
        self.add_note("bands: percentiles 30.9–69.1, 15.9–84.1, 6.7–93.3 and 0–100 "
                      "(±0.5σ, ±1σ, ±1.5σ of a normal; min–max), as TensorBoard draws them")
        self._style_percentiles(0, 1)
        self._set_depth_scale(True)

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

    # ------------------------------------------------------------------ feeding
    def update_data(self, history, full: bool) -> None:
        self._sync_layers(history.layer_names)
        snap = history.latest_snapshot
        if snap is not None and (full or snap is not self._snapshot):
            self._snapshot = snap
            wait = self._snapshot_drawn_at + SNAPSHOT_SECONDS - time.monotonic()
            if full or wait <= 0:
                self._draw_newest_snapshot()
            elif not self._snapshot_timer.isActive():
                self._snapshot_timer.start(int(wait * 1000) + 1)   # the newest by then: never left behind
        rows = history.probes.n if history.probes is not None else 0
        if full or rows != self._rows:
            self._rows = rows
            self._draw_percentiles(history)

    def _draw_newest_snapshot(self) -> None:
        self._snapshot_timer.stop()
        self._snapshot_drawn_at = time.monotonic()
        if self._snapshot is not None:
            self._draw_snapshot(self._snapshot)

    def show_snapshot(self, snap: dict) -> None:
        """Draw this snapshot's histograms (a recorded run's step scrubber, gui/runs)."""
        self._snapshot = snap
        self._draw_snapshot(snap)

    def _draw_snapshot(self, snap: dict) -> None:
        layers = [l for l in snap.get("layers") or [] if l.get("hist")]
        hidden = [l["name"] for l in layers]
        self.histograms.sync(hidden, shown_layers(len(hidden)), self._layer_names)
        self.histograms.draw(layers)
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
        if self.log_std_check.isChecked():
            stds = np.where(stds > 0, stds, np.nan)   # a log axis has no 0 (zero init): no point
            self._set_log_range(stds)
        self.std_curve.setData(x, stds, symbolBrush=[theme.with_alpha(b, 150) for b in brushes])

    def _set_log_range(self, stds: np.ndarray) -> None:
        """Whole decades around the stds: a log axis within one decade (1.1 to 1.5) has no tick
        to label, and the range moves only when a std leaves it."""
        pos = stds[np.isfinite(stds)]
        if not len(pos):
            return
        lo, hi = math.floor(math.log10(pos.min())), math.ceil(math.log10(pos.max()))
        rng = (lo, max(hi, lo + 1))
        if rng != self._log_range:
            self._log_range = rng
            self.depth_plot.setYRange(*rng, padding=0.05)   # (log10 units on a log axis)

    # ------------------------------------------------------------------ zoom and scales
    def set_zoom_all(self, on: bool) -> None:
        """Every histogram over its own data (on) or all on the shared range (off)."""
        if self.zoom_check.isChecked() != bool(on):
            self.zoom_check.setChecked(bool(on))   # comes back here
            return
        self.histograms.set_zoom_all(on)
        self._redraw_histograms()

    def set_zoomed(self, name: str, on: bool) -> None:
        """One layer's histogram over its own data (on) or the shared range (off)."""
        if (name in self.histograms.zoomed) != bool(on):
            self.histograms.toggle(name)
            self._redraw_histograms()

    def zoomed(self) -> set[str]:
        """The layers drawn over their own data."""
        return set(self.histograms.zoomed)

    def _clicked(self, event) -> None:
        if event.double():
            name = self.histograms.plot_at(event.scenePos())
            if name is not None:
                self.set_zoomed(name, name not in self.histograms.zoomed)

    def _redraw_histograms(self) -> None:
        if self._snapshot is not None:
            self._draw_snapshot(self._snapshot)

    def _set_depth_scale(self, log: bool) -> None:
        """Std on a log axis (mean hidden: it is often 0 or below) or both on a linear one."""
        self.depth_plot.setLogMode(y=bool(log))
        self.mean_curve.setLogMode(False, False)   # (hidden on the log axis; its values kept as they are)
        self.mean_curve.setVisible(not log)
        self.zero_line.setVisible(not log)
        entries = [(theme.DASHED + theme.SQUARE, theme.MUTED, "std (log)" if log else "std")]
        if not log:
            entries.insert(0, (theme.BOLD_LINE + theme.DOT_GLYPH, theme.FOREGROUND, "mean"))
        self.depth_plot.setTitle(theme.titled_key("Across depth", entries), color=theme.FOREGROUND, size="10pt")
        self.set_axis_label(self.depth_plot, "left", *(("activation std (log)", "std (log)") if log
                                                       else ("activation value", "value")))
        self.depth_plot.enableAutoRange(axis="y", enable=not log)   # (log: whole decades, _set_log_range)
        self._log_range = None
        self._redraw_histograms()

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
        self._snapshot_timer.stop()
        self._snapshot_drawn_at = -math.inf
        self.median_curve.setData([], [])
        for fill in self.pct_fills:
            fill.set_band(np.zeros(0), np.zeros(0), np.zeros(0))
        self.mean_curve.setData([], [])
        self.std_curve.setData([], [])
        self.histograms.clear()
        self._depth_ticks = self._log_range = None
        self._layer_names = []
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.blockSignals(False)
        self._snapshot = None
        self._snapshot_drawn_at = -math.inf
        self._rows = -1

    # ------------------------------------------------------------------ tests and export
    def histogram_items(self) -> dict[str, pg.PlotDataItem]:
        """Layer name -> its histogram item (x: bin edges, y: counts)."""
        return {name: item for name, _, item in self.histograms.items}

    def histogram_plots(self) -> dict[str, pg.PlotItem]:
        """Layer name -> the plot its histogram is drawn in."""
        return {name: plot for name, plot, _ in self.histograms.items}

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
