"""The main window end to end, headless (offscreen): train, turn the knobs, export, close.

Runs use a small model and a large step target so the run is still going when a test acts on it;
every test ends the run (the fixture closes the window, which stops and joins the thread).
"""
from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from engine.train.config import RunConfig
from engine.runs.session import GATHER
from gui.main_window import MainWindow

FAST = RunConfig(n_samples=300, width=16, steps=100_000, probe_every=5, eval_every=20)
WAIT = 20_000  # ms: generous, a loaded CI box is slow; waitUntil returns as soon as it holds


def start(win: MainWindow, qtbot, cfg: RunConfig = FAST, min_steps: int = 5) -> None:
    win.setup.set_config(cfg)
    assert win.act_start.isEnabled()
    win.act_start.trigger()
    qtbot.waitUntil(lambda: len(win.controller.history) >= min_steps, timeout=WAIT)


def training_threads() -> list:
    """The worker processes that train a run (engine/runs/worker.py; a spare waiting for one is not)."""
    return [p for p in multiprocessing.active_children() if p.name == "babysit-run"]


def test_start_trains_and_the_dashboard_receives_data(window, qtbot):
    start(window, qtbot, min_steps=30)
    c = window.controller
    assert c.state == "running"
    assert c.session.step_count >= 30
    assert window.setup.is_read_only()          # the setup is not editable while a run exists
    assert not window.act_start.isEnabled()
    loss = window.dashboard.plot_widgets()["loss"]
    assert loss.export_csv  # the dashboard's interface is there
    qtbot.waitUntil(lambda: c.frames >= 1, timeout=WAIT)
    assert "step" in window.step_label.text()
    qtbot.waitUntil(lambda: window.progress.value() > 0, timeout=WAIT)
    assert window.progress.maximum() == c.session.total_steps


def test_a_learning_rate_change_mid_run_reaches_the_engine_and_adds_a_marker(window, qtbot):
    start(window, qtbot)
    c = window.controller
    markers = window.dashboard.marker_count()
    window.knobs.lr_edit.setText("1e-2")
    qtbot.keyClick(window.knobs.lr_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(e["event"] == "lr" for e in c.history.events), timeout=WAIT)
    assert c.session.cfg.lr == pytest.approx(1e-2)
    qtbot.waitUntil(lambda: window.dashboard.marker_count() > markers, timeout=WAIT)
    assert window.setup.config().lr == pytest.approx(1e-2)   # mirrored: Reset keeps what was found


def test_slider_drag_is_throttled_not_flooded(window, qtbot):
    start(window, qtbot)
    sent: list[float] = []
    window.run_state.changed.connect(lambda key, value: sent.append(value) if key == "lr" else None)
    slider = window.knobs.lr_slider
    slider.setSliderDown(True)
    for pos in range(slider.value(), slider.value() - 100, -1):   # a 100-position drag, instantly
        slider.setValue(pos)
    slider.setSliderDown(False)   # release sends the final value
    assert 1 <= len(sent) <= 3
    final = slider.float_value()
    qtbot.waitUntil(lambda: window.controller.session.cfg.lr == pytest.approx(float(f"{final:.3g}")), timeout=WAIT)


@pytest.mark.parametrize("knob", ["reinit", "optimizer", "bn"])
def test_knobs_add_markers_and_training_keeps_going(window, qtbot, knob):
    start(window, qtbot)
    c, k = window.controller, window.knobs
    markers = window.dashboard.marker_count()
    if knob == "reinit":
        k.init_combo.setCurrentText("normal")
        k.std_edit.setText("0.05")
        k.reinit_button.click()
    elif knob == "optimizer":
        k.optimizer_combo.setCurrentText("momentum")
        k.optimizer_combo.activated.emit(k.optimizer_combo.currentIndex())   # what a user's pick emits
    else:
        k.bn_check.click()
    qtbot.waitUntil(lambda: any(e["event"] == knob for e in c.history.events), timeout=WAIT)
    event = next(e for e in c.history.events if e["event"] == knob)
    qtbot.waitUntil(lambda: window.dashboard.marker_count() > markers, timeout=WAIT)
    qtbot.waitUntil(lambda: c.history.last_step > event["step"] + 10, timeout=WAIT)   # still training
    assert c.state == "running"
    cfg = c.session.cfg
    if knob == "reinit":
        assert (cfg.init, cfg.init_std) == ("normal", 0.05)
    elif knob == "optimizer":
        assert cfg.optimizer == "momentum"
    else:
        assert cfg.bn is True


