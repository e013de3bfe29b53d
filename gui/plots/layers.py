"""Per-layer time charts: update/weight-norm ratio, gradient norm, dead or saturated fraction.

One curve per layer, coloured by layer index (theme.layer_colour) on every chart. Curves are
rebuilt only when the layer names change (a new run with another depth), never per frame.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from engine.train import thresholds

from . import theme
from .base import BasePlot
from .multiline import LineColumn, MultiLine
from .scalars import STEP_LABEL

RATIO_GUIDE = 1e-3          # Karpathy's rule of thumb: updates ~1e-3 of the weights
HEALTHY_BAND = (1e-4, 1e-2)
STACK_HEIGHT = 360          # the gradient chart stacks its two plots from this height, else side by side


def hidden_indices(names: list[str]) -> list[int]:
    """Layers with activation statistics: every layer but the last (the output logits)."""
    return list(range(max(0, len(names) - 1)))


def probe_steps(history) -> np.ndarray:
    """Steps of the probe rows as a contiguous float64 (rows,) array."""
    return np.ascontiguousarray(history.layer_column("step"), dtype=np.float64)


def fraction_key(history) -> str:
    """'sat_frac' for tanh/sigmoid nets, 'dead_frac' for the ReLU family."""
    activation = (history.config or {}).get("activation")
    if activation is not None:
        return thresholds.fraction_key(activation)
    sat = history.layer_column("sat_frac")
    return "sat_frac" if sat.size and np.isfinite(sat).any() else "dead_frac"


class LayerCurves:
    """One curve per layer in one PlotItem, fed from the (rows, layers) history column `key`
    (which also names the curves in the CSV export). The curves are the columns of one
    MultiLine item (see multiline.py); `curves` lists them as (layer index, LineColumn)."""

    def __init__(self, owner: BasePlot, plot: pg.PlotItem, key: str, width: float = 1.6,
                 hidden_only: bool = False, legend: pg.LabelItem | None = None, undefined: str | None = None,
                 zero_floor: bool = False):
        self.owner, self.plot, self.key, self.legend = owner, plot, key, legend
        self.undefined = undefined  # said in the legend of a layer with no value lately (all NaN)
        self.width, self.hidden_only = width, hidden_only
        self.names: list[str] = []
        self.legend_rows = 14   # names per legend column (set_legend_rows: as many as the chart's height holds)
        self.curves: list[tuple[int, LineColumn]] = []
        self.lines = MultiLine()
        plot.addItem(self.lines)  # (takes the plot's log mode)
        self._zero: dict[int, str] = {}  # layers a log axis cannot draw, and why (said in the legend)
        # zero_floor: on a log axis a 0 (a step where no gradient reached a layer: dead ReLUs, a
        # re-init) would be a gap in the line; it is drawn on a dotted "0" line a decade below
        # the smallest value instead, so the line stays whole and the zeros are seen as zeros
        self.floor_line: pg.InfiniteLine | None = None
        if zero_floor:
            self.floor_line = pg.InfiniteLine(angle=0, movable=False, pen=theme.pen(theme.MUTED, 1.0, theme.DOT),
                                              label="0", labelOpts={"position": 0.01, "color": theme.MUTED,
                                                                    "anchors": [(0, 1), (0, 1)]})
            self.floor_line.setVisible(False)
            plot.addItem(self.floor_line, ignoreBounds=True)

    def sync(self, names: list[str]) -> bool:
        """Make one curve per layer if the layers changed. Returns True when rebuilt."""
        if names == self.names:
            return False
        self.clear()
        self.names = list(names)
        indices = list(hidden_indices(names) if self.hidden_only else range(len(names)))
        self.lines.setColumns([theme.pen(theme.layer_colour(j, len(names)), self.width) for j in indices], indices)
        for k, j in enumerate(indices):
            column = LineColumn(self.lines, k, names[j])
            self.owner.add_series(f"{names[j]} {self.key}", column)
            self.curves.append((j, column))
        self._zero = {}
        self._set_legend()
        return True

    def set_legend_rows(self, rows: int) -> bool:
        """Names per legend column; whether that changed the legend."""
        if rows == self.legend_rows:
            return False
        self.legend_rows = rows
        self._set_legend()
        return self.legend is not None

    def _set_legend(self) -> None:
        if self.legend is not None:
            names = self.names
            self.legend.setText(theme.legend_html(
                [(names[j] + self._zero.get(j, ""),
                  theme.layer_colour(j, len(names))) for j, _ in self.curves], self.legend_rows))

    def set(self, steps: np.ndarray, matrix: np.ndarray) -> None:
        self.lines.setDots(len(steps) < 3)  # a dot per point while there are too few for a line
        self.lines.setData(steps, matrix)
        self._set_floor(matrix)
        if self.plot.getAxis("left").logMode and matrix.ndim == 2 and len(matrix):
            # a log axis cannot draw 0 (all-zero weights or gradients, e.g. zeros init): a layer whose
            # recent values are all 0 says so in the legend instead of vanishing without a word
            recent = matrix[-min(len(matrix), 20):]
            zero = {}
            for j, _ in self.curves:
                if j >= matrix.shape[1]:
                    continue
                if np.all(recent[:, j] == 0):
                    zero[j] = " = 0 (the dotted 0 line)" if self.floor_line is not None else " = 0 (off the log axis)"
                elif self.undefined and np.all(np.isnan(recent[:, j])):
                    zero[j] = f" {self.undefined}"
            if zero != self._zero:
                self._zero = zero
                self._set_legend()

    def _set_floor(self, matrix: np.ndarray) -> None:
        """On a log axis, zeros among positive values are drawn on the floor line (see __init__);
        the data (and the CSV) keep their zeros."""
        if self.floor_line is None:
            return
        zeros = matrix == 0
        positive = matrix[matrix > 0] if self.plot.getAxis("left").logMode and zeros.any() else np.empty(0)
        if not positive.size:
            self.floor_line.setVisible(False)
            self.lines.set_log_floor(None)
            return
        floor = math.floor(math.log10(float(positive.min()))) - 1   # a decade below, in log10 units
        self.floor_line.setPos(floor)
        self.floor_line.setVisible(True)
        self.lines.set_log_floor(floor)

    def clear(self) -> None:
        if self.floor_line is not None:
            self.floor_line.setVisible(False)
            self.lines.set_log_floor(None)
        for _, curve in self.curves:
            self.owner.forget_curve(curve)
        self.curves.clear()
        self.lines.setColumns([])
        self.lines.clear()
        self.names = []
        if self.legend is not None:
            self.legend.setText("")


class _LayerTimePlot(BasePlot):
    """Per-layer curves over time (`curve_sets`, made in build), redrawn when the probe row count
    (or the layers) changed."""

    def __init__(self, parent=None):
        self._rows = -1
        self.frame_generation = 0
        self.curve_sets: list[LayerCurves] = []
        super().__init__(parent)
        self.glw.ci.geometryChanged.connect(self.fit_to_height)

    def fit_to_height(self) -> None:
        """Legends in as many columns as the chart's height needs: a name that does not fit is cut."""
        line = QtGui.QFontMetrics(theme.legend_font()).lineSpacing() + 2   # (the table's cell padding)
        rows = max(2, int((self.glw.ci.geometry().height() - 12) // line))
        if any([c.set_legend_rows(rows) for c in self.curve_sets]):   # (a list: every set)
            self.refit_later()

    def update_data(self, history, full: bool) -> None:
        rows = history.probes.n if history.probes is not None else 0
        rebuilt = self.sync_layers(history)
        if not (full or rebuilt or rows != self._rows):
            return
        self._rows = rows
        self.frame_generation += 1  # a full redraw with as many rows is still a change
        self.draw(history, probe_steps(history))

    def frame_key(self):
        return self.frame_generation

    def sync_layers(self, history) -> bool:
        return any([c.sync(history.layer_names) for c in self.curve_sets])  # a list: sync them all

    def draw(self, history, steps: np.ndarray) -> None:
        for c in self.curve_sets:
            c.set(steps, history.layer_column(c.key))

    def clear_data(self) -> None:
        self._rows = -1
        super().clear_data()
        for c in self.curve_sets:
            c.clear()


class UpdateRatioPlot(_LayerTimePlot):
    name = "update_ratio"
    title = "Update / weight-norm ratio"

    def build(self) -> None:
        self.plot = self.add_plot(0, 0, "Update ratio per layer  ‖ΔW‖ / ‖W‖", STEP_LABEL,
                                  "‖ΔW‖ / ‖W‖ per step (log)", log_y=True, short_ylabel="‖ΔW‖/‖W‖ (log)")
        lo, hi = HEALTHY_BAND
        # InfiniteLine/LinearRegionItem are not log-aware: in log mode their positions are log10
        self.band = pg.LinearRegionItem(values=(np.log10(lo), np.log10(hi)), orientation="horizontal",
                                        movable=False, brush=pg.mkBrush(theme.HEALTHY), pen=pg.mkPen(None))
        self.band.setZValue(-20)
        self.guide = pg.InfiniteLine(pos=np.log10(RATIO_GUIDE), angle=0, movable=False,
                                     pen=theme.pen("#2b2b2b", 1.0, theme.DASH, alpha=170),
                                     label="1e-3", labelOpts={"position": 0.02, "color": theme.MUTED,
                                                              "anchors": [(0, 1), (0, 1)]})
        self.plot.addItem(self.band, ignoreBounds=True)
        self.plot.addItem(self.guide, ignoreBounds=True)
        # an invisible item spanning the band keeps it in the auto-range, so a ratio far from
        # healthy is seen next to the band rather than alone on an unlabelled scale
        # (a transparent pen, not None: pyqtgraph counts only drawn curves in the auto-range)
        self.bounds = pg.PlotDataItem([], [], pen=pg.mkPen(0, 0, 0, 0))
        self.plot.addItem(self.bounds)
        self.legend = theme.legend_label()
        self.glw.ci.addItem(self.legend, row=0, col=1)
        # the probes give no ratio for all-zero weights
        self.layers = LayerCurves(self, self.plot, "update_ratio", legend=self.legend, undefined="n/a: ‖W‖ = 0")
        self.curve_sets = [self.layers]
        self.note = self.add_note("‖W after − W before‖ / ‖W before‖ across each optimizer step; "
                      "rule of thumb ≈ 1e-3, shaded band 1e-4 … 1e-2")

    def draw(self, history, steps: np.ndarray) -> None:
        super().draw(history, steps)
        if len(steps):
            self.bounds.setData([steps[0], steps[0]], list(HEALTHY_BAND))

    def clear_data(self) -> None:
        super().clear_data()
        self.bounds.setData([], [])


class GradientPlot(_LayerTimePlot):
    name = "gradients"
    title = "Gradients"

    def build(self) -> None:
        self.norm_plot = self.add_plot(0, 0, "Gradient norm per layer  ‖∇W‖", STEP_LABEL,
                                       "‖∇W‖ (log)", log_y=True)
        self.frac_plot = self.add_plot(1, 0, "Dead fraction per hidden layer", STEP_LABEL, "fraction")
        self.frac_plot.setYRange(0.0, 1.0, padding=0.02)
        # three labels read at any height (six overlap on a short chart)
        self.frac_plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")], [(0.25, ""), (0.75, "")]])
        self.frac_plot.enableAutoRange(axis="y", enable=False)
        self.fixed_y.add(self.frac_plot)
        self.legend = theme.legend_label()
        self.glw.ci.addItem(self.legend, row=0, col=1, rowspan=2)
        self.side_by_side = False
        self.norms = LayerCurves(self, self.norm_plot, "grad_norm", legend=self.legend, zero_floor=True)
        self.fracs = LayerCurves(self, self.frac_plot, "dead_frac", hidden_only=True)
        self.curve_sets = [self.norms, self.fracs]
        self.note = self.add_note()
        self._set_frac_key("dead_frac")

    def fit_to_height(self) -> None:
        """Norms above fractions where the chart is tall enough for both to read, else side by
        side (a short chart stacked gave each plot a few dozen pixels: no readable y axis)."""
        side = self.glw.ci.geometry().height() < STACK_HEIGHT
        if side != self.side_by_side:
            self.side_by_side = side
            ci = self.glw.ci
            for item in (self.norm_plot, self.frac_plot, self.legend):
                ci.removeItem(item)
            ci.addItem(self.norm_plot, row=0, col=0)
            ci.addItem(self.frac_plot, row=0 if side else 1, col=1 if side else 0)
            ci.addItem(self.legend, row=0, col=2 if side else 1, rowspan=1 if side else 2)
            # norms span decades: stacked, they get more of the height than the fraction
            rows, cols = ((1, 0), (1, 1, 0)) if side else ((3, 2), (1, 0, 0))
            for i, stretch in enumerate(rows):
                ci.layout.setRowStretchFactor(i, stretch)
            for i, stretch in enumerate(cols):
                ci.layout.setColumnStretchFactor(i, stretch)
            # stacked, the fraction plot below says the steps: two more rows of data instead
            self.norm_plot.getAxis("bottom").showLabel(side)
            self._set_titles()
            self.refit_later()
        super().fit_to_height()

    def extra_exports(self) -> dict[str, pg.PlotItem]:
        return {"saturated_fraction" if self.frac_key == "sat_frac" else "dead_fraction": self.frac_plot}

    @property
    def frac_key(self) -> str:
        return self.fracs.key

    def _set_frac_key(self, key: str) -> None:
        self.fracs.key = key
        self.note.setText("saturated: tanh |a| > 0.99, sigmoid a < 0.01 or > 0.99" if key == "sat_frac"
                          else "dead: ReLU-family outputs ≤ 0")
        self._set_titles()

    def _set_titles(self) -> None:
        """Side by side, each plot has half the width: the titles in fewer words (a title is
        never cut: it widens its plot, and two long ones pushed the legend out of view)."""
        kind = "Saturated fraction" if self.frac_key == "sat_frac" else "Dead fraction"
        norm, frac = (("Gradient norm", kind) if self.side_by_side else
                      ("Gradient norm per layer  ‖∇W‖", f"{kind} per hidden layer"))
        self.norm_plot.setTitle(norm, color=theme.FOREGROUND, size="10pt")
        self.frac_plot.setTitle(frac, color=theme.FOREGROUND, size="10pt")

    def sync_layers(self, history) -> bool:
        key = fraction_key(history)
        if key != self.frac_key:
            self._set_frac_key(key)
            self.fracs.clear()  # curves named after the old key: made again by the sync
        return super().sync_layers(history)
