"""Where a spec's trials would fall, before any CPU is spent: the lecture's picture.

Two plots side by side, the same budget both ways: the random sampler's trials and the grid's,
over two chosen keys on their scales (engine.sweep.search.dry_run: the sampler and seed the sweep
will use). Each title counts the distinct values every key got: with one key that matters, a
5 x 5 grid tries 5 of its values, 25 random trials try 25. The dashed box is the space's range.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

from engine.sweep.space import SweepSpec, distinct_values

from ..plots.theme import DASH, FOREGROUND, MUTED, TRAIN, VAL, pen
from .live import Chart
from .scales import ScaleAxis, coord_range, coords

MAX_SAMPLES = 400   # a bigger budget is previewed by its first 400 trials (asking Optuna takes time)


class _SamplesPlot(Chart):
    def __init__(self, colour: str):
        self.xaxis, self.yaxis = ScaleAxis("bottom"), ScaleAxis("left")
        super().__init__(axisItems={"bottom": self.xaxis, "left": self.yaxis})
        self.points = pg.ScatterPlotItem(size=7, pen=pg.mkPen(FOREGROUND, width=0.5), brush=pg.mkBrush(colour))
        self.box = pg.PlotCurveItem(pen=pen(MUTED, 1, DASH))
        self.plot.addItem(self.box)
        self.plot.addItem(self.points)

    def show_samples(self, title: str, x: np.ndarray, y: np.ndarray, box: tuple | None,
                     xlabel: str, ylabel: str) -> None:
        self.set_title(title)
        self.plot.setLabel("bottom", xlabel, color=FOREGROUND)
        self.plot.setLabel("left", ylabel, color=FOREGROUND)
        self.points.setData(x, y)
        if box is None:
            self.box.setData([], [])
        else:
            (x0, x1), (y0, y1) = box
            self.box.setData([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])
        self.plot.enableAutoRange()


class PreviewView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.random = _SamplesPlot(TRAIN)
        self.grid = _SamplesPlot(VAL)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.random)
        row.addWidget(self.grid)
        self.samples: dict[str, list[dict]] = {"random": [], "grid": []}
        self.distinct: dict[str, dict[str, int]] = {"random": {}, "grid": {}}

    def show_spec(self, spec: SweepSpec | None, xkey: str | None, ykey: str | None) -> None:
        """Draw where `spec.trials` trials fall as random and as grid (None: clear)."""
        if spec is None or xkey not in (spec.space if spec else {}):
            for p in (self.random, self.grid):
                p.view.setVisible(spec is not None)   # no empty axes in old units under the message
                p.show_samples(f"<span style='color:{MUTED}'>no preview: the spec is not valid (see the message "
                               "under it)</span>" if spec is None else "", np.array([]), np.array([]), None, "", "")
            return
        from engine.sweep.search import dry_run   # Optuna: loaded once a preview is wanted
        n = min(spec.trials, MAX_SAMPLES)
        more = f" (the first {n})" if spec.trials > n else ""
        for name, plot in (("random", self.random), ("grid", self.grid)):
            plot.view.setVisible(True)
            # the same budget both ways; TPE's first trials are random ones
            variant = spec.copy(sampler=name, trials=spec.trials)
            samples = dry_run(variant, n)
            self.samples[name], self.distinct[name] = samples, distinct_values(samples)
            counts = ", ".join(f"{k} {v}" for k, v in self.distinct[name].items())
            ours = spec.sampler == name or (name == "random" and spec.sampler == "tpe")
            label = {"random": "random", "grid": "grid"}[name] + (" (this spec)" if ours else "")
            fit = "" if len(samples) == n else f" of {n} fit"
            title = (f"<b>{label}</b>: {len(samples)} trials{fit}{more}<br>"
                     f"<span style='font-size:8pt; color:{MUTED}'>distinct values: {counts}</span>")
            px = spec.space[xkey]
            x = coords(px, [s[xkey] for s in samples])
            if ykey in spec.space and ykey != xkey:
                py = spec.space[ykey]
                y = coords(py, [s[ykey] for s in samples])
                plot.yaxis.set_param(py)
                box = (coord_range(px), coord_range(py))
                ylabel = ykey
            else:   # one key: the trials in the order they would run
                y = np.arange(len(samples), dtype=float)
                plot.yaxis.set_param(None)
                box, ylabel = None, "trial"
            plot.xaxis.set_param(px)
            plot.show_samples(title, x, y, box, xkey, ylabel)
