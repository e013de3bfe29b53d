"""The lecture lab inside the main window: presets menu, LR finder, decision boundary, diagnostics."""
from __future__ import annotations

import pytest

from engine.train.config import RunConfig
from engine.lab.presets import list_presets, load_preset

WAIT = 30_000


def test_presets_menu_lists_every_preset_and_loads_one(window):
    titles = [a.text() for a in window.lab.presets_menu.actions()]
    assert len(titles) == len(list_presets()) >= 8
    assert window.lab.load_preset("tanh_tiny_init")
    assert window.setup.config() == load_preset("tanh_tiny_init")
    lab = window.lab.init_lab.params()              # the init lab shows the lecture's figure of that init
    assert (lab["depth"], lab["width"], lab["init"], lab["init_std"]) == (10, 500, "normal", 0.01)


def test_lr_finder_from_the_window_sets_the_chosen_lr(window, qtbot):
    window.setup.set_config(RunConfig(n_samples=300, width=16))
    dlg = window.lab.open_lr_finder()
    assert dlg is not None
    qtbot.waitUntil(lambda: dlg.chosen_lr is not None and not dlg.running, timeout=WAIT)
    chosen = dlg.chosen_lr
    assert 1e-7 < chosen < 10
    assert "freshly initialised" in dlg.intro.text()
    dlg.use_button.click()
    assert window.setup.config().lr == pytest.approx(chosen, rel=1e-4)  # the field shows 6 digits
    window.act_start.trigger()        # the finder took the window's spare worker: the next one trains
    qtbot.waitUntil(lambda: window.controller.step_count > 0, timeout=WAIT)


def test_decision_boundary_refreshes_while_training_on_2d_data(window, qtbot):
    window.setup.set_config(RunConfig(n_samples=300, width=16, steps=100_000))
    window.tabs.setCurrentWidget(window.lab.boundary)
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.lab.boundary_requests >= 2, timeout=WAIT)
    qtbot.waitUntil(lambda: window.lab.boundary.payload is not None and window.lab.boundary.payload["step"] > 0,
                    timeout=WAIT)
    first = window.lab.boundary.payload["step"]
    qtbot.waitUntil(lambda: window.lab.boundary.payload["step"] > first, timeout=WAIT)  # it keeps refreshing


def test_boundary_tab_says_it_needs_2d_inputs_on_digits(window, qtbot):
    window.setup.set_config(RunConfig(dataset="digits", steps=5))
    window.tabs.setCurrentWidget(window.lab.boundary)
    window.act_start.trigger()
    qtbot.waitUntil(lambda: "2-D inputs" in window.lab.boundary.caption.text(), timeout=WAIT)
    assert "64 features" in window.lab.boundary.caption.text()
    assert window.lab.boundary.payload is None


def test_diagnostics_dock_shows_the_divergence_finding(window, qtbot):
    window.lab.load_preset("lr_too_high")
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "diverged", timeout=WAIT)
    qtbot.waitUntil(lambda: window.lab.diagnostics.count() >= 1, timeout=WAIT)
    codes = [e["code"] for e in window.controller.history.events if e["event"] == "diagnosis"]
    assert "diverged" in codes or "exploding_loss" in codes


def test_boundary_requests_wait_for_the_last_one(window, qtbot):
    window.setup.set_config(RunConfig(n_samples=300, width=16, steps=100_000))
    window.tabs.setCurrentWidget(window.lab.boundary)
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.session is not None and window.controller.session.step_count > 0,
                    timeout=WAIT)
    window.lab.timer.stop()
    window.controller.pause(wait=5.0)
    window.lab._boundary_waiting = False
    n = window.lab.boundary_requests
    window.lab._boundary_key = None
    window.lab.ask_boundary()
    window.lab.ask_boundary()  # the first has not come back: nothing more is queued
    assert window.lab.boundary_requests == n + 1
    # paused: the loop applies the request without a step, for the weights as they are
    qtbot.waitUntil(lambda: window.lab.boundary.payload is not None
                    and window.lab.boundary.payload["step"] == window.controller.session.step_count, timeout=WAIT)


def test_boundary_of_a_finished_run_is_its_last_step(window, qtbot):
    window.setup.set_config(RunConfig(n_samples=300, width=16, steps=40))
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "finished", timeout=WAIT)
    qtbot.waitUntil(lambda: not window.controller.session.alive, timeout=WAIT)
    asked = window.lab.boundary_requests
    window.tabs.setCurrentWidget(window.lab.boundary)  # opened only now: the final boundary the run sent
    qtbot.waitUntil(lambda: window.lab.boundary.payload is not None, timeout=WAIT)
    assert window.lab.boundary.payload["step"] == 40 and window.lab.boundary.payload["recorded"]
    assert window.lab.boundary_requests == asked        # nothing asked of a run that has ended


