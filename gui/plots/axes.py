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

    def lead(self) -> None:
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

    def _changed(self, source: pg.ViewBox, rng) -> None:
        if self._busy:
            return
        if source.autoRangeEnabled()[0]:
            # its "A" button, or a switch of log mode (pyqtgraph turns auto-range on for both
            # axes): range over new steps again, set by the dashboard like the others; while
            # already following, it gets the shared range back at once (not its own fit)
            source.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
            if self.following and self.range is not None:
                self._set([source])
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


class LiveViewBox(pg.ViewBox):
    """A ViewBox whose y auto-range moves in jumps, not every frame.

    pyqtgraph's auto-range fits the y range to the data on every data change: on a live chart
    that is a new range each frame, so the y axis regenerates its ticks and labels (~2 ms) and
    the view measures every item in both directions (~1 ms). Here, while the step axis is set by
    the dashboard (x auto-range off), the y range is kept while it holds the data and is not
    much looser than it; when it must change it gets `_SLACK` of the data's span to spare on
    each side, so a loss that keeps falling moves the axis every ~10 % of its span. Only y
    bounds are measured. Anything else (x auto-ranging, as on a chart of layers) is pyqtgraph's.
    """

    _SLACK = 0.08    # share of the span added on each side when the range changes
    _LOOSE = 1.45    # a range this much wider than the padded data is fitted again

    def updateAutoRange(self):
        auto_x, auto_y = self.state["autoRange"]
        if auto_x is not False or auto_y is not True or self._updatingRange:
            return super().updateAutoRange()
        self._updatingRange = True
        try:
            lo = hi = None
            for item in self.addedItems:
                if not item.isVisible() or item.scene() is not self.scene() or getattr(item, "dataBounds", None) is None:
                    continue
                b = item.dataBounds(1)
                if b is None or b[0] is None or b[1] is None or not (math.isfinite(b[0]) and math.isfinite(b[1])):
                    continue
                lo = b[0] if lo is None else min(lo, b[0])
                hi = b[1] if hi is None else max(hi, b[1])
            if lo is None:
                return
            pad = (hi - lo) * self.suggestPadding(1)
            lo, hi = lo - pad, hi + pad
            c0, c1 = self.viewRange()[1]
            span = hi - lo
            if c0 <= lo and hi <= c1 and (c1 - c0) <= self._LOOSE * span:
                return
            if span > 0:
                lo, hi = lo - self._SLACK * span, hi + self._SLACK * span
            self.setRange(yRange=(lo, hi), padding=0.0 if span > 0 else None, disableAutoRange=False)
        finally:
            self._autoRangeNeedsUpdate = False
            self._updatingRange = False
