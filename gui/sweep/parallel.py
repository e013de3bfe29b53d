"""Parallel coordinates: one vertical axis per key (on its scale, its first stage's range from
bottom to top) and a last one for validation accuracy; each finished trial is a line across them,
coloured by its accuracy, the best drawn thick. For spaces of more than two keys, where a scatter
shows only two at a time.

The lines are a few long-lived items, one per colour band: each holds every trial of its band as
one polyline broken by NaNs (pyqtgraph's connect="finite").
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from ..plots.theme import FOREGROUND, MUTED, pen
from .data import SweepData
from .live import BEST, COLORMAP, Chart
from .scales import coord, coord_range, label

BANDS = 8   # colours of accuracy


class ParallelCoords(Chart):
    def __init__(self):
        super().__init__()
        self.plot.hideAxis("left")
        self.plot.getViewBox().setMouseEnabled(x=False, y=False)
        self.axes = pg.PlotCurveItem(pen=pen(FOREGROUND, 1), connect="finite")
        self.plot.addItem(self.axes)
        self.bands = []
        for i in range(BANDS):
            colour = COLORMAP.map((i + 0.5) / BANDS, mode="qcolor")
            item = pg.PlotCurveItem(pen=pen(colour, 1.3, alpha=190), connect="finite")
            self.plot.addItem(item)
            self.bands.append(item)
        self.best = pg.PlotCurveItem(pen=pen(BEST, 3))
        self.best.setZValue(10)
        self.plot.addItem(self.best)
        self.ends: list[pg.TextItem] = []
        self.columns: list[str] = []
        self.params: list = []
        self.lines = 0   # trials drawn

    def set_columns(self, data: SweepData) -> None:
        """One axis per key of the sweep (call when its stages change)."""
        self.columns = data.keys()
        self.params = [data.axis_param(k) for k in self.columns]
        for t in self.ends:
            self.plot.removeItem(t)
        self.ends = []
        n = len(self.columns) + 1
        xs = np.repeat(np.arange(n, dtype=float), 3)
        ys = np.tile([0.0, 1.0, np.nan], n)
        self.axes.setData(xs, ys)
        names = self.columns + ["val acc"]
        self.plot.getAxis("bottom").setTicks([[(i, name) for i, name in enumerate(names)]])
        for i, p in enumerate(self.params):
            lo, hi = coord_range(p)
            if not p.is_range:   # each listed value at its own height
                for j, v in enumerate(p.choices):
                    self._end(i, (j - lo) / (hi - lo), str(v))
            else:
                self._end(i, 0.0, label(p, lo))
                self._end(i, 1.0, label(p, hi))
        self.plot.setXRange(-0.3, n - 0.7, padding=0)
        self.plot.setYRange(-0.08, 1.08, padding=0)

    def _end(self, column: int, y: float, text: str) -> None:
        item = pg.TextItem(text, color=MUTED, anchor=(1.05, 0.5))
        item.setPos(column, y)
        self.plot.addItem(item)
        self.ends.append(item)

    def redraw(self, data: SweepData) -> None:
        done = data.finished()
        self.lines = len(done)
        accs = np.array([t.val_acc if t.val_acc is not None else math.nan for t in done], dtype=float)
        finite = accs[np.isfinite(accs)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        n = len(self.columns) + 1
        per_band: list[list[np.ndarray]] = [[] for _ in range(BANDS)]
        for t, a in zip(done, accs):
            per_band[min(BANDS - 1, int((a - lo) / span * BANDS)) if math.isfinite(a) else 0].append(self._line(t, a, lo, span))
        xs = np.append(np.arange(n, dtype=float), np.nan)   # one trial's line and its break
        for item, lines in zip(self.bands, per_band):
            if lines:
                item.setData(np.tile(xs, len(lines)), np.concatenate(lines))
            else:
                item.setData([], [])
        best = data.best()
        if best is not None and math.isfinite(best.val_acc or math.nan):
            self.best.setData(np.arange(n, dtype=float), self._line(best, best.val_acc, lo, span)[:-1])
        else:
            self.best.setData([], [])
        self.set_title(f"<b>Parallel coordinates</b>: {len(done)} finished trials, coloured by validation "
                       f"accuracy ({lo:.3f} → {hi:.3f}); the best thick and orange")

    def _line(self, t, acc: float, acc_lo: float, acc_span: float) -> np.ndarray:
        ys = []
        for p in self.params:
            lo, hi = coord_range(p)
            ys.append((coord(p, t.params.get(p.key)) - lo) / (hi - lo))
        ys.append((acc - acc_lo) / acc_span if math.isfinite(acc) else math.nan)
        ys.append(math.nan)   # the break before the next trial's line
        return np.array(ys, dtype=float)
