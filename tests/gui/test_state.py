"""The one run state: the setup panel and the live knobs both show it and edit it; a refused
change is undone in one place, so every view goes back."""
from __future__ import annotations

from PySide6.QtCore import Qt

from engine.train.config import RunConfig
from gui.knobs import KnobsPanel
from gui.setup_panel import SetupPanel
from gui.state import RunState


def bound(qtbot):
    state = RunState(RunConfig(lr=3e-3))
    panel, knobs = SetupPanel(state=state), KnobsPanel(state)
    for w in (panel, knobs):
        qtbot.addWidget(w)
    return state, panel, knobs


def test_an_edit_in_either_view_shows_in_the_other(qtbot):
    state, panel, knobs = bound(qtbot)
    panel.widgets["lr"].setText("0.02")
    assert state.get("lr") == 0.02 and knobs.lr_edit.value() == 0.02
    knobs.lr_edit.setText("5e-4")
    qtbot.keyClick(knobs.lr_edit, Qt.Key.Key_Return)
    assert state.get("lr") == 5e-4 and panel.widgets["lr"].text() == "0.0005"
    knobs.bn_check.click()
    assert state.get("bn") is True and panel.widgets["bn"].isChecked()
    panel.widgets["optimizer"].setCurrentText("rmsprop")
    assert knobs.optimizer_combo.currentText() == "rmsprop"


def test_a_refused_change_leaves_the_state_and_every_view_as_they_were(qtbot):
    state, panel, knobs = bound(qtbot)
    asked: list[tuple[str, object]] = []
    state.set_gate(lambda key, value: asked.append((key, value)) or key != "optimizer")
    knobs.optimizer_combo.setCurrentText("sgd")
    knobs.optimizer_combo.activated.emit(knobs.optimizer_combo.currentIndex())   # what a user's pick emits
    assert asked == [("optimizer", "sgd")]
    assert state.get("optimizer") == "adam"
    assert knobs.optimizer_combo.currentText() == "adam" and panel.widgets["optimizer"].currentText() == "adam"
    knobs.lr_edit.setText("0.01")                      # the gate takes this one
    qtbot.keyClick(knobs.lr_edit, Qt.Key.Key_Return)
    assert state.get("lr") == 0.01 and panel.widgets["lr"].text() == "0.01"


def test_the_value_held_picked_again_is_no_change(qtbot):
    state, _panel, knobs = bound(qtbot)
    seen: list[str] = []
    state.changed.connect(lambda key, _v: seen.append(key))
    state.set_gate(lambda key, value: seen.append("asked") or True)
    knobs.lr_edit.setText("3e-3")
    qtbot.keyClick(knobs.lr_edit, Qt.Key.Key_Return)
    assert state.set("optimizer", "adam") and state.update(RunConfig(lr=3e-3))
    assert seen == []


def test_problems_are_the_states_and_raw_text_is_held_as_typed(qtbot):
    state, panel, knobs = bound(qtbot)
    validity: list[bool] = []
    state.validityChanged.connect(validity.append)
    panel.widgets["lr"].setText("fast")
    assert state.get("lr") == "fast" and "lr must be a number" in state.problems()["lr"]
    assert knobs.lr_edit.value() == 3e-3              # the knobs keep the last rate they can show
    assert validity == [False] and not panel.is_valid()
    state.set("lr", 0.1)
    assert validity == [False, True] and panel.widgets["lr"].text() == "0.1"