def test_an_invalid_learning_rate_is_refused_in_place(window, qtbot):
    start(window, qtbot)
    c = window.controller
    for text in ("abc", "-1", "0", "", "nan", "inf"):
        window.knobs.lr_edit.setText(text)
        qtbot.keyClick(window.knobs.lr_edit, Qt.Key.Key_Return)
        assert window.knobs.lr_edit.property("invalid") is True, text
        assert window.knobs.lr_problem(), text
    steps = c.history.last_step
    qtbot.waitUntil(lambda: c.history.last_step > steps + 20, timeout=WAIT)  # commands would have applied
    assert c.session.cfg.lr == FAST.lr
    assert not any(e["event"] == "lr" for e in c.history.events)
    assert window.setup.config().lr == FAST.lr
    window.knobs.lr_edit.setText("0.01")                # a good value clears the mark
    qtbot.keyClick(window.knobs.lr_edit, Qt.Key.Key_Return)
    assert window.knobs.lr_edit.property("invalid") is False and not window.knobs.lr_problem()


def test_start_builds_the_run_off_the_gui_thread_and_stop_cancels_the_build(window, qtbot):
    window.setup.set_config(FAST)
    c = window.controller
    window.act_start.trigger()
    assert c.state == "building" and c.session is None      # Start returned before the run exists
    assert "building" in window.state_label.text()
    assert not window.act_start.isEnabled() and window.act_stop.isEnabled() and window.setup.is_read_only()
    assert not window.request_lr(0.05) and window.setup.config().lr == FAST.lr   # the run is built from FAST
    window.act_stop.trigger()                                # cancelled: its session is dropped
    assert c.state == "idle" and not c.building and window.act_start.isEnabled()
    qtbot.waitUntil(lambda: not [t for t in threading.enumerate() if t.name == "babysit-build"], timeout=WAIT)
    c.tick()                                                 # what picks a finished build up
    assert c.session is None and not training_threads()
    start(window, qtbot)                                     # and a new Start works
    assert c.state == "running"


def test_closing_during_a_build_leaves_no_thread(qtbot):
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.show()
    win.setup.set_config(FAST)
    win.act_start.trigger()
    win.close()
    assert not [t for t in threading.enumerate() if t.name == "babysit-build"] and not training_threads()


def test_pause_step_resume_and_stop(window, qtbot):
    start(window, qtbot)
    c = window.controller
    window.act_pause.trigger()
    qtbot.waitUntil(lambda: c.state == "paused", timeout=WAIT)
    # the step in flight when Pause was pressed finishes first; then the count holds still
    qtbot.waitUntil(lambda: c.history.last_step == c.session.steps_taken(), timeout=WAIT)
    before = c.history.last_step
    window.act_step.trigger()
    qtbot.waitUntil(lambda: c.history.last_step == before + 1, timeout=WAIT)
    assert c.state == "paused" and window.act_pause.text() == "Resume"
    window.act_pause.trigger()
    qtbot.waitUntil(lambda: c.history.last_step > before + 5, timeout=WAIT)
    window.act_stop.trigger()
    assert c.state == "stopped" and not training_threads()
    assert len(c.history) > 0                      # the curves stay
    assert not window.act_start.isEnabled() and window.act_reset.isEnabled()
    window.act_reset.trigger()
    assert c.session is None and len(c.history) == 0
    assert not window.setup.is_read_only() and window.act_start.isEnabled()


def test_deliveries_are_far_fewer_than_training_steps(window, qtbot):
    start(window, qtbot, min_steps=20)
    c = window.controller
    assert c.deliveries < c.history.last_step
    # hold the GUI's timer: the worker keeps training, the pipe to the window fills up
    c.timer.stop()
    drawn, deliveries, frames = c.history.last_step, c.deliveries, c.frames
    # the loop writes steps in batches of up to GATHER: the newest of them may not be sent yet
    qtbot.waitUntil(lambda: c.session.steps_taken() >= drawn + 300 + GATHER, timeout=WAIT)
    c.tick()
    assert c.deliveries == deliveries + 1                 # what waited arrived in ONE delivery:
    assert c.history.last_step > drawn + 2 * GATHER       # many batches of steps (a pipe's worth at least)
    assert c.frames <= frames + 1                         # ... and at most one redraw
    c.timer.start()


