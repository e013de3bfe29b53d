"""Optimizer race: torch.optim optimizers on a 2-D loss surface, drawn step by step (lecture 7).

    panel = RacePanel(surface="taco", optimizers=("sgd", "momentum", "adam"))
    panel.show()                 # races on first show, and again (debounced) on every change
    panel.raced.connect(...)     # (result) engine.lab.surfaces.race's output, once it is drawn
    panel.show_step(k)           # every trajectory and loss curve up to step k (the slider does this)

The race and the surface's log-spaced contour lines are computed in a worker thread
(race_job.compute), then animated by a QTimer that feeds long-lived items with setData: one
trajectory and one loss curve per optimizer, one scatter of the current points. Click the
contour plot to start the race from there.
"""
from __future__ import annotations

import math
import queue
import threading

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine.train.config import OPTIMIZERS

from ..plots import theme
from ..widgets import FloatEdit, set_invalid
from .clicks import clicked_point
from .jobs import post_outcome
from .race_job import LEVELS, compute

# engine.lab.surfaces imports torch: its surfaces' names are mirrored so building the panel stays light
SURFACES = {"taco": "taco shell", "saddle": "saddle point", "local_minimum": "local minimum",
            "rosenbrock": "Rosenbrock's valley"}
ANIM_MS = 30
ANIM_TICKS = 120         # a race of any length plays in about ANIM_TICKS frames
LOG_FLOOR = 1e-12        # the loss plot's log axis shows exact zeros here


