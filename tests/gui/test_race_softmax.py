"""The optimizer race, softmax and batch-norm panels: what they draw is what the engine computed
(the softmax and batch-norm readings in the run's worker process, as in the window)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.train.config import RunConfig
from engine.lab.softmax import ExampleReader
from engine.runs.worker import Worker
from gui.lab import RacePanel, SoftmaxPanel

WAIT = 30_000


@pytest.fixture
def remote():
    """Runs in worker processes, as the window makes them (not recorded); stopped after the test."""
    runs = []

    def begin(cfg):
        runs.append(Worker().begin(cfg, record=False))
        return runs[-1]
    yield begin
    for run in runs:
        run.stop(1.0)


def drained_steps(run) -> int:
    run.drain()           # the window's controller does this every tick
    return run.step_count


# ----------------------------------------------------------------------------- optimizer race
@pytest.fixture
def race(qtbot):
    panel = RacePanel(steps=60)
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    with qtbot.waitSignal(panel.raced, timeout=WAIT):
        panel.show()                                  # races on first show
    yield panel
    panel.stop()


def drawn(item):
    x, y = item.getData()
    return np.column_stack([x, y]) if x is not None else np.empty((0, 2))


def test_race_draws_every_trajectory_and_loss_curve_step_by_step(race, qtbot):
    assert [r["optimizer"] for r in race.result["runs"]] == ["sgd", "momentum", "adam"]
    qtbot.waitUntil(lambda: not race.animating, timeout=WAIT)     # the animation plays to the end
    for run in race.result["runs"]:
        assert drawn(race.paths[run["optimizer"]]) == pytest.approx(np.asarray(run["path"]))
        assert race.losses[run["optimizer"]].getOriginalDataset()[1] == pytest.approx(np.maximum(run["loss"], 1e-12))
    assert len(drawn(race.paths["rmsprop"])) == 0                 # not racing: nothing drawn
    race.slider.setValue(10)                                      # scrubbing shows the race at step 10
    assert race.frame == 10 and "step 10 / 60" in race.step_label.text()
    sgd = race.result["runs"][0]
    assert drawn(race.paths["sgd"]) == pytest.approx(np.asarray(sgd["path"][:11]))
    assert sum(len(x) for _level, x, _y in race.result["contours"]) > 0
    assert all(len(race.contour_items[i].getData()[0]) > 0 for i in range(3))


def test_race_follows_the_controls(race, qtbot):
    race.set_surface("saddle")
    with qtbot.waitSignal(race.raced, timeout=WAIT):
        race.race()
    assert race.result["surface"] == "saddle" and race.result["start"] == [-1.5, 0.001]
    assert race.lr_edits["sgd"].placeholderText() == "0.05"       # the saddle's own learning rates
    race.set_optimizers(["sgd", "lbfgs"])
    race.set_lr("sgd", 0.02)
    race.set_start(1.0, -0.5)
    with qtbot.waitSignal(race.raced, timeout=WAIT):
        race.race()
    runs = {r["optimizer"]: r for r in race.result["runs"]}
    assert set(runs) == {"sgd", "lbfgs"} and runs["sgd"]["lr"] == 0.02 and runs["lbfgs"]["lr"] == 1.0
    assert runs["sgd"]["path"][0] == [1.0, -0.5]


def test_race_refuses_a_bad_learning_rate_in_words(race):
    race.lr_edits["adam"].setText("fast")
    assert race.race() is False
    assert "learning rate of adam" in race.error and "adam" in race.status.text()
    assert race.lr_edits["adam"].property("invalid")
    race.set_optimizers([])
    race.lr_edits["adam"].setText("")
    assert race.race() is False and "at least one optimizer" in race.error


# ----------------------------------------------------------------------------- softmax
@pytest.fixture
def softmax(qtbot):
    panel = SoftmaxPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    return panel


def bar_heights(item):
    return list(item.opts["height"])


def test_softmax_panel_shows_the_notes_worked_example(softmax):
    r = softmax.result                                             # drawn on first show
    assert r["sum_t"] == pytest.approx(176.3, abs=0.05)
    assert bar_heights(softmax.prob_bars) == pytest.approx([0.842, 0.042, 0.002, 0.114], abs=5e-4)
    assert bar_heights(softmax.hard_bars) == [1, 0, 0, 0]
    assert "176.3" in softmax.table.text() and "0.842" in softmax.table.text()
    softmax.logits_edit.setText("1, 1")
    softmax.logits_edit.textEdited.emit("1, 1")                  # as typing does
    assert bar_heights(softmax.prob_bars) == pytest.approx([0.5, 0.5])
    assert "log 0.5" in softmax.status.text()
    softmax.logits_edit.textEdited.emit("1, x")
    softmax.logits_edit.setText("1, x")
    softmax._worked_changed()
    assert "numbers" in softmax.error


def test_softmax_panel_reads_a_digit_of_the_live_run(softmax, remote, qtbot, model_of):
    run = remote(RunConfig(dataset="digits", steps=100_000, batch_size=32))
    softmax.set_session(run)
    softmax.select(5)
    expected = ExampleReader(run.data).read(model_of(run), 5)   # the same reading, made here from the same weights
    assert softmax.result["z"] == pytest.approx(expected["z"], rel=1e-5, abs=1e-6)
    assert softmax.result["label"] == expected["label"]
    assert bar_heights(softmax.logit_bars) == pytest.approx(softmax.result["z"])
    assert softmax.image.image.shape == (8, 8)
    run.start()
    qtbot.waitUntil(lambda: drained_steps(run) >= 40, timeout=WAIT)
    before = softmax.result["loss"]
    softmax.refresh(None)                                   # the window calls this once per delivery
    assert softmax.result["loss"] != before and softmax.result["index"] == 5
    run.stop()                                              # its worker is gone: said in words, the bars kept
    softmax.index_spin.setValue(6)
    assert "ended" in softmax.error and "example 5 as last read" in softmax.error
    assert softmax.result["index"] == 5


def test_softmax_panel_picks_the_nearest_2d_point(softmax, remote):
    run = remote(RunConfig(dataset="spiral", n_samples=300))
    softmax.set_session(run)
    from engine.lab.softmax import raw_example
    x, y = raw_example(run.data, 17)
    assert softmax.select_nearest(x + 1e-4, y) == 17
    assert softmax.result["index"] == 17
    assert list(softmax.chosen.getData()[0]) == pytest.approx([x])


def test_softmax_tab_follows_training_in_the_window(window, qtbot):
    window.setup.set_config(RunConfig(dataset="digits", steps=100_000, batch_size=32))
    window.tabs.setCurrentWidget(window.lab.softmax)
    window.act_start.trigger()
    qtbot.waitUntil(lambda: window.lab.softmax.result is not None and "index" in window.lab.softmax.result,
                    timeout=WAIT)
    first = window.lab.softmax.result["z"]
    qtbot.waitUntil(lambda: window.lab.softmax.result["z"] != first, timeout=WAIT)   # updates as it trains


def test_race_tab_is_in_the_window(window, qtbot):
    with qtbot.waitSignal(window.lab.race.raced, timeout=WAIT):
        window.tabs.setCurrentWidget(window.lab.race)
    assert window.lab.race.result["surface"] == "taco"


# ----------------------------------------------------------------------------- batch norm at test time
def test_bn_panel_follows_a_batch_norm_run(qtbot, remote, model_of):
    from gui.lab import BatchNormPanel
    panel = BatchNormPanel()
    qtbot.addWidget(panel)
    panel.show()
    run = remote(RunConfig(dataset="digits", bn=True, batch_size=32, steps=60))
    panel.set_session(run)
    assert panel.read() is not None
    run.start()
    qtbot.waitUntil(lambda: drained_steps(run) == 60 and run.state == "finished", timeout=WAIT)
    point = panel.read()                                    # a finished run's worker still answers
    assert [p["step"] for p in panel.points] == [0, 60]
    from engine.lab.bnstats import evaluate_modes
    here = evaluate_modes(model_of(run), torch_tensor(run.data.X_val), torch_tensor(run.data.y_val))
    assert point["modes"]["eval"] == pytest.approx(here["eval"], rel=1e-5)
    assert point["modes"]["train"] == pytest.approx(here["train"], rel=1e-5)
    assert list(panel.curves["running_mean"].getData()[1]) == pytest.approx(
        [p["layers"][0]["unit0_running_mean"] for p in panel.points])
    assert list(panel.curves["eval"].getData()[1]) == pytest.approx([p["modes"]["eval"][1] for p in panel.points])
    assert "Expected more than 1 value per channel" in panel.caption.text()
    run.stop()                                              # its worker is gone: said in words, the points kept
    assert panel.read() is None and "ended" in panel.caption.text() and len(panel.points) == 2
    panel.set_session(None)
    assert panel.points == [] and panel.read() is None


def torch_tensor(a):
    import torch
    return torch.as_tensor(a)


def test_a_click_on_the_contour_plot_starts_the_race_there(race, qtbot):
    from PySide6 import QtCore
    vb = race.contour_plot.getViewBox()
    view = race.contour_plot.scene().views()[0]
    target = view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(-2.0, 1.5)))
    with qtbot.waitSignal(race.raced, timeout=WAIT):
        qtbot.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=target)
    x, y = race.result["start"]
    assert x == pytest.approx(-2.0, abs=0.1) and y == pytest.approx(1.5, abs=0.05)
