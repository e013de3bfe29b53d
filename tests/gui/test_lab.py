"""gui.lab widgets, each on its own: init lab, diagnostics panel, LR finder dialog, boundary view."""
from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from engine.train.boundary import predict_grid
from engine.train.config import RunConfig
from engine.messages import Event
from engine.lab.presets import load_preset
from engine.runs.session import TrainingSession
from gui.lab import BoundaryView, DiagnosticsPanel, InitLabPanel, LRFinderDialog


# ----------------------------------------------------------------------------- init lab
@pytest.fixture
def lab(qtbot):
    panel = InitLabPanel(depth=4, width=100, activation="tanh", init="normal", init_std=0.01, n=200)
    qtbot.addWidget(panel)
    return panel


def drawn_counts(panel):
    return [curve.getData()[1] for _, curve in panel._hist_items]


def test_init_lab_draws_one_histogram_per_layer(lab, qtbot):
    with qtbot.waitSignal(lab.ran, timeout=5000):
        lab.show()                                  # runs on first show
    result = lab.result
    assert len(result["layers"]) == 4 and len(lab._hist_items) == 4
    for counts, layer in zip(drawn_counts(lab), result["layers"]):
        assert list(counts) == layer["hist"]["counts"]
    stds = lab.std_curve.yData  # (as given; drawn on a log axis)
    assert list(stds) == pytest.approx([l["act_std"] for l in result["layers"]])
    assert stds[-1] < 1e-3 * stds[0]                # tanh + N(0, 0.01): the collapse
    assert "Std" in lab.status.text()


def test_init_lab_reacts_to_changes(lab, qtbot):
    with qtbot.waitSignal(lab.ran, timeout=5000):
        assert lab.run()                            # the forward pass runs in a worker thread
    with qtbot.waitSignal(lab.ran, timeout=5000):
        lab.set_params(depth=6)                     # debounced rerun
    assert len(lab._hist_items) == 6 and len(lab.result["layers"]) == 6
    with qtbot.waitSignal(lab.ran, timeout=5000):
        lab.init_combo.setCurrentText("xavier_normal")   # as a user would
    assert not lab.std_edit.isEnabled()
    stds = lab.std_curve.yData  # (as given; drawn on a log axis)
    assert stds[-1] > 0.2 * stds[0]                 # Xavier keeps the spread
    with qtbot.waitSignal(lab.ran, timeout=5000):
        lab.set_params(activation="relu", init="he_normal", bn=True)
    assert lab.result["activation"] == "relu" and lab.result["bn"] is True
    assert "Zero fraction" in lab.frac_plot.titleLabel.text


def test_init_lab_keeps_only_the_newest_request(lab, qtbot):
    results, depths_run = [], []
    lab.ran.connect(results.append)
    gate, run_func = threading.Event(), lab._run_func

    def held_back(**p):  # the first forward pass lasts until all three requests are made
        depths_run.append(p["depth"])
        gate.wait(10.0)
        return run_func(**p)
    lab._run_func = held_back
    for depth in (2, 3, 5):                         # three requests while the first one runs
        lab.depth_spin.setValue(depth)
        lab.run()
    gate.set()
    qtbot.waitUntil(lambda: not lab.running and not lab._poller.isActive(), timeout=10000)
    assert depths_run == [2, 5]                     # the stale middle request never ran
    assert [len(r["layers"]) for r in results] == [5]   # ... and the first one's result is not drawn
    assert len(lab._hist_items) == 5


def test_init_lab_does_not_draw_an_old_result_that_waited_for_the_poll(lab, qtbot):
    results = []
    lab.ran.connect(results.append)
    lab.depth_spin.setValue(2)
    lab.run()
    lab._worker.join(10.0)                          # done, its result queued; no poll has run yet
    lab.depth_spin.setValue(5)
    lab.run()                                       # nothing running: starts at once
    qtbot.waitUntil(lambda: not lab.running and not lab._poller.isActive(), timeout=10000)
    assert [len(r["layers"]) for r in results] == [5]
    assert len(lab.result["layers"]) == 5 and len(lab._hist_items) == 5


def test_init_lab_shows_errors_in_words(lab, qtbot):
    lab.std_edit.setText("-1")
    assert lab.run() is False                       # checked at once, on the GUI thread
    assert "init_std" in lab.error and "init_std" in lab.status.text()
    lab.std_edit.setText("0.5")
    with qtbot.waitSignal(lab.ran, timeout=5000):
        assert lab.run()
    assert lab.error is None and lab.result["init_std"] == 0.5