class RacePanel(QtWidgets.QWidget):
    """Controls on the left; the contour plot with trajectories and loss vs step on the right."""

    raced = QtCore.Signal(dict)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, surface: str = "taco",
                 optimizers=("sgd", "momentum", "adam"), steps: int = 150):
        super().__init__(parent)
        self.result: dict | None = None
        self.error: str | None = None
        self.frame = 0
        self._shown_once = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._pending: dict | None = None
        self._defaults: dict | None = None     # the drawn surface's own lrs and start
        self._build_controls(surface, optimizers, steps)
        self._plots_built = False   # made by the first race (the first show): a hidden tab costs the window nothing
        self._poller = QtCore.QTimer(self, interval=30)
        self._poller.timeout.connect(self._poll)
        self._anim = QtCore.QTimer(self, interval=ANIM_MS)
        self._anim.timeout.connect(self._tick)
        self._debounce = QtCore.QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self.race)

    # ------------------------------------------------------------------ construction
    def _build_controls(self, surface: str, optimizers, steps: int) -> None:
        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        side = QtWidgets.QWidget()
        side.setMaximumWidth(270)
        form = QtWidgets.QFormLayout(side)
        form.setContentsMargins(0, 0, 0, 0)
        self.surface_combo = QtWidgets.QComboBox()
        for key, title in SURFACES.items():
            self.surface_combo.addItem(title, key)
        self.surface_combo.setCurrentIndex(list(SURFACES).index(surface))
        form.addRow("surface", self.surface_combo)
        self.condition_spin = QtWidgets.QDoubleSpinBox(minimum=1, maximum=10_000, value=100, decimals=0, singleStep=10)
        self.condition_spin.setToolTip("taco shell: the steep curvature over the shallow one")
        form.addRow("condition", self.condition_spin)
        self.noise_spin = QtWidgets.QDoubleSpinBox(minimum=0, maximum=10, value=0, decimals=3, singleStep=0.05)
        self.noise_spin.setToolTip("gradient noise std per coordinate, as a minibatch gives (seeded alike for all)")
        form.addRow("gradient noise", self.noise_spin)
        start = QtWidgets.QHBoxLayout()
        self.x_spin, self.y_spin = (QtWidgets.QDoubleSpinBox(minimum=-100, maximum=100, decimals=3, singleStep=0.1)
                                    for _ in range(2))
        for spin in (self.x_spin, self.y_spin):
            spin.setToolTip("the common start; or click the contour plot")
            start.addWidget(spin)
        form.addRow("start x, y", start)
        self.steps_spin = QtWidgets.QSpinBox(minimum=5, maximum=2000, value=int(steps), singleStep=50)
        form.addRow("steps", self.steps_spin)
        box = QtWidgets.QGroupBox("optimizers and learning rates")
        grid = QtWidgets.QGridLayout(box)
        self.checks: dict[str, QtWidgets.QCheckBox] = {}
        self.lr_edits: dict[str, FloatEdit] = {}
        for i, name in enumerate(OPTIMIZERS):
            check = QtWidgets.QCheckBox(name)
            check.setChecked(name in optimizers)
            colour = theme.layer_colour(i, len(OPTIMIZERS)).name()
            check.setStyleSheet(f"QCheckBox {{ color: {colour}; font-weight: bold; }}")
            edit = FloatEdit(None)
            edit.setMaximumWidth(80)
            grid.addWidget(check, i, 0)
            grid.addWidget(edit, i, 1)
            self.checks[name], self.lr_edits[name] = check, edit
        form.addRow(box)
        buttons = QtWidgets.QHBoxLayout()
        self.race_button = QtWidgets.QPushButton("Race")
        self.race_button.setToolTip("run the race again and play it")
        self.replay_button = QtWidgets.QPushButton("Replay")
        buttons.addWidget(self.race_button)
        buttons.addWidget(self.replay_button)
        form.addRow(buttons)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {theme.MUTED};")
        form.addRow(self.status)
        scroll = QtWidgets.QScrollArea()  # the controls scroll at a short window instead of heightening it
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(min(side.sizeHint().width(), side.maximumWidth())
                             + scroll.verticalScrollBar().sizeHint().width() + 2)
        outer.addWidget(scroll)
        self._plots_box = QtWidgets.QVBoxLayout()
        outer.addLayout(self._plots_box, 1)

        self.surface_combo.currentIndexChanged.connect(self._surface_changed)
        for spin in (self.condition_spin, self.noise_spin, self.x_spin, self.y_spin, self.steps_spin):
            spin.valueChanged.connect(self._changed)
        for name in OPTIMIZERS:
            self.checks[name].toggled.connect(self._changed)
            self.lr_edits[name].textEdited.connect(self._changed)
        self.race_button.clicked.connect(self.race)
        self.replay_button.clicked.connect(self.replay)
        self._sync_condition()

    def _ensure_plots(self) -> None:
        if not self._plots_built:
            self._plots_built = True
            self._build_plots()

    def _build_plots(self) -> None:
        glw = pg.GraphicsLayoutWidget()
        glw.setBackground(theme.BACKGROUND)
        self.contour_plot = glw.addPlot(0, 0)
        theme.style_plot(self.contour_plot, "Loss surface", "x", "y")
        self.loss_plot = glw.addPlot(0, 1)
        theme.style_plot(self.loss_plot, "Loss vs step", "step", "loss (log scale)")
        self.loss_plot.setLogMode(x=False, y=True)
        glw.ci.layout.setColumnStretchFactor(0, 3)
        glw.ci.layout.setColumnStretchFactor(1, 2)
        cmap = pg.colormap.get("viridis")
        self.contour_items = [self.contour_plot.plot(pen=theme.pen(cmap.map(0.9 * i / (LEVELS - 1), mode="qcolor"), 1),
                                                     connect="finite") for i in range(LEVELS)]
        self.minima_item = pg.ScatterPlotItem(symbol="star", size=14, brush=pg.mkBrush("#222222"), pen=None)
        self.start_item = pg.ScatterPlotItem(symbol="o", size=11, brush=None, pen=pg.mkPen("#222222", width=2))
        self.contour_plot.addItem(self.minima_item)
        self.contour_plot.addItem(self.start_item)
        # bottom left: every loss curve starts top left and falls to the right
        self.legend = self.loss_plot.addLegend(offset=(10, -10), labelTextColor=theme.FOREGROUND,
                                               brush=pg.mkBrush(255, 255, 255, 215))
        self.paths: dict[str, pg.PlotDataItem] = {}
        self.losses: dict[str, pg.PlotDataItem] = {}
        for i, name in enumerate(OPTIMIZERS):
            colour = theme.layer_colour(i, len(OPTIMIZERS))
            self.paths[name] = self.contour_plot.plot(pen=theme.pen(colour, 2), symbol="o", symbolSize=4,
                                                      symbolPen=None, symbolBrush=colour)
            self.losses[name] = self.loss_plot.plot(pen=theme.pen(colour, 2))
        self.heads = pg.ScatterPlotItem(size=11, pen=pg.mkPen("w", width=1.5))
        self.contour_plot.addItem(self.heads)
        self.step_line = pg.InfiniteLine(angle=90, pen=theme.pen(theme.MUTED, 1, theme.DASH))
        self.loss_plot.addItem(self.step_line, ignoreBounds=True)
        self.contour_plot.scene().sigMouseClicked.connect(self._clicked)
        self._plots_box.addWidget(glw, 1)
        row = QtWidgets.QHBoxLayout()
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setToolTip("scrub through the race")
        self.slider.valueChanged.connect(self._scrubbed)
        self.step_label = QtWidgets.QLabel("step 0")
        self.step_label.setMinimumWidth(110)
        row.addWidget(self.slider, 1)
        row.addWidget(self.step_label)
        self._plots_box.addLayout(row)

    # ------------------------------------------------------------------ settings
    @property
    def surface(self) -> str:
        return self.surface_combo.currentData()

    def selected(self) -> list[str]:
        return [n for n in OPTIMIZERS if self.checks[n].isChecked()]

    def set_surface(self, name: str) -> None:
        self.surface_combo.setCurrentIndex(list(SURFACES).index(name))

    def set_optimizers(self, names) -> None:
        for n in OPTIMIZERS:
            blocked = self.checks[n].blockSignals(True)
            self.checks[n].setChecked(n in names)
            self.checks[n].blockSignals(blocked)
        self._changed()

    def set_lr(self, name: str, lr: float) -> None:
        self.lr_edits[name].set_value(lr)
        self._changed()

    def set_start(self, x: float, y: float) -> None:
        for spin, v in ((self.x_spin, x), (self.y_spin, y)):
            blocked = spin.blockSignals(True)
            spin.setValue(v)
            spin.blockSignals(blocked)
        self._changed()

    def _surface_changed(self) -> None:
        # learning rates and start belong to a surface (Rosenbrock's gradients are 100x the taco's)
        self._defaults = None
        for edit in self.lr_edits.values():
            edit.set_value(None)
        self._sync_condition()
        self._changed()

    def _sync_condition(self) -> None:
        self.condition_spin.setEnabled(self.surface == "taco")

    def _changed(self, *_args) -> None:
        if self._shown_once:
            self._debounce.start()

    def settings(self) -> dict | str:
        """The race's arguments, or a message naming the first bad field."""
        lrs = {}
        for name in self.selected():
            edit = self.lr_edits[name]
            value = edit.value()
            if not edit.text().strip():
                set_invalid(edit, None)
                continue
            if not isinstance(value, float) or not math.isfinite(value) or value <= 0:
                set_invalid(edit, "a learning rate is a number > 0")
                return f"the learning rate of {name} must be a number > 0 (got {edit.text()!r})"
            set_invalid(edit, None)
            lrs[name] = value
        if not self.selected():
            return "tick at least one optimizer"
        start = (self.x_spin.value(), self.y_spin.value()) if self._defaults is not None else None
        return dict(surface=self.surface, condition=self.condition_spin.value(), optimizers=self.selected(),
                    lrs=lrs, start=start, steps=self.steps_spin.value(), noise=self.noise_spin.value())

    # ------------------------------------------------------------------ running
    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.race()

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def race(self) -> bool:
        """Run the race with the current settings in a worker thread (the newest request wins)."""
        self._shown_once = True
        self._ensure_plots()
        args = self.settings()
        if isinstance(args, str):
            self._show_error(args)
            return False
        if self.running:
            self._pending = args
            return True
        self._start(args)
        return True

    def _start(self, args: dict) -> None:
        self._pending = None
        self.status.setText("racing…")
        self._worker = threading.Thread(target=post_outcome, args=(self._queue, "the race", lambda: compute(**args)),
                                        name="babysit-race", daemon=True)
        self._worker.start()
        self._poller.start()

    def _poll(self) -> None:
        try:
            kind, payload = self._queue.get_nowait()
        except queue.Empty:
            return
        if self._pending is not None:   # settings changed meanwhile: this result is stale
            self._start(self._pending)
            return
        self._poller.stop()
        if kind == "error":
            self._show_error(payload)
        else:
            self._draw(payload)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.status.setText(f"<span style='color:#b52b27'>{message}</span>")

    # ------------------------------------------------------------------ drawing
    def _draw(self, result: dict) -> None:
        self.result, self.error = result, None
        if self._defaults is None:   # a new surface: its own learning rates and start appear in the fields
            self._defaults = {"lrs": result["default_lrs"], "start": result["default_start"]}
            self.set_start(*result["default_start"])
            self._debounce.stop()
        for name, edit in self.lr_edits.items():
            edit.setPlaceholderText(f"{result['default_lrs'][name]:g}")
        for item, (_level, x, y) in zip(self.contour_items, result["contours"]):
            item.setData(x, y, connect="finite")
        x0, x1, y0, y1 = result["bounds"]
        self.contour_plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        self.contour_plot.setTitle(f"{result['title']}" + (f", gradient noise {result['noise']:g}" if result["noise"] else ""),
                                   color=theme.FOREGROUND, size="10pt")
        self.minima_item.setData(pos=np.asarray(result["minima"], dtype=np.float64))
        self.start_item.setData(pos=np.asarray([result["start"]], dtype=np.float64))
        self.legend.clear()
        racing = {r["optimizer"] for r in result["runs"]}
        for name in OPTIMIZERS:
            if name not in racing:
                self.paths[name].setData([], [])
                self.losses[name].setData([], [])
        for run in result["runs"]:
            end = f", diverged at step {run['diverged_at']}" if run["diverged_at"] else ""
            self.legend.addItem(self.losses[run["optimizer"]], f"{run['optimizer']} lr {run['lr']:g}{end}")
        self.slider.blockSignals(True)
        self.slider.setRange(0, result["steps"])
        self.slider.blockSignals(False)
        self.loss_plot.setXRange(0, result["steps"], padding=0.02)
        finals = ", ".join(f"{r['optimizer']} {r['loss'][-1]:.3g}" for r in result["runs"])
        self.status.setText(f"final loss: {finals}. Drag the slider to scrub; click the plot to start elsewhere.")
        self.raced.emit(result)
        self.replay()

    def replay(self) -> None:
        if self.result is None:
            return
        self.frame = 0
        self.show_step(0)
        self._anim.start()

    @property
    def animating(self) -> bool:
        return self._anim.isActive()

    def _tick(self) -> None:
        steps = self.result["steps"]
        self.frame = min(steps, self.frame + max(1, math.ceil(steps / ANIM_TICKS)))
        self.show_step(self.frame)
        if self.frame >= steps:
            self._anim.stop()

    def _scrubbed(self, k: int) -> None:
        self._anim.stop()
        self.frame = k
        self.show_step(k)

    def show_step(self, k: int) -> None:
        """Every trajectory and loss curve up to step k (a diverged run up to where it ended)."""
        if self.result is None:
            return
        heads, brushes = [], []
        for run in self.result["runs"]:
            n = min(k + 1, len(run["path"]))
            path = np.asarray(run["path"][:n], dtype=np.float64)
            loss = np.maximum(np.asarray(run["loss"][:n], dtype=np.float64), LOG_FLOOR)
            self.paths[run["optimizer"]].setData(path[:, 0], path[:, 1])
            self.losses[run["optimizer"]].setData(np.arange(n), loss)
            heads.append(path[-1])
            brushes.append(pg.mkBrush(theme.layer_colour(OPTIMIZERS.index(run["optimizer"]), len(OPTIMIZERS))))
        self.heads.setData(pos=np.asarray(heads), brush=brushes)
        self.step_line.setValue(k)
        self.step_label.setText(f"step {k} / {self.result['steps']}")
        blocked = self.slider.blockSignals(True)
        self.slider.setValue(k)
        self.slider.blockSignals(blocked)

    def _clicked(self, event) -> None:
        point = clicked_point(self.contour_plot, event)
        if point is not None:
            self.set_start(round(point.x(), 3), round(point.y(), 3))

    # ------------------------------------------------------------------ closing
    def stop(self, timeout: float = 10.0) -> None:
        self._debounce.stop()
        self._anim.stop()
        if self._worker is not None:
            self._worker.join(timeout)
        self._poller.stop()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.stop()
        super().closeEvent(event)
