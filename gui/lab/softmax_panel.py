"""Softmax up close: one example's logits, probabilities, hard max and loss (the deeplearning.ai notes).

    panel = SoftmaxPanel()
    panel.set_logits([5, 2, -1, 3], label=0)   # the notes' worked example (editable in the panel)
    panel.set_session(session)                 # then: a validation example of the live run
    panel.select(7)                            # ... this one (or click a point / step the spin box)
    panel.refresh(history)                     # once per delivery while training (the window calls it)

A digit is shown as its 8x8 image (any square number of features as a square image); 2-D data as
the validation points, the chosen one ringed: click a point to choose it. The model is read in the
run's worker process (engine.runs.remote.RemoteSession.softmax_example, engine.lab.softmax.ExampleReader
there): a private copy of the live weights in eval mode, as at test time, so the run is never
touched and the window never loads torch. A stopped run's worker is gone: the panel says so and
keeps its last reading. The worked example is engine.lab.softmax.softmax_steps, numpy only.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ..plots import theme
from .boundary_view import class_colours
from .clicks import clicked_point

WORKED = "5, 2, -1, 3"


class SoftmaxPanel(QtWidgets.QWidget):
    shown = QtCore.Signal(dict)   # the softmax_steps result just drawn

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.result: dict | None = None
        self.error: str | None = None
        self.session = None
        self._prepared = False     # the run's validation examples, in their own units (see _prepare)
        self._raw_val: np.ndarray | None = None
        self._shown_once = False   # the first drawing waits for the first show: a tab never opened costs nothing
        self._build()

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        side = QtWidgets.QWidget()
        side.setMaximumWidth(300)
        col = QtWidgets.QVBoxLayout(side)
        col.setContentsMargins(0, 0, 0, 0)
        self.source_combo = QtWidgets.QComboBox()
        self.source_combo.addItems(["worked example (type the logits)", "validation example of the run"])
        col.addWidget(self.source_combo)
        worked = QtWidgets.QFormLayout()
        self.logits_edit = QtWidgets.QLineEdit(WORKED)
        self.logits_edit.setToolTip("logits z, separated by commas or spaces")
        self.label_spin = QtWidgets.QSpinBox(minimum=0, maximum=3, value=0)
        self.label_spin.setToolTip("the true class y: the loss is -log a_y")
        worked.addRow("logits z", self.logits_edit)
        worked.addRow("true class", self.label_spin)
        self.worked_box = QtWidgets.QWidget()
        self.worked_box.setLayout(worked)
        col.addWidget(self.worked_box)
        pick = QtWidgets.QFormLayout()
        self.index_spin = QtWidgets.QSpinBox(minimum=0, maximum=0)
        self.index_spin.setToolTip("which validation example (or click one below)")
        pick.addRow("validation example", self.index_spin)
        self.pick_box = QtWidgets.QWidget()
        self.pick_box.setLayout(pick)
        col.addWidget(self.pick_box)
        self.example_view = pg.PlotWidget()
        self.example_view.setBackground(theme.BACKGROUND)
        self.example_view.setMinimumHeight(220)
        self.example_plot = self.example_view.getPlotItem()
        self.example_plot.hideAxis("left")
        self.example_plot.hideAxis("bottom")
        self.example_plot.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.example_plot.addItem(self.image)
        self.points = pg.ScatterPlotItem(size=6, pen=None)
        self.chosen = pg.ScatterPlotItem(size=16, brush=None, pen=pg.mkPen("#111111", width=2.5))
        self.example_plot.addItem(self.points)
        self.example_plot.addItem(self.chosen)
        self.example_plot.scene().sigMouseClicked.connect(self._clicked)
        col.addWidget(self.example_view, 1)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(QtCore.Qt.TextFormat.RichText)
        col.addWidget(self.status)
        outer.addWidget(side)

        glw = pg.GraphicsLayoutWidget()
        glw.setBackground(theme.BACKGROUND)
        self.logit_plot = glw.addPlot(0, 0)
        theme.style_plot(self.logit_plot, "Logits z", "class", "z")
        self.prob_plot = glw.addPlot(1, 0)
        theme.style_plot(self.prob_plot, "Softmax a = e^z / Σ e^z (outline: hard max)", "class", "probability")
        self.prob_plot.setYRange(0, 1.05, padding=0)
        self.prob_plot.setMouseEnabled(x=False, y=False)
        self.logit_bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.prob_bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.hard_bars = pg.BarGraphItem(x=[], height=[], width=0.85, brush=None, pen=pg.mkPen("#111111", width=2))
        self.logit_plot.addItem(self.logit_bars)
        self.logit_plot.addLine(y=0, pen=theme.pen(theme.MUTED, 1))
        self.prob_plot.addItem(self.prob_bars)
        self.prob_plot.addItem(self.hard_bars)
        self.table = QtWidgets.QLabel()
        self.table.setTextFormat(QtCore.Qt.TextFormat.RichText)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(glw, 1)
        right.addWidget(self.table)
        outer.addLayout(right, 1)

        self.source_combo.currentIndexChanged.connect(self._source_changed)
        self.logits_edit.textEdited.connect(self._worked_changed)
        self.label_spin.valueChanged.connect(self._worked_changed)
        self.index_spin.valueChanged.connect(lambda _i: self.read())
        self._sync_visibility()

    # ------------------------------------------------------------------ the worked example
    @property
    def live(self) -> bool:
        return self.source_combo.currentIndex() == 1

    def _sync_visibility(self) -> None:
        self.worked_box.setVisible(not self.live)
        self.pick_box.setVisible(self.live)
        self.example_view.setVisible(self.live)

    def _source_changed(self, *_args) -> None:
        self._sync_visibility()
        if self._shown_once:
            self.read() if self.live else self._worked_changed()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self._source_changed()

    def set_logits(self, logits, label: int | None = 0) -> None:
        self._shown_once = True
        self.source_combo.setCurrentIndex(0)
        self.logits_edit.setText(", ".join(f"{v:g}" for v in logits))
        self.label_spin.setValue(label or 0)
        self._worked_changed()

    def _worked_changed(self, *_args) -> None:
        if self.live:
            return
        try:
            z = [float(v) for v in self.logits_edit.text().replace(",", " ").split()]
        except ValueError:
            self._fail("the logits are numbers separated by commas, e.g. 5, 2, -1, 3")
            return
        if not z or not all(map(math.isfinite, z)):
            self._fail("type at least one finite logit")
            return
        self.label_spin.setMaximum(len(z) - 1)
        from engine.lab.softmax import softmax_steps
        self._draw(softmax_steps(z, label=min(self.label_spin.value(), len(z) - 1)))

    # ------------------------------------------------------------------ a validation example of the run
    def set_session(self, session) -> None:
        """The run whose validation examples to read (None: back to the worked example)."""
        self.session = session
        self._prepared = False
        self._raw_val = None
        self.points.clear()
        self.image.clear()
        if session is None:
            self.source_combo.setCurrentIndex(0)
            return
        n_val = session.data.n_val
        blocked = self.index_spin.blockSignals(True)
        self.index_spin.setMaximum(max(n_val - 1, 0))
        self.index_spin.setValue(min(self.index_spin.value(), max(n_val - 1, 0)))
        self.index_spin.blockSignals(blocked)
        if self.source_combo.currentIndex() == 1:
            self.read()
        else:
            self.source_combo.setCurrentIndex(1)

    def _prepare(self) -> None:
        """The run's validation examples in their own units, made once when first needed (a Start
        need not wait for them while nobody looks at this tab)."""
        from engine.lab.softmax import raw_example
        data = self.session.data
        self._prepared = True
        self._raw_val = np.stack([raw_example(data, i) for i in range(data.n_val)]) if data.n_val else None
        if data.n_features == 2 and self._raw_val is not None:
            palette = class_colours(data.n_classes)
            by_class = [pg.mkBrush(*palette[k], 170) for k in range(data.n_classes)]
            self.points.setData(self._raw_val[:, 0], self._raw_val[:, 1], brush=[by_class[k] for k in data.y_val])
            self.example_plot.autoRange()

    def select(self, index: int) -> None:
        self._shown_once = True
        self.source_combo.setCurrentIndex(1)
        self.index_spin.setValue(index)
        self.read()

    def read(self) -> bool:
        """Read the chosen example through the live model now; False (and words) when there is none."""
        if not self.live:
            return False
        if self.session is None:
            self._fail("Start a run: its validation examples appear here.")
            return False
        if not self._prepared:
            self._prepare()
        from engine.errors import BabysitError
        index = self.index_spin.value()
        try:
            result = self.session.softmax_example(index)   # in the run's worker: milliseconds
        except BabysitError as exc:   # the run has ended, its model met mid-change...: words, the last reading kept
            shown = self.result.get("index") if self.result else None
            self._fail(str(exc) + ("" if shown is None else f" (the bars show example {shown} as last read)"))
            return False
        self._show_example(index)
        self._draw(result)
        return True

    def _show_example(self, index: int) -> None:
        data = self.session.data
        raw = self._raw_val[index]
        side = math.isqrt(data.n_features)
        if data.n_features == 2:
            self.chosen.setData([raw[0]], [raw[1]])
        elif side * side == data.n_features and side >= 4:
            # dark ink on white, as the digit was written; a digit's pixels run from 0 to 16
            ink = -raw.reshape(side, side)[::-1]
            self.image.setImage(ink, autoLevels=data.name != "digits", levels=(-16, 0) if data.name == "digits" else None)
            self.image.setRect(QtCore.QRectF(0, 0, side, side))
            self.example_plot.setRange(xRange=(0, side), yRange=(0, side), padding=0.02)

    def _clicked(self, event) -> None:
        point = clicked_point(self.example_plot, event)
        if point is not None:
            self.select_nearest(point.x(), point.y())

    def select_nearest(self, x: float, y: float) -> int | None:
        """Choose the validation point nearest (x, y) in the data's units (2-D data only)."""
        if self.session is not None and not self._prepared:
            self._prepare()
        if self._raw_val is None or self._raw_val.shape[1] != 2:
            return None
        index = int(np.argmin(((self._raw_val - [x, y]) ** 2).sum(axis=1)))
        self.select(index)
        return index

    # ------------------------------------------------------------------ drawing
    def _fail(self, message: str) -> None:
        self.error = message
        self.status.setText(f"<span style='color:#b52b27'>{message}</span>")

    def _draw(self, r: dict) -> None:
        self.result, self.error = r, None
        n = len(r["a"])
        x = np.arange(n)
        label, predicted = r["label"], r["predicted"]
        palette = class_colours(n)
        brushes = [pg.mkBrush(*palette[k]) if k == label else pg.mkBrush(180, 180, 180) for k in range(n)]
        self.logit_bars.setOpts(x=x, height=np.asarray(r["z"]), brushes=brushes)
        self.prob_bars.setOpts(x=x, height=np.asarray(r["a"]), brushes=brushes)
        self.hard_bars.setOpts(x=x, height=np.asarray(r["hard_max"]))
        for plot in (self.logit_plot, self.prob_plot):
            plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(n)]])
            plot.setXRange(-0.6, n - 0.4, padding=0)
        self.logit_plot.enableAutoRange(y=True)
        where = f"validation example {r['index']}: " if "index" in r else ""
        if label is not None:
            a_y = r["a"][label]
            verdict = "right" if predicted == label else "wrong"
            self.status.setText(f"{where}true class <b>{label}</b> (coloured), hard max <b>{predicted}</b> ({verdict}); "
                                f"loss −log a<sub>y</sub> = −log {a_y:.3g} = <b>{r['loss']:.4g}</b>")
        self.table.setText(self._table(r))
        self.shown.emit(r)

    @staticmethod
    def _table(r: dict) -> str:
        """The notes' rows: z, t = e^z, a = t / Σt, hard max (classes across)."""
        fmt = lambda v: f"{v:.4g}" if math.isfinite(v) else "∞"   # noqa: E731
        rows = [("z", r["z"], fmt), ("t = e<sup>z</sup>", r["t"], fmt), ("a = t / Σt", r["a"], lambda v: f"{v:.3f}"),
                ("hard max", r["hard_max"], lambda v: str(int(v)))]
        cells = "".join(f"<th style='padding:0 6px'>{i}</th>" for i in range(len(r["z"])))
        html = f"<table><tr><td></td>{cells}</tr>"
        for name, values, f in rows:
            html += f"<tr><td style='padding-right:8px'>{name}</td>" + "".join(
                f"<td align='right' style='padding:0 6px'>{f(v)}</td>" for v in values) + "</tr>"
        return html + f"</table>Σt = {fmt(r['sum_t'])}"

    # ------------------------------------------------------------------ the window's view protocol
    def refresh(self, _history) -> None:
        """Once per delivery while a run trains: read the chosen example again if anyone looks."""
        if self.live and self.isVisible() and self.session is not None:
            self.read()

    def reset(self) -> None:
        if self.live and self.session is not None:
            self.read()