# ----------------------------------------------------------------------------- diagnostics panel
FINDING = {"event": "diagnosis", "label": "dead_units", "code": "dead_units", "step": 140, "severity": "warning",
           "layer": "hidden2", "message": "70% of hidden2's ReLU units output 0", "idea": "dead ReLU idea",
           "try": "lower the LR"}


def test_diagnostics_panel_shows_each_finding_once(qtbot):
    panel = DiagnosticsPanel()
    qtbot.addWidget(panel)
    assert panel.count() == 0 and "No problems" in panel.summary.text()
    with qtbot.waitSignal(panel.finding_added, timeout=1000):
        assert panel.add_finding(FINDING)
    assert not panel.add_finding(dict(FINDING, step=150))           # same code and layer: shown once
    assert not panel.add_finding({"event": "lr", "step": 3, "label": "lr 1e-3 → 1e-2"})   # not a finding
    assert panel.count() == 1 and panel.tree.topLevelItemCount() == 1
    item = panel.tree.topLevelItem(0)
    assert item.text(1) == "140" and "70% of hidden2" in item.text(2)
    children = [item.child(i).text(2) for i in range(item.childCount())]
    assert children == ["Idea: dead ReLU idea", "Try: lower the LR"]
    assert "lower the LR" in item.toolTip(2)
    assert "event" not in panel.findings[0] and "label" not in panel.findings[0]
    panel.add_finding(dict(FINDING, layer="hidden1"))                 # another layer: a new row
    assert panel.count() == 2 and "2 warnings" in panel.summary.text()
    panel.clear()
    assert panel.count() == 0 and panel.tree.topLevelItemCount() == 0
    assert panel.add_finding(FINDING)                                 # after clear: shown again


def test_diagnostics_panel_takes_a_real_session_stream(qtbot):
    panel = DiagnosticsPanel()
    qtbot.addWidget(panel)
    s = TrainingSession(load_preset("lr_too_high"))
    while s.step() is not None:
        pass
    drained = [m.as_dict() for m in s.drain() if isinstance(m, Event)]
    assert panel.add_events(drained) == 2
    assert panel.add_events(drained) == 0
    codes = {panel.tree.topLevelItem(i).data(0, 256) for i in range(2)}
    assert codes == {"exploding_loss", "diverged"}
    assert "1 error" not in panel.summary.text() and "2 errors" in panel.summary.text()


def test_diagnostics_panel_as_a_controller_view(qtbot):
    from engine.runs.history import History
    panel = DiagnosticsPanel()
    qtbot.addWidget(panel)
    h = History()
    h.append_event({"event": "lr", "step": 1, "label": "lr"})
    h.append_event(FINDING)
    panel.refresh(h)
    panel.refresh(h)
    assert panel.count() == 1
    h.append_event(dict(FINDING, code="saturation", layer="hidden1"))
    panel.refresh(h)
    assert panel.count() == 2
    panel.reset()
    assert panel.count() == 0
    panel.refresh(History())
    assert panel.count() == 0


# ----------------------------------------------------------------------------- LR finder
SMALL = RunConfig(n_samples=300, optimizer="sgd")


def test_lr_finder_runs_in_a_worker_process_and_emits_the_choice(qtbot):
    dlg = LRFinderDialog(SMALL, steps=40, start=1e-4, end=100.0)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.running and dlg.result_data is None                    # the GUI thread was not blocked
    qtbot.waitUntil(lambda: dlg.result_data is not None, timeout=30000)
    res = dlg.result_data
    assert not dlg.running and dlg.use_button.isEnabled()
    assert dlg.process.pid != os.getpid() and not dlg.process.is_alive()   # swept elsewhere; that worker has left
    x, y = dlg.curve.getData()
    assert len(x) == len(res["lrs"]) and np.allclose(y, res["losses"])
    assert dlg.line.isVisible() and 10 ** dlg.line.value() == pytest.approx(res["suggested_lr"])
    assert "Suggested learning rate" in dlg.status.text()
    with qtbot.waitSignal(dlg.lr_chosen, timeout=1000) as blocker:
        dlg.use_button.click()
    # the rate as the line's label shows it, 3 significant digits
    assert blocker.args[0] == float(f"{res['suggested_lr']:.3g}")


