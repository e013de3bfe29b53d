"""MultiLine: the curves of one chart that share their x values (the steps) in ONE item.

As pyqtgraph PlotDataItems, each curve is an item with its own display pipeline per frame
(clip to the view, thin out per pixel, bounds, a path): about 0.5 ms of Python each, and a
Training-tab frame had ~18 of them. Here a chart does that once per frame for all its curves
(one clip, one bounds pass, one cached thinning per view), and the paint draws each curve with
its own pen. The per-layer charts have one column per layer; loss and accuracy have the raw and
the smoothed curve (and the data loss).

What the charts need from curves, kept:
  * log y (PlotItem.setLogMode calls `setLogMode`): log10 of the values; 0 and below are gaps,
  * non-finite values are gaps (connect="finite"),
  * auto-range: `dataBounds` and `pixelPadding`, as PlotDataItem gives them,
  * ~one min/max pair per pixel of what is in view (peaks kept), the newest rows always drawn,
  * a dot per point while there are too few points for a line (the per-layer charts),
  * exports antialiased; per-curve CSV columns, names and data through `LineColumn`.
"""
from __future__ import annotations

import bisect
import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems.PlotCurveItem import arrayToLineSegments
from pyqtgraph.Qt import internals
from PySide6 import QtCore, QtGui

DOT_SIZE = 5.0  # pixels, as the symbols of the scalar charts
# drawn values are kept within this many view heights of the view (pyqtgraph's dynamicRangeLimit):
# Qt drops a wide or dashed stroke whose device coordinates reach ~1e18, e.g. a diverging loss
RANGE_LIMIT = 1e6


class LineColumn:
    """One curve of a MultiLine, for code that asks about curves one by one (the CSV export,
    tests): its name, its data as given (`xData`, `yData`) and as drawn (`getData`), whether
    it is shown."""

    def __init__(self, owner: MultiLine, column: int, name: str):
        self.owner, self.column, self._name = owner, column, name

    def name(self) -> str:
        return self._name

    @property
    def xData(self) -> np.ndarray | None:  # noqa: N802 (pyqtgraph's name)
        return self.owner.x if len(self.owner.x) else None

    @property
    def yData(self) -> np.ndarray | None:  # noqa: N802
        return self.owner.column_data(self.column) if len(self.owner.x) else None

    def getData(self) -> tuple[np.ndarray | None, np.ndarray | None]:  # noqa: N802
        if not len(self.owner.x):
            return None, None
        return self.owner.x, self.owner.mapped(self.column)

    def setData(self, *args) -> None:  # noqa: N802 (a chart clearing its curves)
        if any(len(a) for a in args):
            raise ValueError("a MultiLine column takes its data from the MultiLine")
        self.owner.clear()

    def setVisible(self, on: bool) -> None:  # noqa: N802
        self.owner.set_column_visible(self.column, on)

    def isVisible(self) -> bool:  # noqa: N802
        return self.owner.column_visible(self.column)