def test_export_writes_valid_png_svg_and_csv(window, qtbot, tmp_path):
    start(window, qtbot, min_steps=100)
    window.act_pause.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=WAIT)
    files = window.export_everything(tmp_path / "out")
    names = {p.name for p in files}
    for plot in ("loss", "accuracy", "update_ratio", "activations", "gradients"):
        assert {f"{plot}.png", f"{plot}.svg", f"{plot}.csv"} <= names
    assert {"dashboard.png", "metrics.csv", "metrics.json"} <= names

    image = QImage(str(tmp_path / "out" / "dashboard.png"))
    expected = window.dashboard.render_image().size()
    assert (image.width(), image.height()) == (expected.width(), expected.height())
    assert image.width() > 400 and image.height() > 300
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20, "the dashboard image looks blank"

    loss_png = QImage(str(tmp_path / "out" / "loss.png"))
    assert not loss_png.isNull() and loss_png.width() > 100
    root = ET.parse(tmp_path / "out" / "loss.svg").getroot()
    assert root.tag.endswith("svg")
    rows = list(csv.reader((tmp_path / "out" / "metrics.csv").open()))
    assert rows[0][0] == "step" and "loss" in rows[0]
    assert len(rows) > 50
    assert (tmp_path / "out" / "metrics.json").read_text().startswith("{")


def test_closing_mid_run_stops_the_training_thread(qtbot):
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.show()
    start(win, qtbot)
    assert training_threads()
    win.close()
    assert not training_threads()


def test_a_data_error_shows_a_message_and_the_app_lives_on(window, qtbot, tmp_path):
    missing = tmp_path / "nope.csv"
    window.setup.set_config(FAST.copy(dataset="file", data_path=str(missing)))
    assert window.act_start.isEnabled()          # the config is valid; the file is the problem
    window.act_start.trigger()
    qtbot.waitUntil(lambda: str(missing) in window.banner.text(), timeout=WAIT)   # the build failed
    assert window.controller.session is None and window.controller.state == "idle"
    assert "could not start" in window.state_label.text()
    assert "not found" in window.banner.text()
    assert not window.setup.is_read_only()       # fix the path and try again
    window.setup.set_config(FAST)
    start(window, qtbot)
    assert window.controller.state == "running"


def test_a_killed_worker_is_said_in_words_the_window_keeps_its_curves_and_the_run_is_crashed(window, qtbot):
    start(window, qtbot, min_steps=50)
    c = window.controller
    run_id = c.session.run_id
    os.kill(c.session.pid, signal.SIGKILL)     # as the out-of-memory killer would
    qtbot.waitUntil(lambda: c.state == "error", timeout=WAIT)
    assert "training process died" in window.banner.text() and "SIGKILL" in window.banner.text()
    assert "error" in window.state_label.text()
    assert len(c.history) >= 50 and not training_threads()
    from engine.runs.store import RunStore
    with RunStore() as store:
        assert store.resolve(run_id).status == "crashed"
    window.act_reset.trigger()                 # the window lives on: a new run trains
    start(window, qtbot)
    assert c.state == "running"


def test_divergence_pauses_with_a_message_and_keeps_the_curves(window, qtbot):
    cfg = FAST.copy(init="normal", init_std=100.0, depth=4, lr=100.0, optimizer="sgd")
    window.setup.set_config(cfg)
    window.act_start.trigger()
    c = window.controller
    qtbot.waitUntil(lambda: c.state == "diverged", timeout=WAIT)
    assert "diverged" in window.state_label.text() and "NaN" in window.state_label.text()
    assert "learning rate" in window.banner.text()
    assert len(c.history) >= 1 and c.session.alive
    assert window.act_pause.text() == "Resume"
    window.act_stop.trigger()


def test_the_lectures_learning_rate_starts_with_a_finding_and_diverges(window, qtbot):
    window.setup.set_config(FAST.copy(lr=1e6, optimizer="sgd"))
    assert window.act_start.isEnabled()
    window.act_start.trigger()
    c = window.controller
    qtbot.waitUntil(lambda: c.state == "diverged", timeout=WAIT)
    finding = next(e for e in c.history.events if e.get("code") == "unusual_lr")
    assert finding["event"] == "diagnosis" and "1e6" in finding["message"]


