"""Event markers of a chart group: a labelled vertical line per event (a knob turned, a finding,
a divergence) on every time-based plot; close labels merge into one with "+N".

A mixin of BasePlot (gui/plots/base.py), which owns `_time_plots`, `_markers`, `_label_watch`
and `_events`.
"""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtGui

from . import theme

_LABEL_POSITION = 0.995   # marker labels at the top of the view (fraction of its height)
_LABEL_CHARS = 18         # a marker label longer than this is shortened (full text on hover)


def marker_text(event: dict) -> str:
    """What a marker says: the event's label; a divergence with its step."""
    kind = event.get("event", "")
    if kind == "diverged":
        return f"diverged at step {int(event.get('step', 0))}"
    return str(event.get("label") or kind)


def _shorten(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[:_LABEL_CHARS - 1].rstrip() + "…"


class Markers:
    """add_marker, clear_markers and the labels' layout, for BasePlot."""

    def add_marker(self, event: dict) -> None:
        """A labelled vertical line at event["step"] on every time-based plot of this group."""
        self._events.append(event)
        for plot in self._time_plots:
            self._draw_marker(plot, event, len(self._events) - 1)

    def _draw_marker(self, plot: pg.PlotItem, event: dict, index: int) -> None:
        kind = event.get("event", "")
        colour = theme.EVENT_COLOURS.get(kind, theme.MUTED)
        strong = kind in ("diverged", "error")
        text = marker_text(event)
        line = pg.InfiniteLine(
            pos=float(event.get("step", 0)), angle=90, movable=False,
            pen=theme.pen(colour, width=1.0, alpha=255 if strong else 170),
            label="",
            # text right of the line, top-aligned; left of it when the line nears the right edge
            labelOpts={"position": _LABEL_POSITION, "color": colour,
                       "fill": pg.mkBrush(255, 255, 255, 200), "anchors": [(0, 0), (1, 0)]})
        line.setZValue(20)
        line.label.setFont(_small_font())
        line.setToolTip(f"step {int(event.get('step', 0))}: {text}")
        line.full_text = text
        plot.addItem(line, ignoreBounds=True)
        self._markers.append((plot, line))
        if plot not in self._label_watch:
            # labels follow the plot's width and step range (close markers merge into one label);
            # `settle` lays them out too, after the dashboard moved the steps
            self._label_watch.add(plot)
            plot.getViewBox().sigXRangeChanged.connect(lambda *_, p=plot: self._layout_labels(p))
            plot.getViewBox().sigResized.connect(lambda *_, p=plot: self._layout_labels(p))
        self._layout_labels(plot)

    def _layout_labels(self, plot: pg.PlotItem) -> None:
        """One label per cluster of markers whose labels would overlap on screen: the first one's
        short text and "+N" for the rest; the label's tooltip lists them all. Only the group's
        top plot has labels (the others' lines keep their tooltips): fewer labels over curves."""
        lines = sorted((line for p, line in self._markers if p is plot), key=lambda l: l.value())
        if not lines:
            return
        labelled = plot is self._time_plots[0]
        vb = plot.getViewBox()
        (x0, x1), width = vb.viewRange()[0], max(vb.width(), 1.0)
        per_px = (x1 - x0) / width
        clusters: list[list[pg.InfiniteLine]] = []
        end = -math.inf   # pixel where the current cluster's label ends
        for line in lines:
            px = (line.value() - x0) / per_px
            # about 6 px a character at 7.5 pt, with room for "  +N"; a label right of the middle
            # is drawn left of its line (pyqtgraph flips it so it stays inside the view)
            w = 6 * (len(_shorten(line.full_text)) + 4)
            left, right = (px, px + w) if px < width / 2 else (px - w, px)
            if clusters and left < end + 4:
                clusters[-1].append(line)   # (only the cluster's first label is drawn)
            else:
                clusters.append([line])
                end = right
        for cluster in clusters:
            head, rest = cluster[0], cluster[1:]
            for line in rest:
                line.label.setVisible(False)
            if not labelled:
                head.label.setVisible(False)
                continue
            short = _shorten(head.full_text) + (f"  +{len(rest)}" if rest else "")
            fmt = short.replace("{", "{{").replace("}", "}}")
            if head.label.format != fmt:
                head.label.setFormat(fmt)
                head.label.setToolTip("\n".join(f"step {int(l.value())}: {l.full_text}" for l in cluster))
            if not head.label.isVisible():
                head.label.setVisible(True)

    def clear_markers(self) -> None:
        for plot, line in self._markers:
            plot.removeItem(line)
        self._markers.clear()
        self._events.clear()


def _small_font() -> QtGui.QFont:
    f = QtGui.QFont()
    f.setPointSizeF(7.5)
    return f
