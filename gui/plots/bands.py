"""BandItem: the area between two series, one percentile band of the Activations tab's
distribution over time (gui/plots/activations.py)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets


class BandItem(QtWidgets.QGraphicsPathItem):
    """The area between two series, cheap at any length.

    Few rows (up to one per two pixels): a filled polygon per finite stretch. More rows: one
    vertical line per pixel column from the column's lowest `lo` to its highest `hi` (an
    envelope, like peak downsampling). A noisy outline with thousands of points makes a polygon
    fill cost ~1 s per frame (every scanline crosses every edge); lines cost one pass per pixel.
    pyqtgraph's FillBetweenItem fills polygons only and rebuilds on each of its curves' changes.
    """

    def __init__(self):
        super().__init__()
        self.setZValue(-10)
        self._colour = QtGui.QColor(0, 0, 0, 40)
        self._data = (np.zeros(0), np.zeros(0), np.zeros(0))

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):
        """For the view's auto-range (the bands reach further than the median line)."""
        x, lo, hi = self._data
        if not np.isfinite(lo).any():
            return None, None
        if ax == 0:
            return float(x[0]), float(x[-1])
        return float(np.nanmin(lo)), float(np.nanmax(hi))

    def set_colour(self, colour: QtGui.QColor) -> None:
        self._colour = QtGui.QColor(colour)

    def set_band(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        self._data = (np.asarray(x, np.float64), np.where(ok, lo, np.nan), np.where(ok, hi, np.nan))
        self.redraw()

    def redraw(self) -> None:
        x, lo, hi = self._data
        if not len(x):              # a new run's empty band: nothing to measure
            self.setPath(QtGui.QPainterPath())
            return
        view = self.parentItem()
        while view is not None and not isinstance(view, pg.ViewBox):
            view = view.parentItem()
        pixels = int(view.width()) if view is not None and view.width() > 10 else 800
        if view is not None:
            x0, x1 = view.viewRange()[0]
        else:
            x0, x1 = (x[0], x[-1]) if len(x) else (0.0, 1.0)
        a, b = np.searchsorted(x, x0, "left"), np.searchsorted(x, x1, "right")
        a, b = max(0, a - 1), min(len(x), b + 1)  # one row past each edge, so the band reaches it
        path = QtGui.QPainterPath()
        if b - a > pixels // 2 and x1 > x0:
            # envelope per pixel column, drawn as vertical strokes
            cols = np.clip(((x[a:b] - x0) / (x1 - x0) * pixels).astype(np.int64), -1, pixels)
            starts = np.flatnonzero(np.diff(np.concatenate(([-2], cols))))
            with np.errstate(invalid="ignore"):
                low = np.fmin.reduceat(lo[a:b], starts)
                high = np.fmax.reduceat(hi[a:b], starts)
            xs = x[a:b][starts]
            keep = np.isfinite(low) & np.isfinite(high)
            xs, low, high = xs[keep], low[keep], high[keep]
            if len(xs):
                path = pg.arrayToQPath(np.repeat(xs, 2), np.column_stack((low, high)).ravel(), connect="pairs")
            pen = pg.mkPen(self._colour, width=1)  # width 1: Qt's fast cosmetic stroker
            pen.setCosmetic(True)
            pen.setCapStyle(QtCore.Qt.PenCapStyle.FlatCap)
            self.setPen(pen)
            self.setBrush(QtGui.QBrush())
        else:
            ok = np.isfinite(lo[a:b])
            if ok.any():
                # one polygon per finite stretch, so a missing probe leaves a hole, not a bridge
                edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
                for s, e in zip(edges[::2] + a, edges[1::2] + a):
                    xs = np.concatenate((x[s:e], x[s:e][::-1]))
                    ys = np.concatenate((hi[s:e], lo[s:e][::-1]))
                    path.addPath(pg.arrayToQPath(xs, ys.astype(np.float64), connect="all"))
            self.setPen(pg.mkPen(None))
            self.setBrush(pg.mkBrush(self._colour))
        self.setPath(path)