def test_the_lectures_learning_rate_typed_mid_run_is_taken_with_a_finding(window, qtbot):
    start(window, qtbot)
    c = window.controller
    window.knobs.lr_edit.setText("1e6")
    qtbot.keyClick(window.knobs.lr_edit, Qt.Key.Key_Return)
    assert window.knobs.lr_edit.property("invalid") is False
    qtbot.waitUntil(lambda: c.session.cfg.lr == 1e6, timeout=WAIT)
    finding = next(e for e in c.history.events if e.get("code") == "unusual_lr")
    assert finding["event"] == "diagnosis" and finding["step"] >= 5


def test_knobs_edit_the_setup_when_no_run_is_going(window, qtbot):
    window.knobs.lr_edit.setText("0.02")
    qtbot.keyClick(window.knobs.lr_edit, Qt.Key.Key_Return)
    window.knobs.optimizer_combo.setCurrentText("rmsprop")
    window.knobs.optimizer_combo.activated.emit(window.knobs.optimizer_combo.currentIndex())
    window.knobs.bn_check.click()
    cfg = window.setup.config()
    assert (cfg.lr, cfg.optimizer, cfg.bn) == (0.02, "rmsprop", True)
    assert window.controller.session is None


def test_configuration_save_and_load_and_a_bad_file_loses_nothing(window, tmp_path):
    window.setup.set_config(FAST.copy(lr=0.02, optimizer="nesterov", dataset="moons"))
    path = tmp_path / "run.toml"
    window.save_config(path)
    window.setup.set_config(RunConfig())
    window.load_config(path)
    cfg = window.setup.config()
    assert (cfg.lr, cfg.optimizer, cfg.dataset, cfg.width) == (0.02, "nesterov", "moons", 16)

    bad = tmp_path / "bad.toml"
    bad.write_text('lr = "fast"\nwidht = 3\n')
    from engine.errors import ConfigError
    with pytest.raises(ConfigError, match="widht"):
        window.load_config(bad)
    assert window.setup.config() == cfg          # nothing lost


