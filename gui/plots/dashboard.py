"""Dashboard: every chart of a run, fed from the GUI-side History at ~30 Hz.

    dash = Dashboard()
    dash.refresh(history)          # after new data was appended (GUI thread); cheap when nothing changed
    dash.reset()                   # a new run
    dash.export_all(folder)        # <name>.png/.svg/.csv per chart + dashboard.png

Tabs: "Training" (loss, accuracy, update ratio, gradients in a 2×2 grid) and "Activations".
Every time-based plot shares the step axis (X linked to the loss plot) and shows a labelled
vertical line for each event of kind lr, reinit, optimizer, bn, diverged and error.
"""
from __future__ import annotations

import time
import weakref
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from engine.fileio import atomic_path

from . import theme
from .activations import ActivationsPlot
from .axes import StepAxis
from .base import BasePlot, Curve
from .layers import GradientPlot, UpdateRatioPlot
from .scalars import AccuracyPlot, LossPlot

PLOT_NAMES = ("loss", "accuracy", "update_ratio", "activations", "gradients")
_GAP = 8          # pixels between charts in the composite image
_HEADER = 34      # title strip of the composite image
_AHEAD = 0.08     # the step axis reaches this share of the run's length past the newest step,
_AHEAD_S = 1.0    # ... or about this many seconds of training, early in a run (at most _MAX_AHEAD)
_MAX_AHEAD = 0.5
_HOLD = QtWidgets.QGraphicsView.ViewportUpdateMode.NoViewportUpdate
_MINIMAL = QtWidgets.QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate  # pyqtgraph's own
# a real timer, not 0: Qt 6 runs a 0 ms single shot as a posted event, ahead of any timer due
_TURN_MS = 1


