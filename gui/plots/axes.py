"""Axes shared by the charts: a readable log axis, and one step axis for every time plot."""
from __future__ import annotations

import math

import pyqtgraph as pg


class LogAxis(pg.AxisItem):
    """A log axis that labels only the decades when at least one decade is in view: pyqtgraph
    also labels the 2..9 minor ticks, and those labels overlap unless the axis is very long."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        if maxVal - minVal < 1.0:  # less than a decade: the minor labels are all there is
            self.style["maxTextLevel"] = 2
            return ticks
        major = [(spacing, values) for spacing, values in ticks if spacing is not None]
        if not major:  # pyqtgraph put the decades in with the minor ticks: take them out
            major = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        minor = [v for spacing, values in ticks if spacing is None for v in values
                 if abs(v - round(v)) > 1e-9]
        self.style["maxTextLevel"] = len(major) - 1
        return major + [(None, minor)]


class StepAxis:
    """Time-based plots that share one step range, kept exactly equal.

    pyqtgraph's setXLink "lines up" views that overlap on screen pixel by pixel, so a plot made
    narrower by a legend column would cut off the newest steps; this copies the range instead.
    The first plot added leads (auto-ranges over new steps); panning or zooming any plot moves
    all of them, and its "A" button hands the auto-range to that plot."""

    def __init__(self):
        self._views: list[pg.ViewBox] = []
        self._busy = False

    def add(self, plot: pg.PlotItem) -> None:
        vb = plot.getViewBox()
        if vb in self._views:
            return
        if self._views:
            vb.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
            vb.setXRange(*self._views[0].viewRange()[0], padding=0)
        self._views.append(vb)
        vb.sigXRangeChanged.connect(self._changed)

    def lead(self, plot: pg.PlotItem) -> None:
        """Make `plot` range over new steps again (a new run) and the others follow it."""
        for vb in self._views:
            vb.enableAutoRange(axis=pg.ViewBox.XAxis, enable=vb is plot.getViewBox())

    def _changed(self, source: pg.ViewBox, rng) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            x0, x1 = rng
            for vb in self._views:
                if vb is not source:
                    vb.setXRange(x0, x1, padding=0)
        finally:
            self._busy = False
