"""Colours, pens and axis styling shared by every chart (one light theme, set per item).

Nothing here touches pyqtgraph's global config (`pg.setConfigOptions`): the window may embed
other pyqtgraph views with their own look, so each plot item is styled where it is made.
Layer i has the same colour in every chart (update ratio, gradients, histograms, mean/std).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui

BACKGROUND = "#ffffff"
FOREGROUND = "#2b2b2b"   # axis lines, tick labels, titles
MUTED = "#707070"        # secondary text (guides, notes)

TRAIN = "#1f77b4"        # train curves (loss, accuracy)
VAL = "#ff7f0e"          # validation points
VAL_AVG = "#9467bd"      # validation of the averaged weights (Polyak averaging)
DATA_LOSS = "#2ca02c"    # data loss when a regularisation term is present
HEALTHY = (44, 160, 44, 34)  # shaded band of healthy update ratios

# matplotlib's tab10 (readable on white); deeper nets fall back to evenly spaced hues
_TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

# event kind -> colour of its vertical marker line and label
EVENT_COLOURS = {
    "lr": "#e67e22",
    "reinit": "#8e44ad",
    "optimizer": "#16a085",
    "bn": "#2c7fb8",
    "average": "#9467bd",
    "augment": "#8c564b",
    "diverged": "#d62728",
    "error": "#d62728",
}
MARKED_EVENTS = tuple(EVENT_COLOURS)  # "diagnosis" events are left to the window's panel


def layer_colour(i: int, n: int) -> QtGui.QColor:
    """The colour of layer (or class) i of n, the same in every chart."""
    if n <= len(_TAB10):
        return QtGui.QColor(_TAB10[i % len(_TAB10)])
    return pg.intColor(i, hues=n, values=1, maxValue=200, sat=220)


def with_alpha(colour, alpha: int) -> QtGui.QColor:
    c = QtGui.QColor(pg.mkColor(colour))
    c.setAlpha(alpha)
    return c


def pen(colour, width: float = 1.0, style: QtCore.Qt.PenStyle = QtCore.Qt.PenStyle.SolidLine, alpha: int = 255):
    p = pg.mkPen(with_alpha(colour, alpha), width=width)
    p.setStyle(style)
    p.setCosmetic(True)
    return p


DASH = QtCore.Qt.PenStyle.DashLine
DOT = QtCore.Qt.PenStyle.DotLine


def style_plot(plot: pg.PlotItem, title: str, xlabel: str, ylabel: str) -> None:
    """Title, axis labels with units, readable ticks on the light background."""
    plot.setTitle(title, color=FOREGROUND, size="10pt")
    font = QtGui.QFont()
    font.setPointSizeF(8.5)
    for side in ("left", "bottom"):
        ax = plot.getAxis(side)
        ax.setPen(pg.mkPen(FOREGROUND))
        ax.setTextPen(pg.mkPen(FOREGROUND))
        ax.setTickFont(font)
        ax.enableAutoSIPrefix(False)  # "(x0.001)" on a log axis or a ratio reads as nonsense
    plot.setLabel("bottom", xlabel, color=FOREGROUND, **{"font-size": "9pt"})
    plot.setLabel("left", ylabel, color=FOREGROUND, **{"font-size": "9pt"})
    # no grid by default: pyqtgraph redraws grid lines with the axes on every range change,
    # ~5-10 ms per plot per frame on a software-rendered window, i.e. most of the frame budget
    # for six live plots. Right-click a plot > Plot Options > Grid turns it on for that plot.
    plot.getViewBox().setMenuEnabled(True)


def legend_html(entries: list[tuple[str, QtGui.QColor]], rows_per_column: int = 14) -> str:
    """A legend as rich text (for a LabelItem beside the plot, where it never covers data)."""
    if not entries:
        return ""
    cols = -(-len(entries) // rows_per_column)
    rows = -(-len(entries) // cols)
    # one glyph and little padding: a legend of two columns must fit beside two plots at 1280 px
    cells = [f"<td style='padding-right:5px'><span style='color:{c.name()}'>&#9644;</span>&nbsp;{name}</td>"
             for name, c in entries]
    body = "".join("<tr>" + "".join(cells[r + k * rows] for k in range(cols) if r + k * rows < len(cells)) + "</tr>"
                   for r in range(rows))
    return f"<table cellspacing='0' cellpadding='1'>{body}</table>"


def on_white(colour, alpha: int) -> str:
    """The colour `colour` at `alpha` looks like over the background, as #rrggbb (rich text has no alpha)."""
    c, a = pg.mkColor(colour), alpha / 255.0
    mix = [round(v * a + 255 * (1 - a)) for v in (c.red(), c.green(), c.blue())]
    return "#%02x%02x%02x" % tuple(mix)


def titled_key(title: str, entries: list[tuple[str, str, str]]) -> str:
    """A plot title followed by a one-line key: entries of (glyph, #rrggbb, text).
    In the title the key never covers data or event labels, as a legend box inside would."""
    key = "&nbsp;&nbsp;&nbsp;".join(f"<span style='color:{c}'>{g}</span>&nbsp;{t}" for g, c, t in entries)
    return f"{title}&nbsp;&nbsp;&nbsp;&nbsp;<span style='font-size:8pt; color:{MUTED}'>{key}</span>"


def html_width(html: str, size_pt: float) -> float:
    """Pixels wide a LabelItem draws this rich text (on one line) in a font of size_pt."""
    doc = QtGui.QTextDocument()
    font = QtGui.QFont()
    font.setPointSizeF(size_pt)
    doc.setDefaultFont(font)
    doc.setHtml(f"<span style='font-size:{size_pt}pt'>{html}</span>")
    return doc.idealWidth()


LINE, BOLD_LINE, DASHED, DOT_GLYPH, SQUARE = "&#9472;&#9472;", "&#9473;&#9473;", "&#9590;&#9590;&#9590;", "&#9679;", "&#9632;"


def legend_font() -> QtGui.QFont:
    """The font of a legend_label's text."""
    f = QtGui.QFont()
    f.setPointSizeF(8)
    return f


def legend_label() -> pg.LabelItem:
    label = pg.LabelItem("", color=FOREGROUND, size="8pt", justify="left")
    label.setMinimumWidth(70)
    return label