class Dashboard(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.loss = LossPlot()
        self.accuracy = AccuracyPlot()
        self.update_ratio = UpdateRatioPlot()
        self.gradients = GradientPlot()
        self.activations = ActivationsPlot()
        self._plots: dict[str, BasePlot] = {p.name: p for p in (
            self.loss, self.accuracy, self.update_ratio, self.activations, self.gradients)}

        training = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(training)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setSpacing(4)
        grid.addWidget(self.loss, 0, 0)
        grid.addWidget(self.accuracy, 0, 1)
        grid.addWidget(self.update_ratio, 1, 0)
        grid.addWidget(self.gradients, 1, 1)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(training, "Training")
        self.tabs.addTab(self.activations, "Activations")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

        # one step axis: set once per frame from the history on every shown time plot
        self.step_axis = StepAxis()
        for plot in self._plots.values():
            for item in plot.time_plots():
                self.step_axis.add(item)
            plot.shown.connect(self._plot_shown)
        self.loss.smoothing_changed.connect(self.accuracy.set_smoothing)

        self._history: weakref.ref | None = None
        self._seen: tuple[int, int] | None = None   # (version, generation) last drawn
        self._events_seen = 0
        self._marked: list[dict] = []
        # chart views whose repaint waits for its own turn of the event loop (see _stagger)
        self._held: list[QtWidgets.QGraphicsView] = []
        self._releasing = False
        self._frame_keys: dict[str, tuple] = {}
        self._moved: tuple[float, float] | None = None  # (time, newest step) of the last step-range move
        self._ahead = 0.0                                # steps the range reached past the newest then

    # ------------------------------------------------------------------ interface
    def plot_widgets(self) -> dict[str, BasePlot]:
        return dict(self._plots)

    def reset(self) -> None:
        """Clear every curve and marker (a new run)."""
        for plot in self._plots.values():
            plot.reset()
        self.step_axis.lead()
        self._moved, self._ahead = None, 0.0
        self._history = None
        self._seen = None
        self._events_seen = 0
        self._marked = []

    def refresh(self, history) -> None:
        """Draw what is new in `history` since the last call (GUI thread, ~30 Hz)."""
        same = self._history is not None and self._history() is history
        key = (history.version, history.generation)
        if same and key == self._seen:
            return  # nothing changed: the common case when paused
        if not same and self._history is not None:
            self.reset()  # another run's store: start over rather than mix the two
        full = not same or self._seen is None or key[1] != self._seen[1]
        self._history = weakref.ref(history)
        self._seen = key
        self._add_markers(history)
        # every curve's display data is computed once, after its data and the step range are set
        with Curve.deferred():
            shown = [p for p in self._plots.values() if p.feed(history, full)]
            steps = history.column("step")
            if len(steps):
                # a marker past the data (the step that diverged is never stored) stays in view
                last = max(float(steps[-1]), float(self._marked[-1]["step"]) if self._marked else 0.0)
                self.step_axis.follow(*self._step_range(float(steps[0]), last, history.total_steps),
                                      [item.getViewBox() for p in shown for item in p.time_plots()])
        for plot in shown:
            plot.settle()
        self._stagger(shown)

    def _stagger(self, shown: list[BasePlot]) -> None:
        """Repaint the charts fed this frame one per turn of the event loop.

        Qt repaints every dirty widget of a window in one go, right after the refresh: on the
        Training tab that is four charts, ~4 ms each on a busy 2-core machine, on top of the
        refresh, and nothing else (a slider, a click, a timer) runs meanwhile. Each chart's view
        stops turning scene changes into repaints (NoViewportUpdate: it still paints when Qt
        asks, for an expose or a grab, from the current scene) and is handed back, with one full
        repaint, one per turn of a 1 ms timer, so the event loop runs between them; every chart still
        shows the same frame within a few milliseconds."""
        moved = (self.step_axis.range, len(self._marked))
        for plot in shown:
            key = (moved, plot.frame_key())
            if key[1] is not None and self._frame_keys.get(plot.name) == key:
                continue  # nothing new on it: no repaint at all
            self._frame_keys[plot.name] = key
            view = plot.glw
            if view not in self._held:
                view.setViewportUpdateMode(_HOLD)
                self._held.append(view)
        if self._held and not self._releasing:
            self._releasing = True
            QtCore.QTimer.singleShot(_TURN_MS, self, self._release_one)

    def _release_one(self) -> None:
        if self._held:
            view = self._held.pop(0)
            try:
                view.setViewportUpdateMode(_MINIMAL)
                view.viewport().update()  # the frame it held back
            except RuntimeError:  # its window was closed meanwhile
                pass
        if self._held:
            QtCore.QTimer.singleShot(_TURN_MS, self, self._release_one)
        else:
            self._releasing = False

    def _step_range(self, first: float, last: float, total: int | None = None) -> tuple[float, float]:
        """The step range to show: the current one while it still holds the newest step with
        room to spare, else one reaching _AHEAD of the run's length past it, or as many steps
        as the run trained in the last _AHEAD_S seconds if that is more (early in a run; at
        most _MAX_AHEAD of its length). A range that changes every frame makes every axis
        regenerate its ticks and every curve clip and thin out its data again (about half of a
        frame); this changes it every ~8 % of the run, and about once a second at most early on.
        It never reaches more than 2 % of the span past the run's last step (`total`, if known)."""
        span = max(last - first, 1.0)
        current = self.step_axis.range
        if (current is not None and self.step_axis.following and current[0] <= first
                and last + 0.005 * span <= current[1] <= last + max(1.5 * _AHEAD * span, self._ahead)):
            return current
        now = time.monotonic()
        ahead = _AHEAD * span
        if self._moved is not None and now > self._moved[0] and last > self._moved[1]:
            rate = (last - self._moved[1]) / (now - self._moved[0])
            ahead = max(ahead, min(_MAX_AHEAD * span, rate * _AHEAD_S))
        if total and total >= last:
            ahead = min(ahead, total - last + 0.02 * span)
        self._moved, self._ahead = (now, last), ahead
        return first - 0.02 * span, last + ahead

    def _plot_shown(self, plot: BasePlot) -> None:
        """A chart on a tab shown again: the step range it missed."""
        with Curve.deferred():
            self.step_axis.catch_up([item.getViewBox() for item in plot.time_plots()])
        plot.settle()

    def take_paint_seconds(self) -> float:
        """Seconds the charts spent painting since the last call (the controller paces frames by it)."""
        return sum(p.take_paint_seconds() for p in self._plots.values())

    def _add_markers(self, history) -> None:
        events = history.events
        if len(events) < self._events_seen:  # the store was cleared under us
            for plot in self._plots.values():
                plot.clear_markers()
            self._events_seen = 0
            self._marked = []
        for event in events[self._events_seen:]:
            if event.get("event") in theme.MARKED_EVENTS:
                self._marked.append(event)
                for plot in self._plots.values():
                    plot.add_marker(event)
        self._events_seen = len(events)

    def marker_count(self) -> int:
        """Distinct events drawn as markers (each is a line on every time-based plot)."""
        return len(self._marked)

    @property
    def smoothing(self) -> float:
        return self.loss.smoothing

    def set_smoothing(self, weight: float) -> None:
        self.loss.set_smoothing(weight)

    # ------------------------------------------------------------------ export
    def _bring_all_current(self) -> None:
        """Before an export: charts on a tab never shown get the data and the step range they
        skipped (and the activations their percentile bands, binned for that range)."""
        for plot in self._plots.values():
            plot.ensure_current()      # the data it skipped
            self._plot_shown(plot)     # the step range: moves the view...
            plot.ensure_current()      # ...so what is binned per pixel (the bands) is binned again

    def render_image(self) -> QtGui.QImage:
        """All charts in one image (hidden tabs included): loss | accuracy, update ratio |
        gradients, activations across the bottom, under a one-line title."""
        self._bring_all_current()
        # each chart one pixel per layout unit: the composite's own size, whatever the PNG width
        images = {name: self._plots[name].render_image(self._plots[name].export_size())
                  for name in ("loss", "accuracy", "update_ratio", "gradients")}
        rows = [[images["loss"], images["accuracy"]], [images["update_ratio"], images["gradients"]]]
        # the activations strip as wide as the rows above it
        width = max(sum(i.width() for i in r) + _GAP * (len(r) - 1) for r in rows)
        rows.append([self.activations.render_image((width, self.activations.export_size()[1]))])
        row_w = [sum(i.width() for i in r) + _GAP * (len(r) - 1) for r in rows]
        row_h = [max(i.height() for i in r) for r in rows]
        width = max(row_w) + 2 * _GAP
        height = _HEADER + sum(row_h) + _GAP * (len(rows) + 1)
        canvas = QtGui.QImage(width, height, QtGui.QImage.Format.Format_ARGB32)
        canvas.fill(QtGui.QColor(theme.BACKGROUND))
        painter = QtGui.QPainter(canvas)
        try:
            painter.setPen(QtGui.QColor(theme.FOREGROUND))
            font = QtGui.QFont()
            font.setPointSizeF(11)
            font.setBold(True)
            painter.setFont(font)
            painter.drawText(QtCore.QRect(_GAP, 0, width - 2 * _GAP, _HEADER),
                             int(QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft),
                             self._caption())
            y = _HEADER + _GAP
            for r, w, h in zip(rows, row_w, row_h):
                x = _GAP + (width - 2 * _GAP - w) // 2
                for image in r:
                    painter.drawImage(x, y, image)
                    x += image.width() + _GAP
                y += h + _GAP
        finally:
            painter.end()
        return canvas

    def _caption(self) -> str:
        history = self._history() if self._history is not None else None
        if history is None:
            return "babysit"
        cfg = history.config or {}
        parts = [f"step {history.last_step}" if len(history) else "no steps yet"]
        if cfg:  # the settings the run started with (changes since are the markers)
            lr = cfg.get("lr")
            parts.append(f"{cfg.get('dataset')} · depth {cfg.get('depth')} × width {cfg.get('width')} "
                         f"{cfg.get('activation')}{' + BN' if cfg.get('bn') else ''} · init {cfg.get('init')} · "
                         f"{cfg.get('optimizer')}" + (f", lr {lr:g} at start" if isinstance(lr, (int, float)) else ""))
        return "babysit — " + " · ".join(parts)

    def export_dashboard_png(self, path) -> Path:
        """ONE PNG image of all charts together."""
        path = Path(path)
        image = self.render_image()
        with atomic_path(path, suffix=".png") as tmp:
            if not image.save(str(tmp), "PNG"):
                raise OSError(f"could not write PNG image {path}")
        return path

    def set_png_width(self, width: int) -> None:
        """The width of every chart's PNG export (at least 300 px; 1600 by default)."""
        for plot in self._plots.values():
            plot.set_png_width(width)

    def export_all(self, directory) -> list[Path]:
        """<name>.png, <name>.svg, <name>.csv for every chart, a PNG and SVG of the dead (or
        saturated) fraction alone, plus dashboard.png."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._bring_all_current()
        written: list[Path] = []
        for name, plot in self._plots.items():
            written.append(plot.export_png(directory / f"{name}.png"))
            written.append(plot.export_svg(directory / f"{name}.svg"))
            written.append(plot.export_csv(directory / f"{name}.csv"))
            for stem, item in plot.extra_exports().items():
                written.append(plot.export_png(directory / f"{stem}.png", item=item))
                written.append(plot.export_svg(directory / f"{stem}.svg", item=item))
        written.append(self.export_dashboard_png(directory / "dashboard.png"))
        return written