class MultiLine(pg.GraphicsObject):
    def __init__(self):
        super().__init__()
        self.x = np.empty(0)
        self._pens: list[QtGui.QPen] = []
        self._visible: list[bool] = []
        self._sources: list[int] = []          # matrix column of each curve (data given as a matrix)
        self._ys: list[np.ndarray | None] = []  # None: no values
        self._log_y = False
        self._log_floor: float | None = None   # where a 0 is drawn on a log axis (None: a gap)
        self._dots = False
        self._mapped: dict[int, np.ndarray] = {}
        self._bounds: dict = {}
        self._rect: QtCore.QRectF | None = None
        self._thinned: tuple | None = None      # (view key, x, {column: y}) thinned for the view
        self._segments: list = []

    # ------------------------------------------------------------------ data
    def setColumns(self, pens: list[QtGui.QPen], sources: list[int] | None = None) -> None:  # noqa: N802
        """One curve per pen (cosmetic pens). `sources`: the matrix column each curve shows
        when data comes as a matrix (default: 0, 1, ...)."""
        self._pens = list(pens)
        self._visible = [True] * len(pens)
        self._sources = list(sources) if sources is not None else list(range(len(pens)))
        self._segments = [internals.PrimitiveArray(QtCore.QLineF, 4) for _ in pens]
        self._ys = [None for _ in pens]
        self._changed()

    def setData(self, x, ys) -> None:  # noqa: N802
        """`x` (rows,) increasing; `ys` a (rows, n) matrix (curves pick their source column;
        NaN where it has none) or a list of (rows,) arrays, one per curve (None: no values)."""
        x = np.asarray(x, dtype=np.float64)
        if isinstance(ys, np.ndarray) and ys.ndim == 2:
            ys = [ys[:, j] if j < ys.shape[1] and len(ys) == len(x) else None for j in self._sources]
        elif len(ys) != len(self._pens):
            raise ValueError(f"{len(ys)} columns of data for {len(self._pens)} curves")
        self.x = x
        # float32 history columns stay float32 (a float64 copy of 500k rows per frame costs ms)
        self._ys = [None if y is None or len(y) != len(x) else _floats(y) for y in ys]  # None: no values
        self._changed()

    def clear(self) -> None:
        self.setData(np.empty(0), [np.empty(0)] * len(self._pens))

    def set_column_visible(self, column: int, on: bool) -> None:
        if self._visible[column] != bool(on):
            self._visible[column] = bool(on)
            self._changed()

    def column_visible(self, column: int) -> bool:
        return self._visible[column]

    def setDots(self, on: bool) -> None:  # noqa: N802
        if bool(on) != self._dots:
            self._dots = bool(on)
            self._changed()

    def setLogMode(self, x_mode: bool, y_mode: bool) -> None:  # noqa: N802 (PlotItem calls it)
        if bool(y_mode) != self._log_y:
            self._log_y = bool(y_mode)
            self._changed()

    def set_log_floor(self, floor: float | None) -> None:
        """On a log axis draw 0 at log10 value `floor` instead of leaving a gap (None: a gap)."""
        if floor != self._log_floor:
            self._log_floor = floor
            self._changed()

    def column_data(self, column: int) -> np.ndarray:
        """Curve `column`'s values as given (NaN where it has none)."""
        y = self._ys[column]
        return np.full(len(self.x), np.nan) if y is None else y

    def mapped(self, column: int) -> np.ndarray:
        """Curve `column`'s values as drawn: log10 on a log axis (0 and below: not finite, a gap)."""
        y = self._mapped.get(column)
        if y is None:
            y = self.column_data(column)
            if self._log_y:
                with np.errstate(divide="ignore", invalid="ignore"):
                    y = np.log10(y)
                if self._log_floor is not None:
                    y = np.where(y == -np.inf, self._log_floor, y)   # log10(0): on the floor line
            self._mapped[column] = y
        return y

    def _shown(self) -> list[int]:
        return [k for k, v in enumerate(self._visible) if v]

    def _changed(self) -> None:
        self._mapped, self._bounds, self._thinned, self._rect = {}, {}, None, None
        self.prepareGeometryChange()
        self.informViewBoundsChanged()  # the ViewBox auto-ranges again
        self.update()

    # ------------------------------------------------------------------ bounds (auto-range)
    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: N802 (pyqtgraph's name)
        """The range of the finite values along `ax`. For y: of the rows in `orthoRange`, or,
        while the view's step range is set from outside (no x auto-range), of the rows in view
        and one beyond each edge, as PlotDataItem's clipped curves gave it (a zoomed-in chart
        fits its y axis to what it shows)."""
        if ax == 1 and orthoRange is None and frac >= 1.0:
            vb = self.getViewBox()
            if vb is not None and vb.state["autoRange"][0] is False and len(self.x) > 2:
                # from the thinned rows (their peaks are the extremes): shared with the paint
                ends = [v for y in self.thinned()[1].values() for v in _finite_range(y)]
                return (min(ends), max(ends)) if ends else (None, None)
        key = (ax, frac, None if orthoRange is None else tuple(orthoRange))
        if key not in self._bounds:
            self._bounds[key] = self._measure(ax, frac, orthoRange)
        return self._bounds[key]

    def _measure(self, ax: int, frac: float, orthoRange):
        x = self.x
        lo, hi = 0, len(x)
        if ax == 1 and orthoRange is not None:
            lo, hi = bisect.bisect_left(x, orthoRange[0]), bisect.bisect_right(x, orthoRange[1])
        ends = []
        for k in self._shown():
            y = self.mapped(k)[lo:hi]
            if ax == 0:
                ends += _finite_ends(x, y)
            elif frac >= 1.0:
                ends += _finite_range(y)
            else:
                ends += y[np.isfinite(y)].tolist()
        if not ends:
            return None, None
        if ax == 0 or frac >= 1.0:
            return float(min(ends)), float(max(ends))
        return tuple(float(v) for v in np.percentile(ends, [50 * (1 - frac), 50 * (1 + frac)]))

    def pixelPadding(self) -> float:  # noqa: N802
        width = max((self._pens[k].widthF() for k in self._shown()), default=1.0)
        return max(width * 0.7072, DOT_SIZE / 2 if self._dots else 0.0)

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802
        if self._rect is None:
            (x0, x1), (y0, y1) = self.dataBounds(0), self.dataBounds(1)
            if None in (x0, x1, y0, y1):
                return QtCore.QRectF()
            pad = self.pixelPadding()
            vx, vy = self.pixelVectors()
            try:
                px = 0.0 if vx is None else vx.length() * pad
                py = 0.0 if vy is None else vy.length() * pad
            except OverflowError:
                px = py = 0.0
            self._rect = QtCore.QRectF(x0 - px, y0 - py, (x1 - x0) + 2 * px, (y1 - y0) + 2 * py)
        return self._rect

    def viewTransformChanged(self) -> None:  # noqa: N802 (pixels per unit changed: the padding)
        self._rect = None
        self.prepareGeometryChange()

    # ------------------------------------------------------------------ drawing
    def display(self) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """x and each shown curve for the view, as drawn: `thinned()`, its values kept within
        RANGE_LIMIT view heights of the view."""
        x, ys = self.thinned()
        vb = self.getViewBox()
        if vb is None:
            return x, ys
        bottom, top = vb.viewRange()[1]
        span = top - bottom
        if span > 0 and math.isfinite(span):
            low, high = bottom - RANGE_LIMIT * span, top + RANGE_LIMIT * span
            # (bounds past float32's range clip nothing: the cast makes them infinite)
            with np.errstate(invalid="ignore", over="ignore"):
                ys = {k: np.clip(y, low, high) for k, y in ys.items()}  # NaN stays NaN: a gap
        return x, ys

    def thinned(self) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """x and each shown curve for the view's steps: the rows in view (and one beyond each
        edge), thinned to one min/max pair per pixel when there are more rows than pixels
        (every peak kept, and the newest rows: the rows after the last whole bin are a bin)."""
        shown = self._shown()
        x = self.x
        vb = self.getViewBox()
        if vb is None or len(x) < 3:
            return x, {k: self.mapped(k) for k in shown}
        (left, right), width = vb.viewRange()[0], float(vb.width())
        key = (left, right, width, tuple(shown))
        if self._thinned is not None and self._thinned[0] == key:
            return self._thinned[1], self._thinned[2]
        lo = max(0, bisect.bisect_left(x, left) - 1)
        hi = min(len(x), bisect.bisect_right(x, right) + 1)
        x = x[lo:hi]
        ys = {k: self.mapped(k)[lo:hi] for k in shown}
        ds = int(len(x) / width) if width > 0 else 1
        if ds >= 2:
            n = len(x) // ds
            tail = x[n * ds:]
            centres = x[ds // 2:n * ds:ds]
            if len(tail):
                centres = np.append(centres, tail[len(tail) // 2])
            x = np.repeat(centres, 2)
            ys = {k: self._peaks(y, n, ds) for k, y in ys.items()}
        self._thinned = (key, x, ys)
        return x, ys

    @staticmethod
    def _peaks(y: np.ndarray, n: int, ds: int) -> np.ndarray:
        """Max and min of each bin of `ds` rows, interleaved (NaN only where a bin has no value)."""
        body = y[:n * ds].reshape(n, ds)
        with np.errstate(invalid="ignore"):
            hi, lo = np.fmax.reduce(body, axis=1), np.fmin.reduce(body, axis=1)
            rest = y[n * ds:]
            if len(rest):
                hi, lo = np.append(hi, np.fmax.reduce(rest)), np.append(lo, np.fmin.reduce(rest))
        return np.stack([hi, lo], axis=1).ravel()

    def paint(self, p: QtGui.QPainter, *args) -> None:
        if not len(self.x):
            return
        x, ys = self.display()
        export = self._exportOpts if self._exportOpts is not False else None
        aa = bool(export and export.get("antialias", True))
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, aa)
        for k, y in ys.items():
            pen = self._pens[k]
            p.setPen(pen)
            if (not aa and pen.widthF() > 1.0 and pen.style() == QtCore.Qt.PenStyle.SolidLine
                    and pen.isSolid() and pen.color().alphaF() == 1.0):
                # wide opaque lines as separate segments: Qt strokes a wide polyline ~10x slower
                segments = arrayToLineSegments(x, y, connect="finite", finiteCheck=True, out=self._segments[k])
                if len(segments):
                    p.drawLines(*segments.drawargs())
            else:  # thin, translucent, dashed or antialiased: one path (no overlaps at the joints)
                p.drawPath(pg.functions.arrayToQPath(x, y, connect="finite"))
        if self._dots:
            self._paint_dots(p)

    def _paint_dots(self, p: QtGui.QPainter) -> None:
        """A round dot per finite point, DOT_SIZE pixels across, in its curve's colour."""
        transform = p.transform()
        p.save()
        try:
            p.resetTransform()
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            r = DOT_SIZE / 2
            for k in self._shown():
                p.setBrush(self._pens[k].color())
                for xv, yv in zip(self.x, self.mapped(k)):
                    if np.isfinite(yv):
                        p.drawEllipse(transform.map(QtCore.QPointF(float(xv), float(yv))), r, r)
        finally:
            p.restore()


def _finite_range(y: np.ndarray) -> list[float]:
    """[min, max] of the finite values of y, or [] (NaN ignored without a copy; infinities,
    rare, by masking)."""
    if not len(y):
        return []
    lo, hi = np.fmin.reduce(y), np.fmax.reduce(y)
    if math.isnan(lo):
        return []  # all NaN
    if not (math.isfinite(lo) and math.isfinite(hi)):
        y = y[np.isfinite(y)]
        if not len(y):
            return []
        lo, hi = y.min(), y.max()
    return [float(lo), float(hi)]


def _finite_ends(x: np.ndarray, y: np.ndarray) -> list[float]:
    """x of the first and last finite value of y (x increasing), or []."""
    if not len(y):
        return []
    if math.isfinite(y[0]) and math.isfinite(y[-1]):
        return [float(x[0]), float(x[-1])]
    finite = np.isfinite(y)
    if not finite.any():
        return []
    return [float(x[int(finite.argmax())]), float(x[len(y) - 1 - int(finite[::-1].argmax())])]


def _floats(y) -> np.ndarray:
    y = np.asarray(y)
    return y if y.dtype.kind == "f" else y.astype(np.float64)
