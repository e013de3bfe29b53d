"""Init lab: the lecture's weight-initialisation experiment, live (no training).

    panel = InitLabPanel(depth=10, width=500, activation="tanh", init="normal", init_std=0.01)
    panel.show()                     # runs on first show, and again on every change (or panel.run())
    panel.ran.connect(...)           # (result) once drawn; panel.result holds run_initlab's output

A batch of unit-gaussian inputs goes through a freshly initialised deep MLP
(engine.lab.initlab.run_initlab); the panel draws each hidden layer's activation histogram on one
shared x scale ("zoom to data", or a double-click on one, draws it over its own data's range),
in as many rows as the width needs, then the mean, the std (log axis) and the saturated
(tanh/sigmoid) or zero (ReLU family) fraction across depth. What it shows:
  tanh + normal 0.01   the histograms collapse to a spike at 0, std -> 0 with depth
  tanh + normal 1.0    the histograms pile up at -1 and +1 (saturated)
  tanh + xavier        a similar spread in every layer
  relu + xavier        the spread shrinks with depth; relu + he keeps it
  + batch norm         any init: every layer keeps unit-ish spread

The figure (the histograms and the across-depth plots) is drawn by gui/lab/initlab_plots.py.

The forward pass runs in a worker thread (10 x 500 on 1000 examples: 0.25 s on one busy CPU
core, 30 x 1000: 2 s) and is drawn when it arrives; settings are checked at once on the GUI
thread. Changes are debounced (150 ms) so typing a std or spinning the depth runs it once.
"""
from __future__ import annotations

import html
import queue
import threading

from PySide6 import QtCore, QtWidgets

from engine.train.config import ACTIVATIONS, INITS, STD_INITS, RunConfig, canonical_init
from engine.errors import BabysitError

from ..plots import theme
from ..widgets import FloatEdit, FlowLayout, set_invalid
from .initlab_plots import InitLabPlots
from .jobs import post_outcome


def _run_initlab(**kw):
    from engine.lab.initlab import run_initlab   # imported late: the lead's module, loaded on first use
    return run_initlab(**kw)