def test_load_dialog_names_the_problem_in_a_message_box(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = [1, 2\n")
    shown: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    before = window.setup.config()
    window.act_load_cfg.trigger()
    assert shown and "bad.toml" in shown[0] and "TOML" in shown[0]
    assert window.setup.config() == before


def test_geometry_and_configuration_are_remembered(qtbot, isolated_settings):
    first = MainWindow()
    qtbot.addWidget(first)
    first.resize(760, 560)          # within the offscreen screen (800x600), which clamps geometry
    first.setup.set_config(RunConfig(lr=0.0123, width=33))
    first.show()
    first.close()
    assert (isolated_settings / "babysit.ini").is_file()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.setup.config().lr == 0.0123 and second.setup.config().width == 33
    assert second.height() == 560      # (the width is clamped by the window's minimum)
    second.close()


def test_scripted_run_trains_exports_and_returns_zero(qapp, tmp_path, isolated_settings):
    from gui.app import run_gui
    out = tmp_path / "export"
    code = run_gui(steps=60, export=str(out), quit=True)
    assert code == 0
    for plot in ("loss", "accuracy", "update_ratio", "activations", "gradients"):
        for ext in ("png", "svg", "csv"):
            assert (out / f"{plot}.{ext}").stat().st_size > 0
    assert QImage(str(out / "dashboard.png")).width() > 400
    rows = list(csv.reader((out / "metrics.csv").open()))
    assert int(rows[-1][0]) == 60
    assert (out / "metrics.json").is_file()
    assert not training_threads()
    assert not (isolated_settings / "babysit.ini").exists()   # a scripted run leaves settings alone


def test_scripted_run_with_a_bad_config_file_fails_with_a_message(qapp, tmp_path, capsys):
    from gui.app import run_gui
    bad = tmp_path / "bad.toml"
    bad.write_text("optimizer = 'sgdd'\n")
    assert run_gui(steps=10, export=str(tmp_path / "x"), quit=True, config=str(bad)) == 2
    assert "sgdd" in capsys.readouterr().err


def test_keyboard_start_space_pause_and_step(window, qtbot):
    window.setup.set_config(FAST)
    window.activateWindow()
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    c = window.controller
    qtbot.waitUntil(lambda: len(c.history) >= 5, timeout=WAIT)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert c.state == "paused"
    # the step in flight when Pause was pressed finishes first; then the count holds still
    qtbot.waitUntil(lambda: c.history.last_step == c.session.steps_taken(), timeout=WAIT)
    before = c.history.last_step
    qtbot.keyClick(window, Qt.Key.Key_F10)
    qtbot.waitUntil(lambda: c.history.last_step == before + 1, timeout=WAIT)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert c.state == "running"


def test_step_from_a_fresh_setup_takes_exactly_one_step(window, qtbot):
    window.setup.set_config(FAST)
    window.act_step.trigger()
    c = window.controller
    qtbot.waitUntil(lambda: c.history.last_step == 1, timeout=WAIT)
    assert c.state == "paused" and c.session.step_count == 1
    assert window.setup.is_read_only()


def test_request_lr_from_another_panel_takes_the_knobs_path(window, qtbot):
    start(window, qtbot)
    assert window.request_lr(0.02)
    qtbot.waitUntil(lambda: window.controller.session.cfg.lr == 0.02, timeout=WAIT)
    assert window.knobs.lr_edit.text() == "0.02" and window.setup.config().lr == 0.02
    assert not window.request_lr(float("nan"))
    assert window.controller.session.cfg.lr == 0.02


def test_scripted_run_with_an_invalid_step_count_fails_instead_of_hanging(qapp, tmp_path, capsys):
    from gui.app import run_gui
    assert run_gui(steps=0, export=str(tmp_path / "x"), quit=True) == 2
    assert "steps" in capsys.readouterr().err


def test_a_knob_change_the_run_refuses_is_not_copied_into_the_setup(window, qtbot):
    # batches of one: batch norm is refused by the run, so the setup must not claim it
    start(window, qtbot, FAST.copy(batch_size=1))
    c = window.controller
    window.knobs.bn_check.click()
    assert "batch norm" in window.banner.text()
    assert c.session.cfg.bn is False and window.setup.config().bn is False
    assert not window.knobs.bn_check.isChecked()  # the knob shows what runs
    assert window.setup.is_valid()


def test_the_rate_or_optimizer_in_use_picked_again_is_no_change(window, qtbot):
    start(window, qtbot)
    c, k = window.controller, window.knobs
    for _ in range(3):
        k.lr_edit.setText("3e-3")  # FAST's rate, the one in use
        qtbot.keyClick(k.lr_edit, Qt.Key.Key_Return)
    k.optimizer_combo.setCurrentText(FAST.optimizer)
    k.optimizer_combo.activated.emit(k.optimizer_combo.currentIndex())
    k.lr_edit.setText("1e-2")  # a real change afterwards arrives, alone
    qtbot.keyClick(k.lr_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(e["event"] == "lr" for e in c.history.events), timeout=WAIT)
    knob_events = [e for e in c.history.events if e["event"] in ("lr", "optimizer")]
    assert [e["label"] for e in knob_events] == ["lr 3e-3 → 0.01"]


def test_a_step_target_beyond_32_bits_keeps_the_progress_bar_working(window):
    # QProgressBar holds 32-bit ints; such a target is shown in thousandths
    window.controller.progressed.emit({"step": 1_000_000_000, "epoch": 0, "total_steps": 4_000_000_000, "steps_per_s": 0.0})
    assert window.progress.maximum() == 1000 and window.progress.value() == 250
    window.controller.progressed.emit({"step": 30, "epoch": 0, "total_steps": 300, "steps_per_s": 0.0})
    assert (window.progress.maximum(), window.progress.value()) == (300, 30)


def test_banners_follow_the_run(window, qtbot, tmp_path):
    # a failed start's error goes once Step builds a run
    window.setup.set_config(FAST.copy(dataset="file", data_path=str(tmp_path / "nope.csv")))
    window.act_start.trigger()
    qtbot.waitUntil(lambda: "not found" in window.banner.text(), timeout=WAIT)
    assert window.banner.isVisible()
    window.setup.set_config(FAST)
    window.act_step.trigger()
    qtbot.waitUntil(lambda: len(window.controller.history) >= 1, timeout=WAIT)
    assert not window.banner.isVisible()
    window.reset()
    # a diverged run that is stopped no longer asks for Resume
    window.setup.set_config(FAST.copy(init="normal", init_std=100.0, depth=4, lr=100.0, optimizer="sgd"))
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "diverged", timeout=WAIT)
    assert "Resume" in window.banner.text()
    window.act_stop.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "stopped", timeout=WAIT)
    assert window.banner.isVisible() and "Resume" not in window.banner.text() and "Reset" in window.banner.text()