def test_the_boundaries_a_run_records_are_drawn_as_they_arrive(window, qtbot):
    window.setup.set_config(RunConfig(n_samples=300, width=16, steps=100_000))
    window.tabs.setCurrentWidget(window.lab.boundary)
    window.lab.timer.stop()                            # the tab asks for none
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.lab.boundary.payload is not None, timeout=WAIT)
    first = window.lab.boundary.payload
    assert first["recorded"]
    qtbot.waitUntil(lambda: window.lab.boundary.payload["step"] > first["step"], timeout=WAIT)   # the next ones
    assert window.lab.boundary_requests == 0


def test_lr_finder_opens_once_and_resumes_the_run_it_paused(window, qtbot):
    window.setup.set_config(RunConfig(n_samples=300, width=16, steps=100_000))
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "running", timeout=WAIT)
    dlg = window.lab.open_lr_finder()
    assert window.controller.state == "paused" and "the run's current weights" in dlg.intro.text()
    assert window.lab.open_lr_finder() is dlg  # a second Ctrl+L brings the same dialog forward
    qtbot.waitUntil(lambda: dlg.chosen_lr is not None and not dlg.running, timeout=WAIT)
    dlg.use_button.click()
    qtbot.waitUntil(lambda: window.controller.state == "running", timeout=WAIT)
    assert window.lab.lr_dialog is None
    qtbot.waitUntil(lambda: any(e["event"] == "lr" for e in window.controller.history.events), timeout=WAIT)


def test_lr_finder_after_a_divergence_starts_from_fresh_weights(window, qtbot):
    window.lab.load_preset("lr_too_high")
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "diverged", timeout=WAIT)
    dlg = window.lab.open_lr_finder()
    assert "freshly initialised" in dlg.note.text()
    qtbot.waitUntil(lambda: dlg.result_data is not None, timeout=WAIT)
    assert len(dlg.result_data["lrs"]) >= 5
    dlg.reject()


def test_boundary_is_redrawn_after_a_reinit_while_paused_and_shows_the_final_weights_after_a_stop(window, qtbot):
    # long enough that the run cannot end before the pause below (60 steps could, on a fast machine)
    window.setup.set_config(RunConfig(n_samples=300, width=16, steps=1_000_000))
    window.tabs.setCurrentWidget(window.lab.boundary)
    window.lab.timer.stop()
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.session is not None and window.controller.session.step_count > 5,
                    timeout=WAIT)
    window.controller.pause(wait=5.0)
    assert window.controller.session.alive
    lab = window.lab
    lab._boundary_waiting = False
    lab.ask_boundary()
    qtbot.waitUntil(lambda: not lab._boundary_waiting, timeout=WAIT)
    before = lab.boundary.payload
    lab.ask_boundary()
    assert lab.boundary.payload is before  # nothing changed: nothing asked
    window.request_reinit("normal", 1.0)  # applied by the paused loop at once
    qtbot.waitUntil(lambda: any(e["event"] == "reinit" for e in window.controller.history.events), timeout=WAIT)
    lab.ask_boundary()
    qtbot.waitUntil(lambda: lab.boundary.payload is not before, timeout=WAIT)
    # stopped: the tab shows the boundary of the final weights, which the run sent as it ended
    window.controller.resume()
    session = window.controller.session
    paused_at = session.step_count
    qtbot.waitUntil(lambda: session.step_count > paused_at + 5, timeout=WAIT)
    window.controller.stop()
    qtbot.waitUntil(lambda: window.controller.state == "stopped" and not session.alive, timeout=WAIT)
    qtbot.waitUntil(lambda: lab.boundary.payload["step"] == session.step_count > paused_at, timeout=WAIT)


def test_no_boundary_for_a_diverged_model(window, qtbot):
    window.lab.load_preset("lr_too_high")
    window.tabs.setCurrentWidget(window.lab.boundary)
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "diverged", timeout=WAIT)
    window.lab.boundary.clear()
    window.lab._boundary_key = None
    n = window.lab.boundary_requests
    window.lab.ask_boundary()
    assert window.lab.boundary_requests == n and window.lab.boundary.payload is None


def test_lr_finder_leaves_a_run_the_user_took_back_alone(window, qtbot):
    window.setup.set_config(RunConfig(n_samples=300, width=16, steps=100_000))
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "running", timeout=WAIT)
    dlg = window.lab.open_lr_finder()
    window.controller.resume()
    qtbot.waitUntil(lambda: window.controller.state == "running", timeout=WAIT)
    window.controller.pause(wait=5.0)  # the user paused it themselves
    qtbot.waitUntil(lambda: window.controller.state == "paused", timeout=WAIT)
    dlg.reject()  # its finished signal is delivered at once
    assert window.controller.state == "paused"


def test_the_run_state_stays_visible_over_passing_messages(window, qtbot):
    window.lab.load_preset("lr_too_high")
    assert "press Start" in window.statusBar().currentMessage()
    assert window.state_label.isVisible()  # a message shows beside the state, not over it
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.controller.state == "diverged", timeout=WAIT)
    assert window.statusBar().currentMessage() == ""  # "press Start" is over once the run starts
    assert window.state_label.isVisible() and window.state_label.text().startswith("diverged")
