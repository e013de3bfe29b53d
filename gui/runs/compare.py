"""Compare recorded runs: loss, train accuracy and one layer's update ratio overlaid (a colour and
a legend entry per run), and a table of the config keys that differ (W&B's "diff only").

The curves are long-lived items (one per run per chart, reused when the runs change); pyqtgraph
thins them to the view (clipToView, peak downsampling), so a million-step run draws quickly.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

from engine.runs.history import LAYER_KEYS
from engine.runs.store import RunStore
from gui.plots.smoothing import ema_smooth
from gui.plots.theme import BACKGROUND, layer_colour, pen, style_plot

UPDATE_RATIO = LAYER_KEYS.index("update_ratio")
SMOOTHING = 0.9   # TensorBoard's EMA: raw per-batch curves of several runs hide each other
CHARTS = (("loss", "Loss (smoothed)", "loss"), ("accuracy", "Train accuracy (smoothed)", "accuracy"),
          ("update_ratio", "Update ratio", "‖ΔW‖ / ‖W‖"))


class CompareView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs: list = []           # engine.runs.store.RunInfo of the runs shown
        self._layers: list[tuple[np.ndarray, list[str], np.ndarray]] = []
        self.layer = QComboBox(toolTip="the layer whose update ratio is overlaid")
        self.layer.currentTextChanged.connect(lambda _t: self._draw_update_ratio())
        self.seeds = QLabel()
        self.seeds.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Update ratio of layer:"))
        top.addWidget(self.layer)
        top.addSpacing(16)
        top.addWidget(self.seeds, 1)

        charts = QWidget()
        row = QHBoxLayout(charts)
        row.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, list[pg.PlotDataItem]] = {}
        for key, title, ylabel in CHARTS:
            w = pg.PlotWidget(background=BACKGROUND)
            plot = w.getPlotItem()
            style_plot(plot, title, "step", ylabel)
            plot.addLegend(offset=(-10, -10) if key == "accuracy" else (-10, 10))  # clear of the curves
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            if key != "accuracy":
                plot.setLogMode(y=True)
            self.plots[key], self.curves[key] = plot, []
            row.addWidget(w)

        self.diff = QTableWidget()
        self.diff.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.diff.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(charts)
        split.addWidget(self.diff)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    # ------------------------------------------------------------------ data
    def show_runs(self, run_ids: list[str]) -> None:
        """Read the runs from the store (BABYSIT_RUNS_DIR, else the user's) and overlay them."""
        with RunStore() as store:
            self.runs = [store.resolve(r) for r in run_ids]
            scalars = [store.scalars(r.id) for r in self.runs]
            self._layers = [store.layer_table(r.id) for r in self.runs]
        for key, field in (("loss", "loss"), ("accuracy", "train_acc")):
            for i, s in enumerate(scalars):
                y = s[field]
                keep = np.isfinite(y) & ((y > 0) if key == "loss" else True)
                self._curve(key, i).setData(s["step"][keep], ema_smooth(y[keep], SMOOTHING))
        names: list[str] = []
        for _steps, layer_names, _stats in self._layers:
            names += [n for n in layer_names if n not in names]
        chosen = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(names)
        if chosen in names:
            self.layer.setCurrentText(chosen)
        self.layer.blockSignals(False)
        self._draw_update_ratio()
        self._trim()
        self._fill_diff()

    def _curve(self, key: str, i: int) -> pg.PlotDataItem:
        """Run i's curve on chart `key` (made once, then reused), named and coloured for run i."""
        curves, plot = self.curves[key], self.plots[key]
        while len(curves) <= i:
            curves.append(plot.plot([], []))
        curve = curves[i]
        curve.setPen(pen(layer_colour(i, len(self.runs)), 1.5))
        legend = plot.legend
        legend.removeItem(curve)
        curve.opts["name"] = self.runs[i].name
        legend.addItem(curve, self.runs[i].name)
        return curve

    def _trim(self) -> None:
        """Drop the curves of runs no longer shown."""
        for key, curves in self.curves.items():
            while len(curves) > len(self.runs):
                curve = curves.pop()
                self.plots[key].legend.removeItem(curve)
                self.plots[key].removeItem(curve)

    def _draw_update_ratio(self) -> None:
        name = self.layer.currentText()
        for i, (steps, names, stats) in enumerate(self._layers):
            if name in names:
                y = stats[:, names.index(name), UPDATE_RATIO]
                keep = np.isfinite(y) & (y > 0)
                x, y = steps[keep], y[keep]
            else:
                x = y = np.zeros(0)
            self._curve("update_ratio", i).setData(x, y)

    def _fill_diff(self) -> None:
        configs = [r.config for r in self.runs]
        keys = sorted({k for c in configs for k in c})
        differ = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
        self.diff.clear()
        self.diff.setRowCount(len(differ))
        self.diff.setColumnCount(len(self.runs))
        self.diff.setHorizontalHeaderLabels([r.name for r in self.runs])
        self.diff.setVerticalHeaderLabels(differ)
        for row, key in enumerate(differ):
            for col, c in enumerate(configs):
                self.diff.setItem(row, col, QTableWidgetItem("–" if key not in c else str(c[key])))
        seeds = {c.get("seed") for c in configs}
        if len(seeds) > 1:
            self.seeds.setText("⚠ seeds differ: not a like-for-like comparison "
                               "(data, initial weights and batches all change with the seed)")
        else:
            self.seeds.setText(f"same seed ({seeds.pop()}): the runs differ only in the keys below")

    # ------------------------------------------------------------------ for tests and exports
    def differing_keys(self) -> list[str]:
        return [self.diff.verticalHeaderItem(i).text() for i in range(self.diff.rowCount())]

    def curve_counts(self) -> dict[str, int]:
        """Curves with data on each chart."""
        return {k: sum(1 for c in curves if c.xData is not None and len(c.xData)) for k, curves in self.curves.items()}
