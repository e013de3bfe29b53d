"""The live charts of a sweep: every trial's loss curve overlaid, and the scatter of validation
accuracy over two keys. Items are made once (a curve per trial, when the trial starts) and fed with
setData; the tab calls `show_changes`/`redraw` at most once per frame with what changed.

    curves = LossCurves();  curves.show_changes(data, changes)
    scatter = TrialScatter();  scatter.set_keys(xparam, yparam);  scatter.redraw(data)
    scatter.box                   # the box dragged on it (plot coordinates), or None
    scatter.pointClicked(key)  scatter.pointDoubleClicked(key)  scatter.boxChanged()
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..plots.axes import LogAxis
from ..plots.theme import (BACKGROUND, BOLD_LINE, DASH, DOT_GLYPH, FOREGROUND, LINE, MUTED, TRAIN, pen, style_plot,
                           titled_key, with_alpha)
from .data import SweepData
from .scales import ScaleAxis, coord, coord_range

RUNNING = TRAIN
ENDED = "#8c8c8c"
FAILED = "#d62728"
ENDED_LINE, FAILED_LINE = "#c4c4c4", "#f2a9a9"   # the two as lines under the running ones
BEST = "#ff7f0e"
STAGE_SYMBOLS = ("o", "t", "s", "d", "p", "h", "star")   # stage 1, 2, ... (then repeated)
COLORMAP = pg.colormap.get("viridis")
SHADES = 16   # colours of accuracy on the scatter


class Chart(QWidget):
    """A pyqtgraph plot with its title and key in a label above it: a long title inside the plot
    would widen the plot past a narrow window (at 1280 x 720) and clip its right side."""

    def __init__(self, **plot_widget_args):
        super().__init__()
        self.title = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignCenter)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.view = pg.PlotWidget(background=BACKGROUND, **plot_widget_args)
        self.plot = self.view.getPlotItem()
        style_plot(self.plot, "", "", "")
        self.plot.setTitle(None)
        self.plot.setMenuEnabled(False)
        for side in ("top", "right"):   # hidden, but they would still rewrite their labels on every range change
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.title)
        lay.addWidget(self.view, 1)
        self.setStyleSheet(f"background: {BACKGROUND};")

    def set_title(self, html: str) -> None:
        self.title.setText(html)


def stage_symbol(stage: int) -> str:
    return STAGE_SYMBOLS[(stage - 1) % len(STAGE_SYMBOLS)]


class LossCurves(Chart):
    """Every trial's training loss (log y): running trials blue, ended grey, diverged red, and the
    best finished trial drawn again, thick and orange, on top.

    Three long-lived items hold the lines, one per kind, each every trial of its kind as one
    polyline broken by NaNs: a frame sets the running trials' item (and another kind's when a
    trial changed kind), not sixteen items, each with its own bounds and path to work out."""
    KINDS = {"running": (RUNNING, 2), "ended": (ENDED_LINE, 0), "failed": (FAILED_LINE, 1)}

    def __init__(self):
        super().__init__(axisItems={"left": LogAxis("left")})
        self.plot.setLabel("bottom", "step", color=FOREGROUND)
        self.plot.setLabel("left", "training loss", color=FOREGROUND)
        self.plot.setLogMode(y=True)
        self.items: dict[str, pg.PlotDataItem] = {}
        for kind, (colour, z) in self.KINDS.items():
            # opaque 1 px lines: blending, or a wider pen (Qt's stroker), cost several times more to paint
            item = pg.PlotDataItem(pen=pen(colour, 1.0), connect="finite")
            item.setZValue(z)
            self.plot.addItem(item)
            self.items[kind] = item
        self.best = pg.PlotDataItem(pen=pen(BEST, 2.5))
        self.best.setZValue(10)
        self.plot.addItem(self.best)
        self.best_key: tuple | None = None
        self.kind_of: dict[tuple, str] = {}   # every trial drawn, by the item that holds its line
        # the view moves only when a curve leaves it: steps 0..the trials' length, whole decades of
        # loss (an axis whose range changes every frame is laid out and labelled every frame)
        self.plot.disableAutoRange()
        self._extent: dict[str, tuple[float, float]] = {}
        self._view: tuple | None = None
        self._title(0, None)

    def clear_trials(self) -> None:
        for item in (*self.items.values(), self.best):
            item.setData([], [])
        self.kind_of.clear()
        self._extent.clear()
        self._view = None
        self.best_key = None

    def show_changes(self, data: SweepData, changes) -> None:
        dirty = set()
        for key in changes.curves | changes.rows:
            t = data.trials.get(key)
            if t is None:
                continue
            kind = "running" if t.status == "running" else "ended" if t.status == "finished" else "failed"
            old = self.kind_of.get(key)
            if old != kind:
                self.kind_of[key] = kind
                dirty.update({kind, old} - {None})
            if key in changes.curves:
                dirty.add(kind)
        for kind in dirty:
            self._fill(kind, data)
        if dirty:
            self._fit(max((spec.steps for spec in data.specs.values()), default=1))
        best = data.best() if changes.ended else (data.trials.get(self.best_key) if self.best_key else None)
        if best is not None and (changes.ended or best.key in changes.curves):
            self.best.setData(np.asarray(best.curve_steps, dtype=float), _positive(best.losses))
        elif best is None:
            self.best.setData([], [])
        self.best_key = best.key if best is not None else None
        if changes.ended or changes.rows:
            self._title(data.running(), best)

    def _fill(self, kind: str, data: SweepData) -> None:
        trials = [data.trials[k] for k, g in self.kind_of.items() if g == kind and k in data.trials]
        if not trials:
            self.items[kind].setData([], [])
            self._extent.pop(kind, None)
            return
        gap = [np.nan]
        x = np.concatenate([np.concatenate([np.asarray(t.curve_steps, dtype=float), gap]) for t in trials])
        y = np.concatenate([np.concatenate([_positive(t.losses), gap]) for t in trials])
        self.items[kind].setData(x, y)
        if np.isfinite(y).any():
            self._extent[kind] = (float(np.nanmin(y)), float(np.nanmax(y)))

    def _fit(self, steps: int) -> None:
        if not self._extent:
            return
        lo = min(a for a, _ in self._extent.values())
        hi = max(b for _, b in self._extent.values())
        view = (steps, math.floor(math.log10(lo)), max(math.ceil(math.log10(hi)), math.floor(math.log10(lo)) + 1))
        if view != self._view:
            self._view = view
            self.plot.setRange(xRange=(0, steps), yRange=view[1:], padding=0.02)

    def _title(self, running: int, best) -> None:
        self.set_title(titled_key("<b>Training loss of every trial</b>", [
            (LINE, RUNNING, f"running ({running})"), (LINE, ENDED, "ended"), (LINE, FAILED, "diverged"),
            (BOLD_LINE, BEST, f"best ({best.label})" if best is not None else "best")]))


def _positive(losses) -> np.ndarray:
    y = np.asarray(losses, dtype=float)
    return np.where(y > 0, y, np.nan)   # a log axis cannot hold 0


class _BoxViewBox(pg.ViewBox):
    """Left-drag draws a box (kept until the next drag or a click on empty space); the wheel and
    the right button still zoom."""
    boxDrawn = Signal(object)   # QRectF in plot coordinates, or None when cleared

    def __init__(self):
        super().__init__()
        self.box_item = QGraphicsRectItem()
        p = pen(FOREGROUND, 1.2, DASH)
        self.box_item.setPen(p)
        self.box_item.setBrush(pg.mkBrush(with_alpha(BEST, 30)))
        self.box_item.setZValue(20)
        self.box_item.hide()
        self.addItem(self.box_item, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt's name)
        if ev.button() != Qt.MouseButton.LeftButton or axis is not None:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        a, b = self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos())
        self.set_box(QRectF(a, b).normalized(), final=ev.isFinish())

    def set_box(self, rect: QRectF | None, final: bool = True) -> None:
        if rect is None:
            self.box_item.hide()
        else:
            self.box_item.setRect(rect)
            self.box_item.show()
        if final:
            self.boxDrawn.emit(rect)


class TrialScatter(Chart):
    """Final validation accuracy of the finished trials over two keys on their scales: colour is
    the accuracy, the mark is the stage, the best is ringed; diverged trials are grey crosses."""
    pointClicked = Signal(object)         # a trial key (stage, trial)
    pointDoubleClicked = Signal(object)
    boxChanged = Signal()

    def __init__(self):
        self.vb = _BoxViewBox()
        self.xaxis, self.yaxis = ScaleAxis("bottom"), ScaleAxis("left")
        super().__init__(viewBox=self.vb, axisItems={"bottom": self.xaxis, "left": self.yaxis})
        self.space = pg.PlotCurveItem(pen=pen(MUTED, 1, DASH))   # the last stage's range
        self.failed = pg.ScatterPlotItem(symbol="x", size=8, pen=None, brush=pg.mkBrush(with_alpha(ENDED, 160)))
        self._tips: dict[tuple, str] = {}
        self._shades = [pg.mkBrush(c) for c in COLORMAP.map(np.linspace(0, 1, SHADES), mode="qcolor")]
        self.points = pg.ScatterPlotItem(size=10, pen=pg.mkPen(FOREGROUND, width=0.6), hoverable=True,
                                         tip=lambda x, y, data: self._tips.get(tuple(data), ""))
        self.ring = pg.ScatterPlotItem(symbol="o", size=20, pen=pg.mkPen(FAILED, width=2.2), brush=None)
        for item in (self.space, self.failed, self.points, self.ring):
            self.plot.addItem(item)
        self.points.sigClicked.connect(self._clicked)
        self.vb.boxDrawn.connect(self._box_drawn)
        self.xparam = self.yparam = None
        self.box: QRectF | None = None
        self.acc_range: tuple[float, float] | None = None

    def set_keys(self, xparam, yparam) -> None:
        """The keys drawn (engine Params as SweepData.axis_param gives them); yparam None: the
        y axis is the validation accuracy itself."""
        self.xparam, self.yparam = xparam, yparam
        self.xaxis.set_param(xparam)
        self.yaxis.set_param(yparam)
        self.plot.setLabel("bottom", xparam.key if xparam else "", color=FOREGROUND)
        self.plot.setLabel("left", yparam.key if yparam else "validation accuracy", color=FOREGROUND)
        self.set_box(None)

    def set_box(self, rect: QRectF | None) -> None:
        """The refine box in plot coordinates (what a drag draws); None clears it."""
        self.vb.set_box(rect)

    def _box_drawn(self, rect) -> None:
        self.box = rect if rect is not None and rect.width() > 0 and rect.height() > 0 else None
        if self.box is None:
            self.vb.box_item.hide()
        self.boxChanged.emit()

    def _xy(self, t) -> tuple[float, float]:
        x = coord(self.xparam, t.params.get(self.xparam.key))
        y = coord(self.yparam, t.params.get(self.yparam.key)) if self.yparam else (t.val_acc if t.val_acc is not None else math.nan)
        return x, y

    def in_box(self, t) -> bool:
        if self.box is None or self.xparam is None:
            return False
        x, y = self._xy(t)
        return self.box.left() <= x <= self.box.right() and self.box.top() <= y <= self.box.bottom()

    def redraw(self, data: SweepData) -> None:
        if self.xparam is None:
            for item in (self.points, self.failed, self.ring):
                item.setData([], [])
            return
        done = data.finished()
        xy = np.array([self._xy(t) for t in done], dtype=float).reshape(-1, 2)
        accs = np.array([t.val_acc if t.val_acc is not None else math.nan for t in done], dtype=float)
        lo, hi = (float(np.nanmin(accs)), float(np.nanmax(accs))) if np.isfinite(accs).any() else (0.0, 1.0)
        self.acc_range = (lo, hi)
        span = hi - lo if hi > lo else 1.0
        # a few shades, not one per trial: pyqtgraph renders each (symbol, brush) once and reuses it
        shade = np.clip(np.nan_to_num((accs - lo) / span) * (SHADES - 1) + 0.5, 0, SHADES - 1).astype(int)
        brushes = [self._shades[i] for i in shade]
        self._tips = {t.key: f"trial {t.label}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                               for k, v in t.params.items())
                      + f"\nval acc {t.val_acc:.3f} (double-click: open in the dashboard)" for t in done}
        self.points.setData(x=xy[:, 0], y=xy[:, 1], brush=brushes, symbol=[stage_symbol(t.stage) for t in done],
                            data=[t.key for t in done])
        failed = [t for t in data.trials.values() if t.status in ("diverged", "pruned")]
        fxy = np.array([self._xy(t) for t in failed], dtype=float).reshape(-1, 2)
        if self.yparam is None:   # a diverged trial has no accuracy: drawn on the floor
            fxy[:, 1] = lo
        self.failed.setData(x=fxy[:, 0], y=fxy[:, 1])
        best = data.best()
        self.ring.setData(*([[v] for v in self._xy(best)] if best else ([], [])))
        last = data.specs.get(data.last_stage)
        if last and self.xparam.key in last.space and (self.yparam is None or self.yparam.key in last.space):
            (x0, x1) = _drawn_range(self.xparam, last.space[self.xparam.key])
            (y0, y1) = _drawn_range(self.yparam, last.space[self.yparam.key]) if self.yparam else (lo, hi)
            self.space.setData([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])
        else:
            self.space.setData([], [])
        stages = sorted({t.stage for t in done}) or [1]
        marks = [(_glyph(stage_symbol(s)), FOREGROUND, f"stage {s}") for s in stages]
        scale = [(DOT_GLYPH, COLORMAP.map(0.0, mode="qcolor").name(), f"{lo:.3f}"),
                 (DOT_GLYPH, COLORMAP.map(1.0, mode="qcolor").name(), f"{hi:.3f}")]
        self.set_title(titled_key(f"<b>Val accuracy</b> ({len(done)})", scale + marks
                                  + [("&#9711;", FAILED, "best"), ("&#10005;", ENDED, "diverged")]))

    def _clicked(self, _item, points, ev) -> None:
        if not len(points):
            return
        key = points[0].data()
        (self.pointDoubleClicked if ev.double() else self.pointClicked).emit(key)


def _drawn_range(axis_param, stage_param) -> tuple[float, float]:
    """A stage's range of a key on the axis of that key (a list key: the listed values' span)."""
    if stage_param.is_range:
        return coord_range(stage_param)
    idx = [coord(axis_param, v) for v in stage_param.choices]
    return min(idx) - 0.5, max(idx) + 0.5


def _glyph(symbol: str) -> str:
    return {"o": "&#9679;", "t": "&#9660;", "s": "&#9632;", "d": "&#9670;", "p": "&#11039;", "h": "&#11042;",
            "star": "&#9733;"}[symbol]
