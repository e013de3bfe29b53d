"""Live knobs: change a run while it trains.

The knobs are bound to the window's run state (gui.state.RunState), as the setup panel is: the
learning rate, optimizer and batch-norm knobs write the state, and show whatever it holds. While
a run trains the window's gate sends each change to the run as a command (applied between steps
and recorded as an event the dashboard marks); with no run going the change is simply the setup's.
A change the run refuses is never held, and the knob goes back to what runs.

    knobs = KnobsPanel(state)        # or KnobsPanel(): a state of its own
    reinitRequested(str, object)     # Re-initialise: scheme and std (None for schemes without one)

Slider drags are throttled: at most one change per THROTTLE_MS while the slider is held and one
on release, so a drag never floods the command queue.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from engine.train.config import INITS, OPTIMIZERS, STD_INITS, RunConfig

from .state import RunState
from .widgets import FloatEdit, FlowLayout, LogSlider, set_invalid

LR_MIN, LR_MAX = 1e-7, 100.0  # the slider: the usual rates and the LR finder's start (the field takes any rate)
THROTTLE_MS = 100
AVERAGE_DECAY = 0.99  # the averaging knob's first decay: about the last 100 steps' weights


def field_problem(name: str, value) -> str | None:
    """Why `value` cannot be the run's `name` (RunConfig's own rule, so the knobs hold no rules of
    their own), or None. A field's text that is not a number at all gets a hint instead."""
    if isinstance(value, str):
        return f"'{value}' is not a number (write e.g. 3e-3)" if value else f"enter a value for {name}"
    return RunConfig().copy(**{name: value}).problems().get(name)


def check_lr(value) -> str | None:
    """The reason a learning rate cannot be used, or None. (The engine checks again.)"""
    return field_problem("lr", value)


# how fast a run may go in the window: flat out, or slow enough to watch and turn knobs
PACES = (("flat out", None), ("1000 steps/s", 1000.0), ("300 steps/s", 300.0), ("100 steps/s", 100.0),
         ("30 steps/s", 30.0), ("10 steps/s", 10.0), ("3 steps/s (slow motion)", 3.0))
WATCHABLE_PACE = 100.0  # a new user's default: the default 3,000-step run lasts half a minute