class InitLabPanel(InitLabPlots, QtWidgets.QWidget):
    """Controls + histograms per layer + mean/std/fraction across depth. `ran(dict)` after each run."""

    ran = QtCore.Signal(dict)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, depth: int = 10, width: int = 500,
                 activation: str = "tanh", init: str = "normal", init_std: float = 0.01, bn: bool = False,
                 seed: int = 0, n: int = 1000, run_func=None):
        super().__init__(parent)
        self.n = int(n)
        self.result: dict | None = None
        self.error: str | None = None
        self._run_func = run_func or _run_initlab
        self._ran_once = False
        self._debounce = QtCore.QTimer(self, singleShot=True, interval=150)
        self._debounce.timeout.connect(self.run)
        self._worker: threading.Thread | None = None
        self._pending: dict | None = None
        self._asked = 0    # run() calls so far, refused ones included
        self._running = 0  # the call whose settings the forward pass in flight uses
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._poller = QtCore.QTimer(self, interval=30)
        self._poller.timeout.connect(self._poll)
        self._build_controls(depth, width, activation, init, init_std, bn, seed)
        self._init_plots()

    # ------------------------------------------------------------------ construction
    def _build_controls(self, depth, width, activation, init, init_std, bn, seed) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        strip = QtWidgets.QWidget()  # wraps at a narrow window instead of widening it
        bar = FlowLayout(strip, spacing=4, gap=10)
        outer.addWidget(strip)

        def labelled(text: str, w: QtWidgets.QWidget, tip: str) -> QtWidgets.QWidget:
            lab = QtWidgets.QLabel(text)
            lab.setToolTip(tip)
            w.setToolTip(tip)
            pair = QtWidgets.QWidget()  # a label stays on the line of its field
            lay = QtWidgets.QHBoxLayout(pair)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(lab)
            lay.addWidget(w)
            bar.addWidget(pair)
            return w

        self.depth_spin = labelled("depth", QtWidgets.QSpinBox(minimum=1, maximum=50, value=int(depth)),
                                   "number of hidden layers")
        self.width_spin = labelled("width", QtWidgets.QSpinBox(minimum=2, maximum=2000, value=int(width),
                                                               singleStep=50),
                                   "units per hidden layer (the inputs have this many features too)")
        self.act_combo = labelled("activation", QtWidgets.QComboBox(), "activation function of every hidden layer")
        self.act_combo.addItems(list(ACTIVATIONS))
        self.act_combo.setCurrentText(activation)
        self.init_combo = labelled("init", QtWidgets.QComboBox(), "weight initialisation scheme (biases start at 0)")
        self.init_combo.addItems(list(INITS))
        self.init_combo.setCurrentText(canonical_init(init))
        self.std_edit = labelled("std", FloatEdit(init_std), "standard deviation of the weights for "
                                                             "'normal' and 'uniform' (0.01 small, 1.0 large)")
        self.std_edit.setMaximumWidth(70)
        self.bn_check = QtWidgets.QCheckBox("batch norm")
        self.bn_check.setToolTip("BatchNorm1d after every hidden Linear (batch statistics, as in training)")
        self.bn_check.setChecked(bool(bn))
        bar.addWidget(self.bn_check)
        self.seed_spin = labelled("seed", QtWidgets.QSpinBox(minimum=0, maximum=999_999, value=int(seed)),
                                  "random seed for the weights and the input batch")
        self.log_check = QtWidgets.QCheckBox("log std")
        self.log_check.setToolTip("draw the std across depth on a log scale (shows a geometric collapse)")
        self.log_check.setChecked(True)
        bar.addWidget(self.log_check)
        self.zoom_check = QtWidgets.QCheckBox("zoom to data")
        self.zoom_check.setToolTip("each histogram over its own data's range (its axis says how narrow); "
                                   "off: every layer on one shared range. Double-click a histogram to "
                                   "switch it alone")
        bar.addWidget(self.zoom_check)
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.setToolTip("draw a fresh batch through a freshly initialised network")
        bar.addWidget(self.run_button)

        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {theme.MUTED};")
        outer.addWidget(self.status)

        self.run_button.clicked.connect(self.run)
        for spin in (self.depth_spin, self.width_spin, self.seed_spin):
            spin.valueChanged.connect(self._changed)
        for combo in (self.act_combo, self.init_combo):
            combo.currentTextChanged.connect(self._changed)
        self.std_edit.textEdited.connect(self._changed)
        self.bn_check.toggled.connect(self._changed)
        self.log_check.toggled.connect(self._set_std_curve)
        self.zoom_check.toggled.connect(self.set_zoom_all)
        self._sync_std_enabled()

    # ------------------------------------------------------------------ parameters
    def params(self) -> dict:
        """The current settings, as run_initlab's keyword arguments."""
        init = self.init_combo.currentText()
        # the std field only counts for the inits that take a std (it is greyed out for the others,
        # and whatever it holds must not stop them)
        std = self.std_edit.value() if init in STD_INITS else RunConfig.init_std
        return {"depth": self.depth_spin.value(), "width": self.width_spin.value(),
                "activation": self.act_combo.currentText(), "init": init,
                "init_std": std, "bn": self.bn_check.isChecked(),
                "seed": self.seed_spin.value(), "n": self.n}

    def set_params(self, **kw) -> None:
        """Set any of depth, width, activation, init, init_std, bn, seed (one rerun, debounced)."""
        setters = {"depth": self.depth_spin.setValue, "width": self.width_spin.setValue,
                   "activation": self.act_combo.setCurrentText,
                   "init": lambda v: self.init_combo.setCurrentText(canonical_init(v)),
                   "init_std": self.std_edit.set_value, "bn": self.bn_check.setChecked,
                   "seed": self.seed_spin.setValue}
        for key, value in kw.items():
            if key not in setters:
                raise KeyError(f"unknown init lab setting '{key}'")
            setters[key](value)
        self._sync_std_enabled()
        self._rerun()

    def _rerun(self) -> None:
        # a panel never shown runs when it is (showEvent): a preset loaded with the tab unopened
        # starts no forward pass in the window
        if self._ran_once or self.isVisible():
            self._debounce.start()

    def show_config(self, cfg: RunConfig) -> None:
        """The lecture's figure for a run's init: its activation, init and batch norm through
        10 layers of 500 (the spread a unit-gaussian input keeps depends on the width; a 2-D
        dataset through a narrow net hides it)."""
        self.set_params(depth=10, width=500, activation=cfg.activation, init=cfg.init,
                        init_std=cfg.init_std, bn=cfg.bn)

    def _changed(self, *_args) -> None:
        self._sync_std_enabled()
        self._rerun()

    def _sync_std_enabled(self) -> None:
        takes_std = self.init_combo.currentText() in STD_INITS
        self.std_edit.setEnabled(takes_std)
        if not takes_std:
            set_invalid(self.std_edit, None, self.std_edit.toolTip())  # not used: nothing to mark

    # ------------------------------------------------------------------ running
    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.ensure_plots()
        super().showEvent(event)
        if not self._ran_once:
            QtCore.QTimer.singleShot(0, self.run)

    def run(self) -> bool:
        """Run the experiment with the current settings; `ran(result)` when it is drawn.

        Settings are checked here, at once (a bad std is marked in place and False returned); the
        forward pass runs in a worker thread. A request made while one runs is kept and run next
        (only the newest), so spinning the depth never queues up stale work."""
        self._debounce.stop()
        self._ran_once = True
        self._asked += 1  # a result of earlier settings is stale from now on, even if these are refused
        p = self.params()
        set_invalid(self.std_edit, None, self.std_edit.toolTip())
        try:
            RunConfig(depth=p["depth"], width=p["width"], activation=p["activation"], init=p["init"],
                      init_std=p["init_std"], bn=p["bn"], seed=p["seed"]).validate()
        except BabysitError as exc:
            self._show_error(str(exc))
            return False
        self._pending = p
        if not self.running:
            self._start_next()
        return True

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def _start_next(self) -> None:
        p, self._pending = self._pending, None
        self._running = self._asked
        self.status.setText("running…")
        self._worker = threading.Thread(target=self._work, args=(p, self._running), name="babysit-initlab",
                                        daemon=True)
        self._worker.start()
        self._poller.start()

    def _work(self, p: dict, ticket: int) -> None:
        # worker thread: engine code only; the result goes back through the queue, with the
        # request it answers (a result may wait there while a newer request starts)
        post_outcome(_Tagged(self._queue, ticket), "the init lab", lambda: self._run_func(**p))

    def _poll(self) -> None:
        while True:
            try:
                ticket, kind, payload = self._queue.get_nowait()
            except queue.Empty:
                break
            if self._pending is not None or ticket != self._asked:
                continue   # settings changed (or were refused) meanwhile: a stale result is not drawn
            if kind == "done":
                self.error = None
                self.result = payload
                self._draw(payload)
                self.ran.emit(payload)
            else:
                self._show_error(payload)
        if not self.running:
            if self._pending is not None:
                self._start_next()
            elif self._queue.empty():
                self._poller.stop()

    def _show_error(self, message: str) -> None:
        self.error = message
        if "init_std" in message:
            set_invalid(self.std_edit, message)
        self.status.setText(f"<span style='color:#b52b27'>{html.escape(message)}</span>")

    def wait(self, timeout: float = 30.0) -> None:
        """Block until a running forward pass ends (closing the panel calls this)."""
        if self._worker is not None:
            self._worker.join(timeout)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._debounce.stop()
        self._pending = None
        self.wait()
        self._poller.stop()
        super().closeEvent(event)


class _Tagged:
    """A queue's put that adds the request an outcome answers."""

    def __init__(self, q: queue.SimpleQueue, ticket: int):
        self._q, self._ticket = q, ticket

    def put(self, item: tuple) -> None:
        self._q.put((self._ticket, *item))
