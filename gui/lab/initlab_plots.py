"""The init lab's figure: one activation histogram per hidden layer, in as many rows as the width
needs, above the mean, the std and the saturated/zero fraction across depth.

InitLabPlots is a part of InitLabPanel (gui/lab/initlab_panel.py), which makes the figure once,
when first shown or drawn (ensure_plots), and hands it each run_initlab result to draw (_draw). The histograms share one x
range, or each shows its own data's range ("zoom to data", or a double-click on one); the std
is on a log axis while the panel's "log std" box is ticked. It reads the panel's controls
(act_combo, zoom_check, log_check), `result`, `n` and writes its status line.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from engine.train.config import STD_INITS
from engine.train.thresholds import SATURATION, fraction_key

from ..plots import theme

MIN_HIST_WIDTH = 110      # pixels per histogram; narrower windows wrap them onto more rows


class InitLabPlots:
    """The histograms and the across-depth plots of InitLabPanel (a mixin: a QWidget part)."""

    def _init_plots(self) -> None:
        self._hist_items: list[tuple[pg.PlotItem, pg.PlotDataItem]] = []
        self._columns = 0
        self._zoomed: set[int] = set()   # histograms drawn over their own data's range
        self.glw = None                  # the charts, made when first shown or drawn (ensure_plots)

    def ensure_plots(self) -> None:
        """Make the charts now if they are not yet: a tab nobody opens costs the window's start nothing."""
        if self.glw is None:
            self._build_plots()

    def _build_plots(self) -> None:
        # two scenes: the histogram row's column widths then depend on its plots only
        self.hist_glw = pg.GraphicsLayoutWidget()
        self.hist_glw.setBackground(theme.BACKGROUND)
        self.hist_layout = self.hist_glw.ci
        self.hist_layout.setSpacing(2)
        self.hist_glw.scene().sigMouseClicked.connect(self._hist_clicked)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(theme.BACKGROUND)
        self.layout().addWidget(self.hist_glw, 3)
        self.layout().addWidget(self.glw, 2)
        bottom = []
        for col, (title, ylabel) in enumerate((("Mean across depth", "activation mean"),
                                               ("Std across depth", "activation std"),
                                               ("Saturated / zero fraction", "fraction of outputs"))):
            p = self.glw.ci.addPlot(row=0, col=col)
            theme.style_plot(p, title, "hidden layer", ylabel)
            bottom.append(p)
        self.mean_plot, self.std_plot, self.frac_plot = bottom
        self.mean_plot.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=theme.pen(theme.MUTED, 1, theme.DOT)))
        self.frac_plot.setYRange(0, 1.02, padding=0)
        self.frac_plot.enableAutoRange(axis="y", enable=False)
        sym = dict(symbol="o", symbolSize=7)
        self.mean_curve = self.mean_plot.plot(pen=theme.pen(theme.TRAIN, 1.6), symbolBrush=theme.TRAIN,
                                              symbolPen=theme.TRAIN, name="mean", **sym)
        self.std_curve = self.std_plot.plot(pen=theme.pen(theme.VAL, 1.6), symbolBrush=theme.VAL,
                                            symbolPen=theme.VAL, name="std", **sym)
        self.frac_curve = self.frac_plot.plot(pen=theme.pen("#d62728", 1.6), symbolBrush="#d62728",
                                              symbolPen="#d62728", name="fraction", **sym)

    def _draw(self, result: dict) -> None:
        self.ensure_plots()
        layers = result["layers"]
        act = result.get("activation", self.act_combo.currentText())
        self._ensure_hist_plots(len(layers))
        self._draw_histograms()
        x = np.arange(1, len(layers) + 1, dtype=np.float64)
        means = np.array([l["act_mean"] for l in layers], dtype=np.float64)
        self.mean_curve.setData(x, means)
        # y ranges include 0, so noise-sized wiggles (tanh N(0,1): std 0.9815..0.982) read as flat
        lo, hi = min(0.0, means.min()), max(0.0, means.max())
        half = max(hi - lo, 0.1) * 0.6
        self.mean_plot.setYRange((lo + hi) / 2 - half, (lo + hi) / 2 + half, padding=0)
        stds = np.array([l["act_std"] for l in layers], dtype=np.float64)
        self._stds = stds
        self._set_std_curve()
        key = fraction_key(act)
        fracs = [l.get(key) for l in layers]
        self.frac_curve.setData(x, [np.nan if f is None else f for f in fracs])
        self.frac_plot.setTitle("Saturated fraction (|a| near its limits)" if act in SATURATION
                                else "Zero fraction (outputs ≤ 0)", color=theme.FOREGROUND, size="10pt")
        for p in (self.mean_plot, self.std_plot, self.frac_plot):
            p.setXRange(0.5, len(layers) + 0.5, padding=0)
            p.getAxis("bottom").setTicks([[(float(i), str(i)) for i in range(1, len(layers) + 1)]])
        self.status.setText(self._summary(result, stds, fracs, key))

    def set_zoom_all(self, on: bool) -> None:
        """Every histogram over its own data's range (on) or over the range they share (off)."""
        if self.zoom_check.isChecked() != bool(on):
            self.zoom_check.setChecked(bool(on))   # comes back here
            return
        self._zoomed = set(range(len(self._hist_items))) if on else set()
        self._draw_histograms()

    def set_zoomed(self, index: int, on: bool) -> None:
        """Histogram `index` (0-based) over its own data's range (on) or the shared one."""
        (self._zoomed.add if on else self._zoomed.discard)(index)
        self._draw_histograms()

    def zoomed(self, index: int) -> bool:
        return index in self._zoomed

    def _hist_clicked(self, event) -> None:
        if not event.double():
            return
        for i, (plot, _) in enumerate(self._hist_items):
            if plot.sceneBoundingRect().contains(event.scenePos()):
                self.set_zoomed(i, i not in self._zoomed)
                return

    def _draw_histograms(self) -> None:
        if self.result is None:
            return
        for i, ((plot, curve), layer) in enumerate(zip(self._hist_items, self.result["layers"])):
            hist = layer["zoom"] if i in self._zoomed and layer.get("zoom") else layer["hist"]
            edges = np.asarray(hist["edges"], dtype=np.float64)
            counts = np.asarray(hist["counts"], dtype=np.float64)
            curve.setData(edges, counts)
            zoom = " (zoomed)" if hist is not layer["hist"] else ""
            plot.setTitle(f"{layer['name']}{zoom}<br><span style='font-size:8pt'>μ {layer['act_mean']:.2g}  "
                          f"σ {layer['act_std']:.2g}</span>", color=theme.FOREGROUND, size="9pt")
            plot.titleLabel.setMaximumHeight(38)     # setTitle fixes the row at 30 px: one line only
            plot.layout.setRowFixedHeight(0, 38)
            plot.setXRange(edges[0], edges[-1], padding=0.08)
            # each layer on its own y scale, as in the lecture's figure: a spike and a spread both fill it
            plot.setYRange(0, max(counts.max(), 1) * 1.05, padding=0)
            plot.getAxis("bottom").setTicks([[(float(v), f"{v:.2g}") for v in _nice_ticks(edges[0], edges[-1])]])

    def _set_std_curve(self, *_args) -> None:
        stds = getattr(self, "_stds", None)
        if self.glw is None:
            return          # drawn with the log box's state when the charts are made
        log = self.log_check.isChecked()
        self.std_plot.setLogMode(y=log)
        if stds is None:
            return
        # a log axis cannot show 0; only zero init gives exactly 0
        self.std_curve.setData(np.arange(1, len(stds) + 1, dtype=np.float64), np.maximum(stds, 1e-30) if log else stds)
        if log:
            # whole decades (a log axis over 0.969..0.971 would show no tick labels at all)
            pos = stds[stds > 0]
            lo = math.floor(math.log10(pos.min())) if pos.size else -1
            hi = math.ceil(math.log10(pos.max())) if pos.size else 0
            self.std_plot.setYRange(lo, max(hi, lo + 1), padding=0.02)   # log10 units in log mode
        else:
            self.std_plot.setYRange(0, max(float(stds.max()), 1e-12) * 1.15, padding=0)

    def columns_for(self, n: int) -> int:
        """Histograms per row for n layers at the current width: as many as fit MIN_HIST_WIDTH
        pixels, the rows then filled evenly (10 layers, room for 8: two rows of 5)."""
        fit = max(1, int(self.hist_glw.width() - 12) // MIN_HIST_WIDTH)
        rows = math.ceil(n / min(n, fit))
        return math.ceil(n / rows)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        n = len(self._hist_items)
        if n and self.columns_for(n) != self._columns:
            self._ensure_hist_plots(n, force=True)
            self._draw_histograms()

    def _ensure_hist_plots(self, n: int, force: bool = False) -> None:
        if len(self._hist_items) == n and not force:
            return
        self.hist_layout.clear()
        self._hist_items = []
        cols = self._columns = self.columns_for(n)
        if self.zoom_check.isChecked():
            self._zoomed = set(range(n))
        else:
            self._zoomed = {i for i in self._zoomed if i < n}
        brush = theme.with_alpha(theme.TRAIN, 150)
        for i in range(n):
            # styled before it joins the layout: an axis narrowed afterwards kept its old width
            plot = pg.PlotItem()
            plot.setTitle(" ")   # the title row exists before the plot is laid out (see _draw)
            plot.titleLabel.setMaximumHeight(38)
            plot.layout.setRowFixedHeight(0, 38)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            left = plot.getAxis("left")
            left.setStyle(showValues=False)
            left.setWidth(6)
            for side in ("left", "bottom"):
                plot.getAxis(side).setPen(pg.mkPen(theme.FOREGROUND))
                plot.getAxis(side).setTextPen(pg.mkPen(theme.FOREGROUND))
            curve = plot.plot(stepMode="center", fillLevel=0, brush=brush, pen=theme.pen(theme.TRAIN, 1))
            self.hist_layout.addItem(plot, row=i // cols, col=i % cols)
            self._hist_items.append((plot, curve))
        for c in range(self.hist_layout.layout.columnCount()):
            self.hist_layout.layout.setColumnStretchFactor(c, 1 if c < cols else 0)

    def _summary(self, result: dict, stds: np.ndarray, fracs: list, key: str) -> str:
        init = result.get("init", "")
        std_txt = f" (std {result['init_std']:g})" if init in STD_INITS else ""
        head = (f"{result.get('depth', len(stds))} x {result.get('width', '')} {result.get('activation', '')}, "
                f"init {init}{std_txt}{', batch norm' if result.get('bn') else ''}, "
                f"{result.get('n', self.n)} unit-gaussian inputs.")
        first, last = float(stds[0]), float(stds[-1])
        ratio = last / first if first > 0 else math.nan
        words = f" Std {first:.3g} in layer 1, {last:.3g} in layer {len(stds)}"
        words += f" ({ratio:.2g}x)." if math.isfinite(ratio) else "."  # (no ratio to a layer 1 of std 0)
        known = [f for f in fracs if f is not None]
        if known:
            what = "saturated" if key == "sat_frac" else "at or below zero"
            words += f" Up to {100 * max(known):.0f}% of a layer's outputs {what}."
        return head + words


def _nice_ticks(lo: float, hi: float) -> list[float]:
    """Round ticks for a narrow histogram: 0 when inside, and on each side of it the largest
    single-digit multiple of a power of ten within the range (e.g. 0 and 4 for 0..4.4)."""
    def inner(x: float) -> float:
        base = 10 ** math.floor(math.log10(x))
        return max(k * base for k in range(1, 10) if k * base <= x * (1 + 1e-9))

    ticks = [0.0] if lo <= 0.0 <= hi else []
    if hi > 0:
        ticks.append(inner(hi))
    if lo < 0:
        ticks.append(-inner(-lo))
    return sorted(set(ticks))

