"""Preprocessing made visible: the training inputs as none / center / standardize leave them.

    view = PreprocessView()
    view.show_dataset(dataset)     # engine.train.data.Dataset of the run (its raw training inputs)

Side by side, as the lecture's "original data, zero-centered data, normalized data" figure:
2-D data as a point cloud (coloured by class, the origin marked, the same scale in x and y);
data with more features (digits' 64 pixels) as each feature's mean and std before and after.
The panel whose preprocessing the run uses is titled so.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from engine.train.config import PREPROCESS
from engine.train.data import preprocessing_views

from ..plots import theme

MAX_POINTS = 600
TITLES = {"none": "none (original data)", "center": "center (x − mean)", "standardize": "standardize ((x − mean) / std)"}


class PreprocessView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._plots_box = QtWidgets.QVBoxLayout()
        layout.addLayout(self._plots_box, 1)
        self.caption = QtWidgets.QLabel("No data yet: start a run to see its inputs under each preprocessing.")
        self.caption.setStyleSheet(f"color: {theme.MUTED};")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        # the charts are made, and a run's data drawn, when the tab is shown: a tab never looked at
        # costs neither the window's start nor each Start anything
        self.plots: dict[str, pg.PlotItem] = {}
        self.items: dict[str, list] = {name: [] for name in PREPROCESS}
        self.views: dict[str, np.ndarray] = {}
        self._data = None          # the dataset to show
        self._drawn = None         # ... and the one drawn

    def _build_plots(self) -> None:
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(theme.BACKGROUND)
        self._plots_box.addWidget(self.glw)
        for col, name in enumerate(PREPROCESS):
            plot = self.glw.ci.addPlot(row=0, col=col)
            plot.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=theme.pen(theme.MUTED, 1, theme.DOT)))
            plot.addItem(pg.InfiniteLine(pos=0.0, angle=90, pen=theme.pen(theme.MUTED, 1, theme.DOT)))
            self.plots[name] = plot

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._draw()
        super().showEvent(event)

    def show_dataset(self, data) -> None:
        """Draw `data`'s raw training inputs under each preprocessing (on a tab not shown while the
        window is: when the tab is shown)."""
        self._data = data
        if not (self.window().isVisible() and not self.isVisible()):
            self._draw()

    def _draw(self) -> None:
        data = self._data
        if not self.plots:
            self._build_plots()
        if data is None or data is self._drawn:
            return
        self._drawn = data
        raw = data.raw_train if data.raw_train is not None else data.X_train
        self.views = preprocessing_views(raw)
        labels = np.asarray(data.y_train)
        two_d = raw.shape[1] == 2
        for name, plot in self.plots.items():
            for item in self.items[name]:
                plot.removeItem(item)
            self.items[name] = []
            if plot.legend is not None:
                plot.legend.clear()
            used = "  ← this run" if name == data.preprocess else ""
            if two_d:
                theme.style_plot(plot, TITLES[name] + used, "x₁", "x₂")
                self._cloud(plot, name, self.views[name], labels, data.n_classes)
            else:
                theme.style_plot(plot, TITLES[name] + used, "feature", "value over the training set")
                self._stats(plot, name, self.views[name])
        X = self.views[data.preprocess]
        self.caption.setText(
            f"{data.name}: {len(raw)} training inputs, {raw.shape[1]} features. This run uses '{data.preprocess}': "
            f"feature means now {_span(X.mean(axis=0))}, stds {_span(X.std(axis=0))}. Statistics come from the "
            "training split only; validation inputs get the same shift and scale.")

    def _cloud(self, plot: pg.PlotItem, name: str, X: np.ndarray, labels: np.ndarray, n_classes: int) -> None:
        step = max(1, len(X) // MAX_POINTS)
        pts, lab = X[::step], labels[::step]
        lab = np.clip(lab, 0, n_classes - 1)
        for k in range(n_classes):   # an item per class, one brush each: no per-point styling to build
            mine = lab == k
            scatter = pg.ScatterPlotItem(pts[mine, 0], pts[mine, 1], size=5, pen=None,
                                         brush=pg.mkBrush(theme.layer_colour(k, n_classes)))
            plot.addItem(scatter)
            self.items[name].append(scatter)
        plot.setAspectLocked(True)
        plot.autoRange()

    def _stats(self, plot: pg.PlotItem, name: str, X: np.ndarray) -> None:
        plot.setAspectLocked(False)
        f = np.arange(X.shape[1], dtype=np.float64)
        mean = plot.plot(f, X.mean(axis=0), pen=theme.pen(theme.TRAIN, 1.4), symbol="o", symbolSize=4,
                         symbolBrush=theme.TRAIN, symbolPen=None, name="mean")
        std = plot.plot(f, X.std(axis=0), pen=theme.pen(theme.VAL, 1.4, theme.DASH), name="std")
        self.items[name] += [mean, std]
        plot.autoRange()
        if name == PREPROCESS[0]:   # one key, on the first panel
            legend = plot.legend if plot.legend is not None else plot.addLegend(offset=(10, 10))
            legend.clear()
            legend.addItem(mean, "mean per feature")
            legend.addItem(std, "std per feature")


def _span(values: np.ndarray) -> str:
    lo, hi = float(values.min()), float(values.max())
    return f"{lo:.3g}" if abs(hi - lo) < 1e-6 * max(1.0, abs(hi)) else f"{lo:.3g} … {hi:.3g}"
