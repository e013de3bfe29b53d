"""LR finder dialog: run engine.lab.lrfind.lr_range_test in a worker process and pick a learning rate.

    dlg = LRFinderDialog(cfg, weights=session.weights(), spare=controller.spare)   # weights=None: the run's init
    dlg.lr_chosen.connect(session.set_lr)
    dlg.show()                                             # starts at once (autostart=True)

The sweep runs in a worker process of its own (gui/lab/lrfind_job.py: taken from `spare`, or
forked), so the window never loads torch; its steps come up that worker's message pipe, which a
QTimer drains every 50 ms. The curve is loss (smoothed; raw minibatch losses faint) against the
LR on a log axis; the suggestion is a dashed vertical line with its value. The line can be
dragged to pick another LR; "Use this learning rate" emits `lr_chosen(lr)` for the line's
position. Closing the dialog cancels a sweep still running and ends its worker.

The live run is never touched: the sweep starts from a numpy copy of its weights. Take them
between steps (e.g. while paused) so they are not read mid-update.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine.train.config import RunConfig, format_lr

from ..knobs import check_lr
from ..plots import theme
from .lrfind_job import SweepJob


class LRFinderDialog(QtWidgets.QDialog):
    lr_chosen = QtCore.Signal(float)
    test_finished = QtCore.Signal(dict)   # the result dict (also when cancelled), or {"error": msg}

    POLL_MS = 50

    def __init__(self, cfg: RunConfig, parent: QtWidgets.QWidget | None = None, *, weights: dict | None = None,
                 spare=None, start: float = 1e-7, end: float = 10.0, steps: int = 100,
                 autostart: bool = True, note: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Learning-rate finder")
        self.cfg = cfg
        self._kwargs = dict(start=start, end=end, steps=steps)
        self._weights = weights    # numpy arrays by state_dict name, or None
        self._spare = spare        # engine.runs.worker.Spare to take the worker from (None: fork one)
        self._note = note
        self.result_data: dict | None = None
        self.error: str | None = None
        self._job: SweepJob | None = None
        self._running = False
        self._lrs: list[float] = []
        self._losses: list[float] = []
        self._build()
        self._timer = QtCore.QTimer(self, interval=self.POLL_MS)
        self._timer.timeout.connect(self._poll)
        if autostart:
            self.start()

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        self.resize(760, 520)
        lay = QtWidgets.QVBoxLayout(self)
        start_from = ("from the run's current weights" if self._weights is not None
                      else f"from freshly initialised weights ({self.cfg.init})")
        self.intro = intro = QtWidgets.QLabel(
            f"Training {start_from} while the learning rate rises from {format_lr(self._kwargs['start'])} "
            f"to {format_lr(self._kwargs['end'])} over {self._kwargs['steps']} steps ({self.cfg.optimizer}). "
            "The suggestion is where the loss starts to climb (20% above its minimum, and at least a tenth "
            "of ln(classes)), divided by 10; drag the line to choose another.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setBackground(theme.BACKGROUND)
        self.plot = self.plot_widget.getPlotItem()
        theme.style_plot(self.plot, "Loss vs learning rate", "learning rate (log scale)", "loss")
        self.plot.setLogMode(x=True, y=False)
        # bottom left: the blow-up on the right and the plateau on top stay clear
        self.plot.addLegend(offset=(10, -10), labelTextColor=theme.FOREGROUND, labelTextSize="8pt",
                            brush=pg.mkBrush(255, 255, 255, 215), pen=pg.mkPen(200, 200, 200))
        self.raw_curve = self.plot.plot(pen=theme.pen(theme.TRAIN, 1, alpha=70), name="minibatch loss")
        self.curve = self.plot.plot(pen=theme.pen(theme.TRAIN, 2), name="smoothed loss")
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=theme.pen("#d62728", 2, theme.DASH),
                                    hoverPen=theme.pen("#d62728", 3),
                                    label="lr", labelOpts={"position": 0.92, "color": "#d62728",
                                                         "fill": (255, 255, 255, 220), "movable": True})
        self.line.hide()
        self.line.sigPositionChanged.connect(self._line_moved)
        self.plot.addItem(self.line, ignoreBounds=True)
        if self._note:  # e.g. where the sweep starts from, when that is not the run's weights
            self.note = QtWidgets.QLabel(self._note)
            self.note.setWordWrap(True)
            lay.addWidget(self.note)
        lay.addWidget(self.plot_widget, 1)
        self.status = QtWidgets.QLabel("starting…")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        buttons = QtWidgets.QHBoxLayout()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, self._kwargs["steps"])
        buttons.addWidget(self.progress, 1)
        self.use_button = QtWidgets.QPushButton("Use this learning rate")
        self.use_button.setEnabled(False)
        self.use_button.setDefault(True)
        self.use_button.clicked.connect(self._use)
        self.cancel_button = QtWidgets.QPushButton("Close")
        self.cancel_button.clicked.connect(self.reject)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.cancel_button)
        lay.addLayout(buttons)

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        if self.running:
            return
        self._lrs, self._losses = [], []
        self.result_data, self.error = None, None
        self.use_button.setEnabled(False)
        self.line.hide()
        self._job = SweepJob(self.cfg, self._weights, self._kwargs, spare=self._spare)
        self._running = True
        self._timer.start()
        self.status.setText("starting a process for the sweep…")

    @property
    def running(self) -> bool:
        return self._running

    @property
    def process(self):
        """The sweep's worker process (multiprocessing.Process), once it has one."""
        return None if self._job is None else self._job.process

    def _poll(self) -> None:
        job = self._job
        if job.error is not None:
            self._fail(job.error)
            return
        new = False
        for m in job.messages():
            if m.kind == "step":
                self._lrs.append(m.data["lr"])
                self._losses.append(m.data["loss"])
                self.progress.setValue(m.data["i"] + 1)
                new = True
            elif m.kind == "done":
                self._finish(m.data)
                return
            else:
                self._fail(m.data["message"])
                return
        if new:
            self._draw(self._lrs, self._losses)
            self.status.setText(f"lr {format_lr(self._lrs[-1])}: smoothed loss {self._losses[-1]:.4g}")
        elif job.started and not self._lrs:
            self.status.setText("running…")

    def _finish(self, result: dict) -> None:
        self._end_job()
        self.result_data = result
        self._draw(result["lrs"], result["losses"], result["raw_losses"], climb_lr=result.get("climb_lr"))
        self.progress.setValue(self.progress.maximum())
        lr = result.get("suggested_lr")
        if lr is not None and math.isfinite(lr):
            self.line.show()                     # before setValue: a hidden label ignores updates
            self.line.setValue(math.log10(lr))   # log-x plot: item positions are log10(lr)
            self._line_moved()
            # the suggestion (a decade below where the loss climbs) may lie left of the first rate tried
            x0, x1 = math.log10(result["lrs"][0]), math.log10(result["lrs"][-1])
            self.plot.setXRange(min(x0, math.log10(lr) - 0.3), x1, padding=0.02)
            self.use_button.setEnabled(True)
            how = "stopped once the loss blew up" if result.get("stopped_early") else "reached the end of the range"
            self.status.setText(
                f"Suggested learning rate: <b>{format_lr(lr)}</b>: the loss starts to climb at {format_lr(result['climb_lr'])} "
                f"(lowest smoothed loss {min(result['losses']):.3g} at {format_lr(result['min_lr'])}; steepest fall at "
                f"{format_lr(result['steepest_lr'])}), divided by 10. "
                f"{len(result['lrs'])} steps; {how}.")
        else:
            self.status.setText("Too few steps to suggest a learning rate: the loss blew up at once. "
                                "Try a lower start of the range.")
        self.cancel_button.setText("Close")
        self.test_finished.emit(result)

    def _fail(self, message: str) -> None:
        self._end_job()
        self.error = message
        self.status.setText(f"<span style='color:#b52b27'>{message}</span>")
        self.test_finished.emit({"error": message})

    def _draw(self, lrs, losses, raw=None, climb_lr: float | None = None) -> None:
        if not lrs:
            return
        x = np.asarray(lrs, dtype=np.float64)
        y = np.asarray(losses, dtype=np.float64)
        self.curve.setData(x, y)
        if raw is not None:
            self.raw_curve.setData(x, np.asarray(raw, dtype=np.float64))
        # y range: everything up to the minimum and a little of the blow-up after it (the last
        # losses of a divergence are 4x the best and would flatten the part that matters)
        if np.isfinite(y).all() and y.size:
            i_min = int(np.argmin(y))
            # ...and up to where it starts to climb, once known (a trained net is at its minimum
            # from the first rate: its flat stretch is the part that matters)
            upto = max(i_min, int(np.searchsorted(x, climb_lr)) if climb_lr is not None else 0)
            lo = float(y[i_min])
            hi = min(float(y.max()), max(float(y[: upto + 1].max()), lo) * 1.25)
            hi = max(hi, lo * 1.1 + 1e-9)
            if raw is not None:  # the smoothed curve lags the raw losses; show where they really went
                r = np.asarray(raw, dtype=np.float64)[: i_min + 1]
                lo = min(lo, float(r[np.isfinite(r)].min())) if np.isfinite(r).any() else lo
            self.plot.setYRange(lo - 0.05 * (hi - lo), hi, padding=0)

    # ------------------------------------------------------------------ choosing
    @property
    def chosen_lr(self) -> float | None:
        """The LR under the (possibly dragged) line, or None before the sweep finished."""
        if not self.use_button.isEnabled():
            return None
        return float(f"{10 ** self.line.value():.3g}")  # the rate its label shows, 3 significant digits

    def _line_moved(self) -> None:
        self.line.label.setFormat(f"lr {format_lr(float(10 ** self.line.value()))}")

    def _use(self) -> None:
        lr = self.chosen_lr
        if lr is None:
            return
        problem = check_lr(lr)
        if problem:  # the line dragged past the allowed rates: say so, keep the sweep
            self.status.setText(f"<span style='color:#b52b27'>{problem}: drag the line back into range.</span>")
            return
        self.lr_chosen.emit(lr)
        self.accept()

    # ------------------------------------------------------------------ closing
    def _end_job(self) -> None:
        """The sweep has ended (or is cancelled): its worker is no longer needed."""
        self._timer.stop()
        self._running = False
        if self._job is not None:
            self._job.stop()

    def stop(self) -> None:
        """Cancel a running sweep and end its worker (called on close)."""
        if self._running:
            self._end_job()

    def done(self, r: int) -> None:  # accept()/reject()/Esc all end here
        self.stop()
        super().done(r)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.stop()
        super().closeEvent(event)
