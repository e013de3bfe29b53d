"""Batch norm at test time: the batch's statistics against the running ones, and validation
accuracy in eval mode (running statistics) beside train mode (each batch's own), over steps.

    panel = BatchNormPanel()
    panel.set_session(session)      # the window does this on every new run
    panel.refresh(history)          # once per delivery: a new point while someone looks

Each point is engine.lab.bnstats.read_test_time on a copy of the live weights, made in the run's
worker process (engine.runs.remote.RemoteSession.bn_test_time: the run is never touched, the window
never loads torch): one random training batch of the run's batch size through the copy in train
mode for the statistics, the validation set through it in both modes for the accuracies. At most
one point per READ_EVERY_S; the window's steps between points are not read. The curves show one
batch-norm layer's unit 0 (mean and variance), which the layer picker changes. A stopped run's
worker is gone: the caption says so and the curves keep its points.
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ..plots import theme

READ_EVERY_S = 0.25
BATCH, RUNNING = theme.TRAIN, theme.VAL


class BatchNormPanel(QtWidgets.QWidget):
    read_done = QtCore.Signal(dict)   # the newest point: {"step", "layers", "modes"}

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.session = None
        self.points: list[dict] = []
        self.error: str | None = None
        self._last_read = 0.0
        self._rng = np.random.default_rng(0)
        self._build()

    def _build(self) -> None:
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("layer"))
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setToolTip("which batch-norm layer's unit 0 to follow")
        self.layer_combo.currentIndexChanged.connect(lambda _i: self._draw())
        bar.addWidget(self.layer_combo)
        bar.addWidget(QtWidgets.QLabel("train-mode test batch"))
        self.test_batch_spin = QtWidgets.QSpinBox(minimum=0, maximum=100_000, value=0, specialValueText="all")
        self.test_batch_spin.setToolTip("validation examples normalised together in train mode (all: one batch)")
        bar.addWidget(self.test_batch_spin)
        bar.addStretch(1)
        lay.addLayout(bar)
        self.curves: dict[str, pg.PlotDataItem] = {}   # made on the first show (see _build_plots)
        self._plots_box = QtWidgets.QVBoxLayout()
        lay.addLayout(self._plots_box, 1)
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        lay.addWidget(self.caption)
        self._say_idle()

    def _build_plots(self) -> None:
        """The charts, made when the tab is first shown: a tab never looked at costs the window's
        start nothing."""
        glw = pg.GraphicsLayoutWidget()
        glw.setBackground(theme.BACKGROUND)
        self.mean_plot = glw.addPlot(0, 0)
        theme.style_plot(self.mean_plot, "Unit 0: batch mean vs running mean", "step", "mean")
        self.var_plot = glw.addPlot(0, 1)
        theme.style_plot(self.var_plot, "Unit 0: batch variance vs running variance", "step", "variance")
        self.acc_plot = glw.addPlot(1, 0, colspan=2)
        theme.style_plot(self.acc_plot, "Validation accuracy: eval mode (running statistics) vs train mode "
                                        "(the batch's own)", "step", "accuracy")
        for key, plot, colour, name, width in (
                ("batch_mean", self.mean_plot, BATCH, "batch", 1), ("running_mean", self.mean_plot, RUNNING, "running", 2),
                ("batch_var", self.var_plot, BATCH, "batch", 1), ("running_var", self.var_plot, RUNNING, "running", 2),
                ("eval", self.acc_plot, theme.VAL, "eval mode (test time)", 2),
                ("train", self.acc_plot, theme.TRAIN, "train mode", 2)):
            if plot.legend is None:
                plot.addLegend(offset=(-10, 10), labelTextColor=theme.FOREGROUND, brush=pg.mkBrush(255, 255, 255, 215))
            self.curves[key] = plot.plot(pen=theme.pen(colour, width), name=name)
        self.acc_plot.setYRange(0, 1.02, padding=0)
        self._plots_box.addWidget(glw)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if not self.curves:   # the first show
            self._build_plots()
            self._draw()
        super().showEvent(event)

    def _say_idle(self) -> None:
        self.caption.setText("Turn batch norm on (setup, or the live 'batch norm' box) and train: the batch's "
                             "statistics move with every batch, the running ones average them, and test time "
                             "uses the running ones.")

    # ------------------------------------------------------------------ the run
    def set_session(self, session) -> None:
        self.session = session
        self.points = []
        for curve in self.curves.values():
            curve.setData([], [])
        self._say_idle()

    def refresh(self, _history) -> None:
        """A new point, if someone looks, batch norm is on, and the last one is old enough."""
        s = self.session
        if s is None or not self.isVisible() or time.monotonic() - self._last_read < READ_EVERY_S:
            return
        if not s.cfg.bn:
            self._say_idle()
            return
        if self.points and self.points[-1]["step"] == s.step_count:
            return
        self.read()

    def reset(self) -> None:
        pass

    def read(self) -> dict | None:
        """Read a point from the live model now (None when there is no batch-norm run)."""
        s = self.session
        if s is None or not s.cfg.bn:
            return None
        from engine.errors import BabysitError
        self._last_read = time.monotonic()
        data = s.data
        size = min(s.cfg.batch_size, data.n_train)
        step = s.step_count
        try:   # in the run's worker: milliseconds
            point = s.bn_test_time(self._rng.choice(data.n_train, size, replace=False),
                                   test_batch=self.test_batch_spin.value() or None)
        except BabysitError as exc:   # the run has ended, batch norm switched mid-read...: words, points kept
            self.error = str(exc)
            self.caption.setText(f"<span style='color:#b52b27'>{exc}</span>" +
                                 (" The curves show the points read before." if self.points else ""))
            return None
        point["step"] = step
        self.points.append(point)
        self.error = None
        names = [r["name"] for r in point["layers"]]
        if [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())] != names:
            blocked = self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems(names)
            self.layer_combo.blockSignals(blocked)
        self._draw()
        ev, tr = point["modes"]["eval"][1], point["modes"]["train"][1]
        self.caption.setText(
            f"step {step}: validation accuracy {ev:.3f} in eval mode (running statistics), {tr:.3f} in train mode "
            f"(normalised by the {'whole validation set' if not self.test_batch_spin.value() else 'test batch'}'s own "
            f"statistics). One test example alone in train mode: \u201c{point['single']}\u201d; a small test batch "
            f"makes each prediction depend on its neighbours (try a train-mode test batch of 2).")
        self.read_done.emit(point)
        return point

    def _draw(self) -> None:
        if not self.curves:
            return   # drawn when first shown
        layer = self.layer_combo.currentIndex()
        pts = [p for p in self.points if len(p["layers"]) > layer >= 0]
        steps = np.array([p["step"] for p in pts], dtype=np.float64)
        for key, field in (("batch_mean", "unit0_batch_mean"), ("running_mean", "unit0_running_mean"),
                           ("batch_var", "unit0_batch_var"), ("running_var", "unit0_running_var")):
            self.curves[key].setData(steps, np.array([p["layers"][layer][field] for p in pts], dtype=np.float64))
        steps_all = np.array([p["step"] for p in self.points], dtype=np.float64)
        for mode in ("eval", "train"):
            self.curves[mode].setData(steps_all, np.array([p["modes"][mode][1] for p in self.points], dtype=np.float64))
