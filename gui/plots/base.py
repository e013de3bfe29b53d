"""BasePlot: one chart group (a GraphicsLayoutWidget plus an optional control bar).

A subclass builds its plot items once in `build()` and feeds them in `update_data(history, full)`.
The base class owns what every chart shares: being fed only while shown (a hidden chart catches
up when shown), curves whose display data is computed once a frame, axis labels that fit, and,
from its mixins, event markers (gui/plots/markers.py) and exports with their context menu
(gui/plots/exports.py).
"""
from __future__ import annotations

import contextlib
import time
import weakref
from typing import Iterator

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from . import svgfix, theme
from .axes import LiveViewBox, LogAxis
from .exports import Exports
from .markers import Markers

svgfix.install()


class _TimedLayoutWidget(pg.GraphicsLayoutWidget):
    """A GraphicsLayoutWidget that adds up the seconds its paints take, so the controller can
    pace frames by what drawing really costs (the repaint happens after refresh, inside Qt)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.paint_seconds = 0.0

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        t = time.perf_counter()
        try:
            super().paintEvent(event)
        finally:
            self.paint_seconds += time.perf_counter() - t


class Curve(pg.PlotDataItem):
    """A PlotDataItem whose display data (clipped to the view, downsampled per pixel) can be
    recomputed once per frame: inside `Curve.deferred()` every setData and view-range change
    only marks the curve, and the display data is computed on leaving, from the final data and
    the final step range. Without it a frame recomputes each curve after its setData and again
    after every range change that follows (~0.4 ms each, several times per curve)."""

    _pending: set | None = None

    def updateItems(self, styleUpdate: bool = True) -> None:  # noqa: N802 (pyqtgraph's name)
        if Curve._pending is not None:
            Curve._pending.add(self)
            return
        super().updateItems(styleUpdate)

    @staticmethod
    @contextlib.contextmanager
    def deferred() -> Iterator[None]:
        if Curve._pending is not None:  # nested: the outer one flushes
            yield
            return
        Curve._pending = set()
        try:
            yield
        finally:
            pending, Curve._pending = Curve._pending, None
            for curve in pending:
                curve.updateItems()


class BasePlot(Markers, Exports, QtWidgets.QWidget):
    shown = QtCore.Signal(object)  # this chart, when its tab is shown (after catching up)
    name: str = ""
    title: str = ""
    default_export_size: tuple[int, int] = (900, 520)
    png_width = 1600   # PNG exports are drawn at least this wide (set_png_width)
    always_current = False  # True: drawn even while its tab is hidden

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(f"plot_{self.name}")
        self.glw = _TimedLayoutWidget()
        self.glw.setBackground(theme.BACKGROUND)
        self.glw.ci.setContentsMargins(4, 4, 12, 4)
        # the control bar has one height on every chart, so charts side by side line up
        self.bar_widget = QtWidgets.QWidget()
        self.bar_widget.setFixedHeight(30)
        self.bar = QtWidgets.QHBoxLayout(self.bar_widget)
        self.bar.setContentsMargins(8, 2, 8, 2)
        self.bar.setSpacing(8)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.bar_widget)
        layout.addWidget(self.glw, 1)
        self._history_ref: weakref.ref | None = None
        self._stale = False        # data arrived while hidden and is not drawn yet
        self._stale_full = False   # ... and cached row counts were invalidated meanwhile
        self._series: list[tuple[str, pg.PlotDataItem]] = []   # CSV columns, in order
        self._time_plots: list[pg.PlotItem] = []                # get event markers
        self._markers: list[tuple[pg.PlotItem, pg.InfiniteLine]] = []
        self._label_watch: set[pg.PlotItem] = set()              # plots whose labels follow their range
        self._events: list[dict] = []                            # events marked so far
        self.fixed_y: set[pg.PlotItem] = set()                   # time plots with a fixed 0..1 y range
        self._axis_labels: dict[pg.AxisItem, tuple] = {}         # axis -> (plot, text, short text, style)
        self._make_export_actions()
        self.build()
        self.cache_static_items()

    # ------------------------------------------------------------------ feeding
    def refresh(self, history, full: bool = False) -> None:
        """Feed new data and apply the new ranges."""
        if self.feed(history, full):
            self.settle()

    def feed(self, history, full: bool = False) -> bool:
        """Feed new data (ranges not applied: `settle`). A chart on a tab that is not shown
        (while the window is) only notes that it is behind and catches up when shown or
        exported. Returns whether it was fed."""
        self._history_ref = weakref.ref(history)
        self._stale_full = self._stale_full or full
        if not self.always_current and self.off_screen():
            self._stale = True
            return False
        full, self._stale, self._stale_full = self._stale_full, False, False
        self.update_data(history, full)
        return True

    def off_screen(self) -> bool:
        """On a tab not shown while the window is (drawn when shown: see showEvent)."""
        return self.window().isVisible() and not self.isVisible()

    def _catch_up(self, history) -> None:
        full, self._stale, self._stale_full = self._stale_full, False, False
        with Curve.deferred():
            self.update_data(history, full)
        self.settle()

    def take_paint_seconds(self) -> float:
        """Seconds spent painting this chart since the last call."""
        t, self.glw.paint_seconds = self.glw.paint_seconds, 0.0
        return t

    def ensure_current(self) -> None:
        """Draw anything a hidden chart skipped (before an export)."""
        history = self._history_ref() if self._history_ref is not None else None
        if self._stale and history is not None:
            self._catch_up(history)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.ensure_current()
        self.shown.emit(self)

    def refit_later(self) -> None:
        """The layout at the view's size again, after its minimum changed (a title or a legend
        laid out anew): the view sets the layout's size only when the view itself is resized, and
        never below the layout's minimum then, so a layout whose minimum shrank stayed too large
        for the view, cut at its edge."""
        QtCore.QTimer.singleShot(0, self, lambda: self.glw.ci.setGeometry(self.glw.range))

    def settle(self) -> None:
        """Apply pending auto-ranges now rather than lazily inside the next paint: a range set
        during a paint schedules a second paint of the whole view, every frame."""
        for item in self.glw.ci.items:
            vb = item.getViewBox() if isinstance(item, pg.PlotItem) else None
            if vb is not None:
                if getattr(vb, "_autoRangeNeedsUpdate", True):
                    vb.updateAutoRange()
                vb.updateMatrix()
        if self._markers:
            for plot in self._time_plots[:1]:   # (the only one with labels)
                self._layout_labels(plot)

    def redraw(self) -> None:
        """Draw again from the last history seen (a setting changed while nothing new arrived)."""
        history = self._history_ref() if self._history_ref is not None else None
        if history is not None:
            self.update_data(history, full=True)
            self.settle()

    def cache_static_items(self) -> None:
        """Axes and text labels (titles, legends) are painted once into a pixmap and blitted
        while unchanged: a frame repaints the whole chart, and replaying their text costs about
        as much as drawing the curves. Qt drops an item's pixmap when the item changes (an axis
        range, a new legend text). Exports paint the items afresh."""
        cache = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
        for item in self.glw.scene().items():
            # a LabelItem (a title, a legend) and an axis's title paint through a text child
            if isinstance(item, (pg.AxisItem, QtWidgets.QGraphicsTextItem)):
                item.setCacheMode(cache)

    # ------------------------------------------------------------------ for subclasses
    def build(self) -> None:
        """Create every plot item once."""

    def update_data(self, history, full: bool) -> None:
        """Feed the items from `history`; `full` when cached row counts are no longer valid."""

    def frame_key(self):
        """Something that changes whenever a refresh changed what this chart shows (besides the
        step range and the markers), or None: assume it always does."""
        return None

    def clear_data(self) -> None:
        """Empty every curve (a new run)."""
        for _, curve in self._series:
            curve.setData([], [])
        self._history_ref = None
        self._stale = self._stale_full = False

    def add_plot(self, row: int, col: int, title: str, xlabel: str, ylabel: str, *, time_based: bool = True,
                 log_y: bool = False, layout: pg.GraphicsLayout | None = None, short_ylabel: str | None = None,
                 **kw) -> pg.PlotItem:
        if log_y:
            kw.setdefault("axisItems", {"left": LogAxis(orientation="left")})
        kw.setdefault("viewBox", LiveViewBox())
        plot = (layout or self.glw.ci).addPlot(row=row, col=col, **kw)
        theme.style_plot(plot, title, xlabel, ylabel)
        if short_ylabel is not None:
            self.set_axis_label(plot, "left", ylabel, short_ylabel)
        if time_based and xlabel != "step":
            # (the step axis's title sets a minimum width: two plots side by side may not have it)
            self.set_axis_label(plot, "bottom", xlabel, "step")
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        if log_y:
            plot.setLogMode(x=False, y=True)
        if time_based:
            self._time_plots.append(plot)
            # the plot menu's per-curve transforms (log x, FFT, alpha, thinning, averaging) do not
            # apply to the step charts' curves (MultiLine, bands) or to one shared step axis
            ctrl = plot.ctrl
            for box in (ctrl.logXCheck, ctrl.fftCheck, ctrl.derivativeCheck, ctrl.phasemapCheck,
                        ctrl.subtractMeanCheck, ctrl.alphaGroup, ctrl.decimateGroup, ctrl.averageGroup):
                box.setEnabled(False)
                box.setToolTip("not for the step charts")
        return plot

    def set_axis_label(self, plot: pg.PlotItem, side: str, text: str, short: str, **style) -> None:
        """An axis title that says `short` where `text` would not fit along the axis (a chart a
        few hundred pixels high cuts a long rotated title at both ends)."""
        axis = plot.getAxis(side)
        if axis not in self._axis_labels:
            plot.getViewBox().sigResized.connect(lambda *_: self._fit_axis_label(axis))
        self._axis_labels[axis] = (plot, text, short, {"color": theme.FOREGROUND, "font-size": "9pt", **style})
        self._fit_axis_label(axis)

    def _fit_axis_label(self, axis: pg.AxisItem) -> None:
        plot, text, short, style = self._axis_labels[axis]
        vb = plot.getViewBox()
        room = vb.height() if axis.orientation in ("left", "right") else vb.width()
        chosen = text if _label_metrics().horizontalAdvance(text) <= room else short
        if axis.labelText != chosen or axis.labelStyle != style:
            axis.setLabel(chosen, **style)
            axis.resizeEvent()   # the title is centred there: a new text of the old width is not

    def add_curve(self, plot: pg.PlotItem, name: str, csv_name: str | None = None, **opts) -> pg.PlotDataItem:
        """A long-lived curve; fed later with setData. `csv_name` heads its CSV column (None: not exported)."""
        opts.setdefault("connect", "finite")
        # ~1 min/max pair per pixel (pyqtgraph's default draws ~5 samples per pixel): 200k-step
        # histories stay cheap to draw and peaks are kept
        opts.setdefault("autoDownsampleFactor", 1.0)
        method = opts.pop("downsample_method", "peak")
        curve = Curve(name=name, **opts)
        plot.addItem(curve)  # (applies the plot's downsampling mode: set this curve's after)
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method=method)
        if csv_name is not None:
            self.add_series(csv_name, curve)
        return curve

    def add_series(self, csv_name: str, curve) -> None:
        """A CSV column from a curve or a curve-like object (`xData`, `yData`)."""
        self._series.append((csv_name, curve))

    def add_note(self, text: str = "") -> QtWidgets.QLabel:
        """A grey note in the control bar that never widens the window: in a small font, on up to
        two lines, and whole in its tooltip."""
        note = _Note(text)
        note.setStyleSheet(f"color: {theme.MUTED}; font-size: 8pt")
        note.setWordWrap(True)
        note.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        note.setMinimumWidth(0)
        self.bar.addWidget(note, 1)
        return note

    def forget_curve(self, curve: pg.PlotDataItem) -> None:
        self._series = [(n, c) for n, c in self._series if c is not curve]

    def time_plots(self) -> list[pg.PlotItem]:
        return list(self._time_plots)

    def reset(self) -> None:
        """A new run: no markers, no data, and the y axes ranging over the new data again
        (the user may have zoomed; the step axis is handed back by the dashboard)."""
        self.clear_markers()
        self.clear_data()
        for plot in self._time_plots:
            if plot in self.fixed_y:
                plot.setYRange(0.0, 1.0, padding=0.02)
            else:
                plot.enableAutoRange(axis="y", enable=True)



class _Note(QtWidgets.QLabel):
    """A caption on at most two lines: cut short with "…" where the bar is too narrow for all of
    it (never cut mid-line by the bar's edge), and whole in its tooltip."""

    LINES = 2

    def __init__(self, text: str = ""):
        super().__init__()
        self._full = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = text
        self.setToolTip(text)
        self._fit()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        self.ensurePolished()   # (the style sheet's font size)
        width = self.contentsRect().width()
        metrics = QtGui.QFontMetrics(self.font())
        flags = int(QtCore.Qt.TextFlag.TextWordWrap)
        room = self.LINES * metrics.lineSpacing()

        def fits(t: str) -> bool:
            return metrics.boundingRect(QtCore.QRect(0, 0, max(width, 1), 10_000), flags, t).height() <= room
        text = self._full
        if width > 0 and not fits(text):
            words = text.split(" ")
            lo, hi = 0, len(words)           # the most words that fit with "…" after them
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(" ".join(words[:mid]) + "…") else (lo, mid - 1)
            text = " ".join(words[:lo]).rstrip(",;:") + "…"
        if super().text() != text:
            super().setText(text)


def _label_metrics() -> QtGui.QFontMetricsF:
    """Metrics of an axis title (9 pt, theme.style_plot)."""
    font = QtGui.QFont()
    font.setPointSizeF(9)
    return QtGui.QFontMetricsF(font)