def test_exports_before_any_run_say_there_is_nothing_and_write_nothing(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: told.append(title))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "m.csv"), ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    for action in (window.act_export_metrics, window.act_export_png, window.act_export_all):
        action.trigger()
    assert told == ["Nothing to export yet"] * 3
    assert list(tmp_path.iterdir()) == []


def test_a_dashboard_png_named_without_its_extension_gets_one(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    start(window, qtbot)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "dash"), ""))
    window.act_export_png.trigger()
    assert (tmp_path / "dash.png").is_file() and not (tmp_path / "dash").exists()
    assert not QImage(str(tmp_path / "dash.png")).isNull()


def test_a_scripted_export_into_a_file_is_refused_before_training(qapp, tmp_path, capsys):
    from gui.app import run_gui
    taken = tmp_path / "run.jsonl"
    taken.write_text("{}")
    assert run_gui(steps=5, export=str(taken), quit=True) == 2
    err = capsys.readouterr().err
    assert "babysit: error: --export needs a folder" in err and str(taken) in err
    assert taken.read_text() == "{}"


def test_garbage_is_collected_on_the_gui_thread_only(window, qtbot):
    # a cycle holding Qt objects collected in the training thread deleted widgets off the GUI
    # thread and deadlocked Qt: automatic collection is off, a GUI-thread timer collects
    import gc
    import weakref
    from PySide6.QtCore import QObject
    assert not gc.isenabled()

    class Holder:
        pass
    h = Holder()
    h.obj = QObject()
    h.me = h  # a cycle: only the cyclic collector frees it
    alive = weakref.ref(h)
    del h
    kept = [[] for _ in range(3 * gc.get_threshold()[0])]  # allocations that would trigger a collection
    assert alive() is not None  # not collected in this (any) allocating thread...
    # (the cycle may already sit in an older generation, which the timer collects once the younger
    # ones have been collected often enough: low thresholds make that a few ticks)
    thresholds = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        qtbot.waitUntil(lambda: alive() is None, timeout=WAIT)  # ...but by the GUI thread's timer
    finally:
        gc.set_threshold(*thresholds)
    del kept


def test_the_charts_know_where_the_run_ends(window, qtbot):
    start(window, qtbot, cfg=FAST.copy(epochs=3))   # a run measured in epochs: its length comes with the data
    c = window.controller
    assert c.history.total_steps == c.session.total_steps == 3 * c.session.steps_per_epoch
    window.dashboard.refresh(c.history)
    assert window.dashboard.step_axis.range[1] <= 1.02 * c.session.total_steps + 1


def test_the_window_module_does_not_import_the_app_module():
    # gui.app opens the window; the window must not need gui.app back (no import cycle)
    import os
    import subprocess
    import sys
    from pathlib import Path
    code = "import sys, gui.main_window; print('gui.app' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                       text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_a_new_user_gets_a_watchable_pace_and_the_speed_knob_paces_the_run(qtbot, isolated_settings):
    win = MainWindow()  # as the app opens it, with nothing remembered yet
    qtbot.addWidget(win)
    win.show()
    try:
        assert win.knobs.pace == 100.0  # the default 3,000-step run lasts half a minute
        win.knobs.set_pace(3.0)         # slow motion
        began = time.monotonic()
        start(win, qtbot, min_steps=1)
        qtbot.waitUntil(lambda: win.controller.history.last_step >= 4, timeout=WAIT)
        assert time.monotonic() - began >= 0.9   # 3 steps a second: the 4th is a second after the 1st
        win.knobs.set_pace(None)        # flat out, at once, for the run that is training
        qtbot.waitUntil(lambda: len(win.controller.history) > 300, timeout=WAIT)
    finally:
        win.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.knobs.pace is None  # the chosen speed is remembered
    again.close()


def test_a_long_state_never_widens_the_window_and_is_whole_in_its_tooltip(window, qtbot):
    window.resize(1280, 720)
    long = "diverged at step 2: the loss is NaN. " + "Lower the learning rate or re-initialise. " * 12
    window.state_label.setText(long)
    window.statusBar().showMessage(long)
    qtbot.waitUntil(lambda: window.width() <= 1280 and window.state_label.isVisible(), timeout=WAIT)
    window.resize(1280, 720)
    assert window.width() <= 1280 and window.minimumSizeHint().width() <= 1280
    assert window.state_label.toolTip() == long