def test_lr_finder_dragged_line_and_close_while_running(qtbot):
    dlg = LRFinderDialog(SMALL, steps=30, start=1e-4, end=10.0)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.result_data is not None, timeout=30000)
    dlg.line.setValue(-2.0)                                            # the user drags to 1e-2
    assert "0.01" in dlg.line.label.format
    with qtbot.waitSignal(dlg.lr_chosen, timeout=1000) as blocker:
        dlg.use_button.click()
    assert blocker.args[0] == pytest.approx(1e-2)
    slow = LRFinderDialog(SMALL, steps=100_000, start=1e-7, end=1e-6)  # would take minutes
    qtbot.addWidget(slow)
    qtbot.waitUntil(lambda: slow.progress.value() > 0, timeout=30000)  # sweeping in its worker
    assert slow.running
    slow.reject()                                                      # closing cancels and ends the worker
    assert not slow.running and not slow.process.is_alive() and slow.use_button.isEnabled() is False


def test_lr_finder_reports_errors_in_words(qtbot):
    other = TrainingSession(RunConfig(n_samples=300, width=8), use_outbox=False).model
    weights = {k: v.numpy() for k, v in other.state_dict().items()}
    dlg = LRFinderDialog(SMALL, weights=weights, steps=10)
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.test_finished, timeout=30000) as blocker:
        pass
    assert "error" in blocker.args[0] and "does not fit" in dlg.status.text()
    assert not dlg.use_button.isEnabled()
    died = LRFinderDialog(SMALL, steps=100_000, start=1e-7, end=1e-6)
    qtbot.addWidget(died)
    qtbot.waitUntil(lambda: died.progress.value() > 0, timeout=30000)
    os.kill(died.process.pid, signal.SIGKILL)                         # out of memory, say
    qtbot.waitUntil(lambda: died.error is not None, timeout=30000)
    assert "died" in died.status.text() and "SIGKILL" in died.status.text() and not died.running


# ----------------------------------------------------------------------------- boundary view
def test_boundary_view_draws_a_payload_and_clears(qtbot):
    s = TrainingSession(RunConfig(n_samples=300), use_outbox=False)
    for _ in range(50):
        s.step()
    payload = predict_grid(s.model, s.data, s.device, resolution=30)
    payload["step"] = 50
    view = BoundaryView()
    qtbot.addWidget(view)
    view.show()
    view.update_boundary(payload)
    img = view.image.image
    assert img.shape == (30, 30, 3) and img.dtype == np.uint8
    # the pixel at grid cell (row j, col i) has its predicted class's hue
    classes = np.array(payload["classes"])
    from gui.lab.boundary_view import class_colours
    j, i = np.unravel_index(np.argmax(np.array(payload["confidence"])), classes.shape)
    colour = class_colours(3)[classes[j, i]].astype(int)
    pixel = img[j, i].astype(int)
    assert np.argmin(pixel) == np.argmin(colour)                      # tinted toward that class
    assert len(view.scatter.data) == len(payload["points"]["x"])
    rect = view.image.mapRectToParent(view.image.boundingRect())
    assert rect.left() < payload["x"][0] and rect.right() > payload["x"][-1]
    assert "step 50" in view.caption.text() and "classified correctly" in view.caption.text()
    view.clear()
    assert view.image.image is None and len(view.scatter.data) == 0 and view.payload is None


def test_init_lab_a_refused_setting_is_not_hidden_by_an_older_result(lab, qtbot):
    lab.std_edit.setText("1")
    assert lab.run()                       # a forward pass in flight
    lab.std_edit.setText("-3")
    assert lab.run() is False              # refused while the first one still runs
    qtbot.waitUntil(lambda: not lab.running and not lab._poller.isActive(), timeout=10000)
    assert "init_std" in lab.error and "init_std" in lab.status.text()  # still said, not replaced


def test_init_lab_inits_without_a_std_ignore_the_std_field(lab, qtbot):
    lab.std_edit.setText("abc")
    lab.init_combo.setCurrentText("he_normal")
    assert not lab.std_edit.isEnabled()
    with qtbot.waitSignal(lab.ran, timeout=5000):
        assert lab.run()
    assert lab.error is None and lab.result["init"] == "he_normal"


