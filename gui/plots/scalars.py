"""Per-step scalar charts: loss and accuracy, raw (faint) plus TensorBoard-style smoothing.

The smoothing slider lives on the loss chart; the dashboard forwards its value to the accuracy
chart so both use one weight, as TensorBoard's single slider does.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from . import theme
from .axes import LogAxis
from .base import BasePlot
from .multiline import LineColumn, MultiLine
from .smoothing import IncrementalEma

DEFAULT_SMOOTHING = 0.6  # TensorBoard's default
STEP_LABEL = "step (optimizer updates)"
MAX_VAL_DOTS = 300
LR_POINTS = 4000        # the learning-rate line's points at most (a few per pixel of a wide chart)
LR_COLOUR = "#8c564b"   # brown: orange is taken by validation and the lr markers
LOSS_RESOLUTION = float(np.finfo(np.float32).eps) / 2  # ~6e-8: the smallest nonzero float32 cross-entropy
# a loss this many times its first value flattens everything before it on a linear axis: the
# loss chart switches to log y once, by itself (the lecture's "exploding" is 3x; a log axis pays
# off from about a decade and a half)
EXPLODED = 30.0
# ... of its first value or of ln 2, whichever is larger: a run continued from trained weights
# starts near zero, and its noise (1e-4 to 1e-2) is no explosion (ln 2: a coin's guess at two classes)
EXPLODED_FLOOR = float(np.log(2.0))


class _SmoothedScalarPlot(BasePlot):
    """Shared parts: a time plot, raw+smoothed train curve, validation points."""

    key = ""        # history.column key of the train curve
    val_key = ""    # history.val_column key
    ylabel = ""
    short_ylabel: str | None = None   # where the chart is too short for ylabel
    label = ""      # "loss" / "accuracy", used in curve names

    def __init__(self, parent=None):
        self._ema = IncrementalEma(DEFAULT_SMOOTHING)
        self._n = self._nv = 0
        super().__init__(parent)

    def build(self) -> None:
        self.plot = self.add_plot(0, 0, self.title, STEP_LABEL, self.ylabel, short_ylabel=self.short_ylabel,
                                  axisItems={"right": LogAxis(orientation="right")})
        self._build_lr_axis()
        self.set_key()
        # the train curves share the steps: one item draws them (see multiline.py)
        self.lines = MultiLine()
        self.lines.setColumns(self.line_pens())
        self.plot.addItem(self.lines)
        self.raw = LineColumn(self.lines, 0, f"train {self.label}")
        self.smooth = LineColumn(self.lines, 1, f"train {self.label} (smoothed)")
        self.add_series(f"train_{self.label}", self.raw)
        self.add_series(f"train_{self.label}_smoothed", self.smooth)
        self.val = self.add_curve(self.plot, f"val {self.label}", f"val_{self.label}",
                                  pen=theme.pen(theme.VAL, 1.2), symbol="o", symbolSize=5,
                                  symbolBrush=theme.VAL, symbolPen=None)
        # the averaged weights' validation (NaN while averaging is off: gaps)
        self.val_avg = self.add_curve(self.plot, f"val {self.label}, averaged weights", None,
                                      pen=theme.pen(theme.VAL_AVG, 2.0))
        # a line through the raw validation's dots: both stay visible where they meet (they often do)
        self.val_avg.setZValue(self.val.zValue() + 1)
        self._avg_shown = False  # the key and the CSV name the curve once it has a value

    def _build_lr_axis(self) -> None:
        """The learning rate per step on a log axis at the right: a view of its own over the
        plot's, sharing its steps (the same geometry, so linking x is exact)."""
        self.lr_view = pg.ViewBox(enableMenu=False)
        self.lr_view.setMouseEnabled(x=False, y=False)
        self.lr_view.setZValue(-5)   # under the curves' view: the train curves stay on top
        self.plot.scene().addItem(self.lr_view)
        self.lr_view.setXLink(self.plot.getViewBox())
        axis = self.plot.getAxis("right")
        self.plot.showAxis("right")
        axis.linkToView(self.lr_view)
        axis.setLogMode(True)
        axis.enableAutoSIPrefix(False)   # a "(x0.001)" on a log axis of rates misleads
        self.set_axis_label(self.plot, "right", "learning rate (log)", "lr (log)", color=LR_COLOUR)
        self.lr_curve = pg.PlotCurveItem(pen=theme.pen(LR_COLOUR, 1.4, theme.DASH, alpha=200), connect="finite")
        self.lr_view.addItem(self.lr_curve)
        self._lr_range: tuple[float, float] | None = None
        self.plot.getViewBox().sigResized.connect(self._place_lr_view)
        self._place_lr_view()

    def _place_lr_view(self, *_args) -> None:
        self.lr_view.setGeometry(self.plot.getViewBox().sceneBoundingRect())

    def _draw_lr(self, history) -> None:
        lr = history.column("lr")
        steps = history.column("step")
        # runs every frame over up to a million steps: the line keeps the steps where the rate
        # changes (a constant rate is two points), at most LR_POINTS of them
        # (a mask, not np.unique: that imports numpy.ma, a stall on the first frame of a run)
        changes = np.flatnonzero(np.diff(lr))
        ends = np.zeros(len(lr), bool)
        if len(lr):
            ends[[0, -1]] = True
        ends[changes] = ends[changes + 1] = True
        keep = np.flatnonzero(ends)
        if len(keep) > LR_POINTS:
            keep = np.linspace(0, len(lr) - 1, LR_POINTS).astype(np.int64)
        lr, steps = lr[keep], steps[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(lr > 0, np.log10(lr), np.nan)
        self.lr_curve.setData(steps, logs)
        finite = logs[np.isfinite(logs)]
        if not len(finite):
            return
        # whole decades around the rates used, so a constant rate sits mid-axis with labels
        rng = (float(np.floor(finite.min() - 0.5)), float(np.ceil(finite.max() + 0.5)))
        if rng != self._lr_range:
            self._lr_range = rng
            self.lr_view.setYRange(*rng, padding=0)

    def line_pens(self) -> list:
        """Pens of the raw and the smoothed train curve (and more in a subclass)."""
        return [theme.pen(theme.TRAIN, 1.0, alpha=70), theme.pen(theme.TRAIN, 2.0)]

    def line_data(self, history, steps, values, smoothed, full: bool) -> list[np.ndarray]:
        return [values, smoothed]

    def key_entries(self, short: bool = False) -> list[tuple[str, str, str]]:
        """The title's key: (glyph, colour, what); `short`: in fewer words, for a narrow chart."""
        return [(theme.LINE, theme.on_white(theme.TRAIN, 90), "train"),
                (theme.BOLD_LINE, theme.TRAIN, "smoothed" if short else "train, smoothed"),
                (theme.DOT_GLYPH, theme.VAL, "val." if short else "validation")] + (
                [(theme.BOLD_LINE, theme.VAL_AVG, "avg" if short else "val., averaged weights")]
                if getattr(self, "_avg_shown", False) else []) + [
                (theme.DASHED, LR_COLOUR, "lr" if short else "lr (right)")]

    def set_key(self) -> None:
        """The title and its key, in fewer words where the whole key would make the chart wider
        than its view (a title is never cut: it widens its plot, and the chart is cut instead)."""
        room = self.glw.width() - 120   # the axes either side and the margins
        text = theme.titled_key(self.title, self.key_entries())
        if theme.html_width(text, 10) > room:
            text = theme.titled_key(self.title, self.key_entries(short=True))
        if text != getattr(self, "_key_text", None):
            self._key_text = text
            self.plot.setTitle(text, color=theme.FOREGROUND, size="10pt")
            self.refit_later()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.set_key()

    @property
    def smoothing(self) -> float:
        return self._ema.weight

    def set_smoothing(self, weight: float) -> None:
        if weight == self._ema.weight:
            return
        self._ema.set_weight(weight)
        self.redraw()

    def update_data(self, history, full: bool) -> None:
        n = len(history)
        if full or n != self._n:
            steps = history.column("step")
            values = history.column(self.key)
            smoothed = self._shown(self._ema.update(values, rewritten=full))
            self.lines.setData(steps, self.line_data(history, steps, values, smoothed, full))
            self._draw_lr(history)
            self._n = n
        nv = history.val.n
        if full or nv != self._nv:
            # a dot per evaluation while they can be told apart; thousands of symbols cost more to
            # draw than every curve together, so a long run shows the line alone
            dots = nv <= MAX_VAL_DOTS
            if dots != (self.val.opts["symbol"] is not None):
                self.val.setSymbol("o" if dots else None)
            self.val.setData(history.val_column("step"), history.val_column(self.val_key))
            self._nv = nv
            avg = history.val_column(self.val_key + "_avg")
            if not self._avg_shown and np.isfinite(avg).any():   # drawn from the first averaged value on
                self._avg_shown = True
                self.add_series(f"val_{self.label}_avg", self.val_avg)
                self.set_key()
            if self._avg_shown:
                self.val_avg.setData(history.val_column("step"), avg)

    def _shown(self, smoothed: np.ndarray) -> np.ndarray:
        """The smoothed values as drawn (the loss chart floors them on a log axis)."""
        return smoothed

    def clear_data(self) -> None:
        super().clear_data()
        self._ema.reset()
        self.lr_curve.setData([], [])
        self._lr_range = None
        self._n = self._nv = 0
        if self._avg_shown:
            self._avg_shown = False
            self.forget_curve(self.val_avg)
            self.set_key()


class LossPlot(_SmoothedScalarPlot):
    name = "loss"
    title = "Loss"
    key = "loss"
    val_key = "val_loss"
    ylabel = "loss (cross-entropy, nats)"
    short_ylabel = "loss (nats)"
    label = "loss"
    smoothing_changed = QtCore.Signal(float)

    def build(self) -> None:
        self._data_shown = False  # before the base build draws the key
        self._data_ema = IncrementalEma(DEFAULT_SMOOTHING)
        super().build()
        # data loss vs total: shown (and exported) only once a regularisation term shows up
        self.data_loss = LineColumn(self.lines, 2, "data loss (smoothed)")
        self.data_loss.setVisible(False)

        self.bar.addWidget(QtWidgets.QLabel("smoothing"))
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, 999)
        self.slider.setValue(round(DEFAULT_SMOOTHING * 1000))
        self.slider.setFixedWidth(140)
        self.slider.setToolTip("TensorBoard-style debiased exponential moving average: "
                               "ema = w·ema + (1 − w)·x, divided by 1 − wⁱ⁺¹")
        self.smoothing_label = QtWidgets.QLabel(f"{DEFAULT_SMOOTHING:.3f}")
        self.smoothing_label.setMinimumWidth(40)
        self.log_box = QtWidgets.QCheckBox("log y")
        self.bar.addWidget(self.slider)
        self.bar.addWidget(self.smoothing_label)
        self.bar.addSpacing(12)
        self.bar.addWidget(self.log_box)
        self.explode_note = self.add_note()   # (takes the bar's free width)
        self._explode_checked = 0   # rows looked at for an exploding loss
        self._loss_first: float | None = None
        self.slider.valueChanged.connect(self._slider_moved)
        self.log_box.toggled.connect(self.set_log_y)

    def key_entries(self, short: bool = False) -> list[tuple[str, str, str]]:
        entries = super().key_entries(short)
        if self._data_shown:
            entries[1] = (theme.BOLD_LINE, theme.TRAIN, "total" if short else "total (data + L2), smoothed")
            entries.insert(2, (theme.DASHED, theme.DATA_LOSS, "data" if short else "data loss, smoothed"))
        return entries

    def _slider_moved(self, value: int) -> None:
        w = value / 1000.0
        self.smoothing_label.setText(f"{w:.3f}")
        self.set_smoothing(w)
        self.smoothing_changed.emit(w)

    def set_smoothing(self, weight: float) -> None:
        """Smoothing weight in [0, 0.999], in steps of 0.001 (the slider's)."""
        value = min(999, max(0, round(float(weight) * 1000)))
        if value != self.slider.value():
            self.slider.setValue(value)  # comes back here through _slider_moved
            return
        weight = value / 1000.0
        self._data_ema.set_weight(weight)
        super().set_smoothing(weight)

    def update_data(self, history, full: bool) -> None:
        super().update_data(history, full)
        if self._explode_checked is not None:
            self._watch_explosion(history)

    def _watch_explosion(self, history) -> None:
        """Switch to log y (once a run, and say so) when the loss exceeds EXPLODED times its first
        value (or ln 2): a wall up to 1e29 on a linear axis hides every step before it. Looks at new rows only."""
        values = history.column(self.key)[self._explode_checked:]
        steps = history.column("step")[self._explode_checked:]
        self._explode_checked += len(values)
        finite = np.isfinite(values)
        if not finite.any():
            return
        if self._loss_first is None:
            self._loss_first = float(values[finite][0])
        worst = int(np.nanargmax(np.where(finite, values, -np.inf)))
        if values[worst] > EXPLODED * max(self._loss_first, EXPLODED_FLOOR):
            self._explode_checked = None  # done for this run
            self.explode_note.setText(f"log y: the loss exploded to {values[worst]:.3g} (step {int(steps[worst])})")
            self.set_log_y(True)

    def set_log_y(self, on: bool) -> None:
        if self.log_box.isChecked() != on:
            self.log_box.setChecked(on)
        self.plot.setLogMode(x=False, y=bool(on))  # (the step axis keeps its range: StepAxis)
        self.redraw()  # the smoothed curve is floored on a log axis

    def _shown(self, smoothed: np.ndarray) -> np.ndarray:
        # A float32 cross-entropy below ~6e-8 is exactly 0 (the probability rounds to 1), and
        # overfitting a few examples gets there. A log axis cannot draw those zeros, and a moving
        # average of them falls towards 0 forever (1e-36 and below), squeezing the real curve into
        # the top of the chart: on a log axis the smoothed curve stops at that resolution.
        if self.log_box.isChecked():
            return np.maximum(smoothed, LOSS_RESOLUTION)
        return smoothed

    def line_pens(self) -> list:
        return super().line_pens() + [theme.pen(theme.DATA_LOSS, 1.6, theme.DASH)]

    def line_data(self, history, steps, values, smoothed, full: bool) -> list[np.ndarray]:
        if not self._data_shown:
            reg = history.column("reg_loss")
            if not (len(reg) and np.nanmax(reg[self._n:] if not full else reg, initial=0.0) > 0):
                return [values, smoothed, None]  # no data loss curve (yet)
            self.data_loss.setVisible(True)
            self._series.insert(2, ("data_loss_smoothed", self.data_loss))  # the CSV column after the total
            self._data_shown = True
            self.set_key()
            full = True
        data = self._shown(self._data_ema.update(history.column("data_loss"), rewritten=full))
        return [values, smoothed, data]

    def clear_data(self) -> None:
        super().clear_data()
        self._data_ema.reset()
        self._explode_checked, self._loss_first = 0, None
        self.explode_note.setText("")
        if self._data_shown:
            self.data_loss.setVisible(False)
            self.forget_curve(self.data_loss)
            self._data_shown = False
            self.set_key()


class AccuracyPlot(_SmoothedScalarPlot):
    name = "accuracy"
    title = "Accuracy"
    key = "train_acc"
    val_key = "val_acc"
    ylabel = "accuracy (fraction correct)"
    short_ylabel = "accuracy"
    label = "accuracy"

    def build(self) -> None:
        super().build()
        self.plot.setYRange(0.0, 1.0, padding=0.02)
        self.plot.enableAutoRange(axis="y", enable=False)
        self.fixed_y.add(self.plot)
        self.note = self.add_note(f"smoothing {DEFAULT_SMOOTHING:.3f} (slider on the loss chart)")

    def set_smoothing(self, weight: float) -> None:
        self.note.setText(f"smoothing {weight:.3f} (slider on the loss chart)")
        super().set_smoothing(weight)