class KnobsPanel(QWidget):
    reinitRequested = Signal(str, object)
    paceRequested = Signal(object)     # steps per second, or None for flat out

    def __init__(self, state: RunState | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state if state is not None else RunState()
        self._sending_lr = False    # our own change of lr: the field already shows it, the slider may be held
        self.setObjectName("knobs")
        flow = FlowLayout(self, spacing=4, gap=18)
        flow.setContentsMargins(6, 3, 6, 3)

        def cluster(*widgets: QWidget) -> QWidget:
            """Controls that belong together stay on one line; the flow wraps between clusters."""
            box = QWidget()
            lay = QHBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.setSpacing(5)
            for w in widgets:
                lay.addWidget(w)
            flow.addWidget(box)
            return box

        self.lr_slider = LogSlider(LR_MIN, LR_MAX)
        self.lr_slider.setFixedWidth(190)
        self.lr_slider.setToolTip(f"learning rate, log scale {LR_MIN:g} … {LR_MAX:g}")
        self.lr_edit = FloatEdit(3e-3)
        self.lr_edit.setFixedWidth(76)
        self.lr_edit.setToolTip("learning rate (Enter applies); e.g. 1e-3")
        self.message = QLabel()
        self.message.setObjectName("knobMessage")
        self.message.setStyleSheet("color: #b52b27;")
        self.message.hide()
        cluster(QLabel("<b>Live</b>"), QLabel("lr"), self.lr_slider, self.lr_edit, self.message)

        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItems(list(OPTIMIZERS))
        self.optimizer_combo.setToolTip("switch the optimizer; the weights are kept")
        self.bn_check = QCheckBox("batch norm")
        self.bn_check.setToolTip("batch normalisation on/off; linear weights are kept")
        cluster(QLabel("optimizer"), self.optimizer_combo, self.bn_check)

        self.average_check = QCheckBox("average weights")
        self.average_check.setToolTip("also validate an exponential moving average of the weights "
                                      "(Polyak averaging): a second validation curve")
        self.decay_edit = FloatEdit(AVERAGE_DECAY)
        self.decay_edit.setFixedWidth(56)
        self.decay_edit.setToolTip("the average's decay per step, between 0 and 1 (Enter applies)")
        cluster(self.average_check, QLabel("decay"), self.decay_edit)

        self.reinit_button = QPushButton("Re-initialise")
        self.reinit_button.setToolTip("draw fresh weights with this scheme; training continues")
        self.init_combo = QComboBox()
        self.init_combo.addItems(list(INITS))
        self.init_combo.setCurrentText("he_normal")
        self.std_label = QLabel("std")
        self.std_edit = FloatEdit(0.01)
        self.std_edit.setFixedWidth(56)
        self.std_edit.setToolTip("standard deviation for normal and uniform")
        cluster(self.reinit_button, self.init_combo, self.std_label, self.std_edit)

        self.pace_combo = QComboBox()
        for text, rate in PACES:
            self.pace_combo.addItem(text, rate)
        self.pace_combo.setToolTip("how fast training may go: slow it down to watch the charts and turn the knobs")
        cluster(QLabel("speed"), self.pace_combo)

        # slider drags: remember the newest value; the timer sends it at most every THROTTLE_MS
        self._pending_lr: float | None = None
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(THROTTLE_MS)
        self._throttle.timeout.connect(self._flush_lr)
        self.lr_slider.valueChangedFloat.connect(self._on_slider_moved)
        self.lr_slider.sliderReleased.connect(self._flush_lr)
        self.lr_edit.returnPressed.connect(self.apply_lr_text)
        self.lr_edit.editingFinished.connect(self._on_lr_edit_finished)
        self.lr_edit.textEdited.connect(lambda _t: self._show_lr_problem(None))
        self.optimizer_combo.activated.connect(lambda _i: self.state.set("optimizer", self.optimizer_combo.currentText()))
        self.bn_check.clicked.connect(lambda on: self.state.set("bn", bool(on)))
        self.average_check.clicked.connect(lambda _on: self.apply_average())
        self.decay_edit.returnPressed.connect(lambda: self.average_check.isChecked() and self.apply_average())
        self.decay_edit.textEdited.connect(lambda _t: set_invalid(self.decay_edit, None, "decay"))
        self.reinit_button.clicked.connect(self.request_reinit)
        self.pace_combo.currentIndexChanged.connect(lambda i: self.paceRequested.emit(self.pace_combo.itemData(i)))
        self.init_combo.currentTextChanged.connect(self._update_std_enabled)
        self.std_edit.textEdited.connect(lambda _t: set_invalid(self.std_edit, None, "standard deviation"))
        self._last_sent_text = self.lr_edit.text()
        self.state.changed.connect(self._show)
        for key in ("lr", "optimizer", "bn", "init", "init_std", "average_decay"):
            self._show(key, self.state.get(key))

    @property
    def pace(self) -> float | None:
        return self.pace_combo.currentData()

    def set_pace(self, steps_per_s: float | None) -> None:
        """Choose the pace nearest to `steps_per_s` (None: flat out); emits paceRequested."""
        rates = [rate for _, rate in PACES]
        if steps_per_s is None or steps_per_s not in rates:
            known = [r for r in rates if r is not None]
            steps_per_s = None if steps_per_s is None else min(known, key=lambda r: abs(r - steps_per_s))
        self.pace_combo.setCurrentIndex(rates.index(steps_per_s))

    # ------------------------------------------------------------------ learning rate
    def _on_slider_moved(self, value: float) -> None:
        value = float(f"{value:.3g}")          # 3 significant digits: a readable number
        self.lr_edit.set_value(value)
        self._show_lr_problem(None)
        self._pending_lr = value
        if not self.lr_slider.isSliderDown():  # keyboard / click: no drag to wait for
            self._flush_lr()
        elif not self._throttle.isActive():
            self._throttle.start()

    def _flush_lr(self) -> None:
        self._throttle.stop()
        if self._pending_lr is not None:
            value, self._pending_lr = self._pending_lr, None
            self._last_sent_text = self.lr_edit.text()
            self._send_lr(value)

    def _send_lr(self, value: float) -> bool:
        """The rate into the state (to the run, if one trains); refused: the knobs show what runs."""
        self._sending_lr = True
        try:
            ok = self.state.set("lr", float(value))
        finally:
            self._sending_lr = False
        if not ok:
            self.set_lr(self.state.get("lr"))
        return ok

    def _on_lr_edit_finished(self) -> None:
        if self.lr_edit.text() != self._last_sent_text:   # focus left with an unapplied edit
            self.apply_lr_text()

    def apply_lr_text(self) -> bool:
        """Send the typed learning rate, or refuse it in place. Returns True when it holds."""
        value = self.lr_edit.value()
        problem = check_lr(value)
        if problem:
            self._show_lr_problem(problem)
            self._last_sent_text = self.lr_edit.text()   # do not nag twice for the same text
            return False
        self._show_lr_problem(None)
        self.lr_slider.set_float_value(value)
        self._last_sent_text = self.lr_edit.text()
        return self._send_lr(value)

    def _show_lr_problem(self, problem: str | None) -> None:
        set_invalid(self.lr_edit, problem, "learning rate (Enter applies); e.g. 1e-3")
        self.message.setText(problem or "")
        self.message.setVisible(bool(problem))

    def lr_problem(self) -> str | None:
        return self.message.text() or None

    # ------------------------------------------------------------------ weight averaging
    def apply_average(self) -> bool:
        """The checkbox and decay into the state ("average_decay", None: off); refused: goes back."""
        decay = None
        if self.average_check.isChecked():
            decay = self.decay_edit.value()
            problem = field_problem("average_decay", decay)
            if problem:
                set_invalid(self.decay_edit, problem)
                self._show("average_decay", self.state.get("average_decay"))
                return False
            set_invalid(self.decay_edit, None, "decay")
        ok = self.state.set("average_decay", decay)
        if not ok:
            self._show("average_decay", self.state.get("average_decay"))
        return ok

    # ------------------------------------------------------------------ re-init
    def _update_std_enabled(self, *_a) -> None:
        on = self.init_combo.currentText() in STD_INITS
        self.std_edit.setEnabled(on)
        self.std_label.setEnabled(on)

    def request_reinit(self) -> bool:
        scheme = self.init_combo.currentText()
        std = None
        if scheme in STD_INITS:
            std = self.std_edit.value()
            problem = field_problem("init_std", std)
            if problem:
                set_invalid(self.std_edit, problem)
                return False
            set_invalid(self.std_edit, None, "standard deviation")
        self.reinitRequested.emit(scheme, std)
        return True

    # ------------------------------------------------------------------ showing the state (no signals)
    def set_lr(self, lr) -> None:
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not (lr > 0 and math.isfinite(lr)):
            return   # a raw value typed in the setup panel: the knobs keep the last rate they could show
        self.lr_slider.set_float_value(lr)
        self.lr_edit.set_value(lr)
        self._last_sent_text = self.lr_edit.text()
        self._show_lr_problem(None)

    def _show(self, key: str, value) -> None:
        """The state changed `key`: show it (the knob that sent it already does)."""
        if key == "lr":
            if not self._sending_lr:
                self.set_lr(value)
        elif key in ("optimizer", "init"):
            widget = self.optimizer_combo if key == "optimizer" else self.init_combo
            blocked = widget.blockSignals(True)
            if widget.findText(str(value)) >= 0:
                widget.setCurrentText(str(value))
            widget.blockSignals(blocked)
            self._update_std_enabled()
        elif key == "bn":
            blocked = self.bn_check.blockSignals(True)
            self.bn_check.setChecked(value is True)
            self.bn_check.blockSignals(blocked)
        elif key == "average_decay":
            blocked = self.average_check.blockSignals(True)
            self.average_check.setChecked(isinstance(value, float))
            self.average_check.blockSignals(blocked)
            if isinstance(value, float) and not self.decay_edit.hasFocus():
                self.decay_edit.set_value(value)
        elif key == "init_std" and isinstance(value, float) and not self.std_edit.hasFocus():
            self.std_edit.set_value(value)


__all__ = ["KnobsPanel", "check_lr"]