def test_diagnostics_panel_shows_a_code_again_after_a_reinit(qtbot):
    panel = DiagnosticsPanel()
    qtbot.addWidget(panel)
    assert panel.add_events([FINDING]) == 1
    assert panel.add_events([dict(FINDING, step=150)]) == 0
    assert panel.add_events([{"event": "reinit", "step": 160, "label": "re-init: he_normal"},
                             dict(FINDING, step=200)]) == 1   # the fresh network's own finding
    assert panel.count() == 2


def test_lr_finder_hands_on_a_rate_far_above_the_usual_range(qtbot):
    # every finite positive rate is a run's to try (lecture 6's 1e6): the setup warns, nothing refuses
    dlg = LRFinderDialog(RunConfig(n_samples=300, width=16), steps=20)
    qtbot.addWidget(dlg)
    chosen = []
    dlg.lr_chosen.connect(chosen.append)
    qtbot.waitUntil(lambda: dlg.chosen_lr is not None and not dlg.running, timeout=30000)
    dlg.line.setValue(3.0)  # 1000
    dlg.use_button.click()
    assert chosen == [pytest.approx(1000.0)]


def test_init_lab_wraps_ten_layers_into_rows_that_fit(qtbot):
    panel = InitLabPanel(depth=10, width=50, n=100)
    qtbot.addWidget(panel)
    panel.resize(700, 600)
    with qtbot.waitSignal(panel.ran, timeout=5000):
        panel.show()
    view = panel.hist_glw.viewport().rect()
    plots = [plot for plot, _ in panel._hist_items]
    assert len(plots) == 10
    for plot in plots:   # every histogram inside the visible area, none cut off
        r = panel.hist_glw.mapFromScene(plot.sceneBoundingRect()).boundingRect()
        assert view.contains(r.adjusted(1, 1, -1, -1)), (plot.titleLabel.text, r, view)
    assert panel.columns_for(10) < 10
    panel.resize(1500, 600)
    qtbot.waitUntil(lambda: panel.columns_for(10) == 10)


def test_init_lab_zooms_a_collapsed_histogram_to_its_data(qtbot):
    panel = InitLabPanel(depth=6, width=100, activation="tanh", init="normal", init_std=0.01, n=200)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.ran, timeout=5000):
        panel.show()
    last = panel.result["layers"][-1]
    shared_x = panel._hist_items[-1][1].getData()[0]
    assert shared_x[0] == pytest.approx(-1.0) and shared_x[-1] == pytest.approx(1.0)
    panel.set_zoom_all(True)
    x, counts = panel._hist_items[-1][1].getData()
    assert list(counts) == last["zoom"]["counts"] and sum(counts) == 200 * 100
    assert x[-1] - x[0] < 1e-3                     # layer 6 of tiny init: a spread far below 1e-3
    assert panel.zoomed(5) and panel.zoom_check.isChecked()
    panel.set_zoom_all(False)                      # the shared range a click away
    assert panel._hist_items[-1][1].getData()[0][0] == pytest.approx(-1.0)
    panel.set_zoomed(5, True)
    assert panel.zoomed(5) and not panel.zoomed(0)
    assert panel.log_check.isChecked()             # std across depth on a log axis by default


# ----------------------------------------------------------------------------- preprocessing view
def test_preprocess_view_shows_the_cloud_before_and_after_and_digits_per_feature(qtbot):
    from engine.train.data import build_dataset
    from gui.lab import PreprocessView
    view = PreprocessView()
    qtbot.addWidget(view)
    spiral = build_dataset(RunConfig(dataset="moons", preprocess="center"))
    view.show_dataset(spiral)
    for name, plot in view.plots.items():
        clouds = [item.getData() for item in view.items[name]]   # one scatter per class
        assert len(clouds) == spiral.n_classes
        x, y = np.concatenate([c[0] for c in clouds]), np.concatenate([c[1] for c in clouds])
        assert len(x) > 100
        assert np.allclose([x.mean(), y.mean()], 0.0, atol=0.1) == (name != "none")  # centred after
    assert "← this run" in view.plots["center"].titleLabel.text
    assert "'center'" in view.caption.text()
    digits = build_dataset(RunConfig(dataset="digits"))
    view.show_dataset(digits)
    x, mean = view.items["none"][0].getData()
    assert len(x) == 64 and mean.max() > 5                     # raw pixels: means up to ~10
    _, std = view.items["standardize"][1].getData()
    assert np.nanmax(np.abs(std - 1.0)[std > 0.5]) < 1e-3       # unit std per (varying) feature
