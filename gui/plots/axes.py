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
    While `following` (a new run, or after any plot's "A" button) the dashboard sets the range
    of new steps on every shown plot once per frame (`follow`): no plot auto-ranges its steps,
    so no range change is copied from plot to plot (each copy made every curve recompute its
    display data). Panning or zooming any plot stops following and moves all of them."""

    def __init__(self):
        self._views: list[pg.ViewBox] = []
        self._busy = False
        self.following = True
        self.range: tuple[float, float] | None = None

    def add(self, plot: pg.PlotItem) -> None:
        vb = plot.getViewBox()
        if vb in self._views:
            return
        vb.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
        if self._views:
            vb.setXRange(*self._views[0].viewRange()[0], padding=0)
        self._views.append(vb)
        vb.sigXRangeChanged.connect(self._changed)

    def lead(self, plot: pg.PlotItem | None = None) -> None:
        """Range over new steps again (a new run)."""
        self.following = True
        self.range = None
        for vb in self._views:
            vb.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)

    def follow(self, x0: float, x1: float, views) -> None:
        """Set (x0, x1) on `views` (the shown ones) if following; the rest get it in `catch_up`."""
        if not self.following:
            return
        self.range = (x0, x1)
        self._set(views)

    def catch_up(self, views) -> None:
        """Views shown again get the current range (following) or the one they all share."""
        if self.range is not None:
            self._set(views)

    def _set(self, views) -> None:
        x0, x1 = self.range
        self._busy = True
        try:
            for vb in views:
                if vb.viewRange()[0] != [x0, x1]:
                    vb.setXRange(x0, x1, padding=0)
        finally:
            self._busy = False

    def views(self) -> list[pg.ViewBox]:
        return list(self._views)

    def _changed(self, source: pg.ViewBox, rng) -> None:
        if self._busy:
            return
        if source.autoRangeEnabled()[0]:
            # its "A" button: range over new steps again, set by the dashboard like the others
            source.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
            self.following = True
            return
        self.following = False  # the user panned or zoomed: everything follows this one
        self._busy = True
        try:
            x0, x1 = rng
            self.range = (x0, x1)
            for vb in self._views:
                if vb is not source:
                    vb.setXRange(x0, x1, padding=0)
        finally:
            self._busy = False
