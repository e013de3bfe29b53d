"""The Sweep tab through what a user does: write a spec, run a tiny real sweep (spiral, 2 workers),
watch the table and scatter fill, refine to the top quarter or to a box, ensemble, open a trial in
the dashboard, open an earlier sweep, stop. Sweeps and runs go to folders of the test's own."""
from __future__ import annotations

import math
import tomllib

import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QTextCursor

from engine.sweep.driver import Sweep
from engine.sweep.ensemble import ensemble_top_k
from engine.sweep.space import Param, parse_spec
from gui.sweep.scales import coord, label
from gui.sweep.tab import SweepTab

WAIT = 60_000
TINY = """name = "tiny"
trials = 4
steps = 60
[base]
dataset = "spiral"
n_samples = 300
depth = 1
width = 16
optimizer = "sgd"
[space]
lr = {low = 1e-3, high = 1.0, scale = "log"}
l2 = {low = 1e-5, high = 1e-1, scale = "log"}
"""


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("BABYSIT_SWEEPS_DIR", str(tmp_path / "sweeps"))
    monkeypatch.setenv("BABYSIT_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


@pytest.fixture
def tab(qtbot):
    t = SweepTab()
    qtbot.addWidget(t)
    t.resize(1100, 600)
    t.show()
    qtbot.waitExposed(t)
    yield t
    t.shutdown()


def run_to_the_end(qtbot, tab: SweepTab) -> Sweep:
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    assert tab.running
    qtbot.waitUntil(lambda: not tab.running and tab.run_button.isEnabled(), timeout=WAIT)
    return Sweep.open(tab.data.sweep_id)


def scatter_symbols(tab: SweepTab) -> list[str]:
    return [spot.symbol() for spot in tab.scatter.points.points()]


def test_a_sweep_run_in_the_window_fills_the_table_and_scatter_then_refines(window, qtbot):
    tab = window.sweep.tab
    window.tabs.setCurrentWidget(window.sweep.page)
    tab.editor.set_text(TINY)
    tab.workers.setValue(2)
    sweep = run_to_the_end(qtbot, tab)

    results = sweep.results()
    finished = [r for r in results if r["status"] == "finished"]
    assert len(results) == 4 and len(finished) >= 2
    assert tab.table.row_count() == 4
    assert len(tab.scatter.points.points()) == len(finished)
    assert set(scatter_symbols(tab)) == {"o"}
    assert len(tab.curves.kind_of) == 4 and tab.curves.best_key is not None

    # ensemble the top 2: the number shown is the engine's, beside the best single trial
    tab.k.setValue(2)
    qtbot.mouseClick(tab.ensemble_button, Qt.MouseButton.LeftButton)
    expected = ensemble_top_k(results, 2)
    assert f"{expected['ensemble_acc']:.3f}" in tab.ensemble_label.text()
    assert f"best single {expected['best_acc']:.3f}" in tab.ensemble_label.text()

    # double-click the top row: the trial's recorded run opens in the dashboard
    best = tab.table.key_at(0)
    run_id = tab.data.trials[best].run
    rect = tab.table.visualRect(tab.table.proxy.index(0, 0))
    with qtbot.waitSignal(tab.openRequested) as opened:   # a press, then the double-click, as a mouse sends them
        qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == [run_id]
    assert window.runs.opened == run_id
    assert window.tabs.currentWidget() is window.dashboard
    assert len(window.controller.history) == tab.data.trials[best].steps
    # the title names the trial shown, not the setup panel's next run
    assert window.windowTitle().startswith(f"babysit — recorded run {tab.sweep.id}/{best[0]}-{best[1]} (")

    # zoom to the top quarter: stage 2's space is in the editor, Run runs it in the same sweep
    window.tabs.setCurrentWidget(window.sweep.page)
    qtbot.mouseClick(tab.top_button, Qt.MouseButton.LeftButton)
    assert tab.run_button.text() == "Run stage 2"
    tab.trials.setValue(2)
    sweep = run_to_the_end(qtbot, tab)
    assert sweep.stages == [1, 2]
    old, new = sweep.spec(1).space["lr"], sweep.spec(2).space["lr"]
    assert old.low <= new.low < new.high <= old.high
    assert math.log10(new.high / new.low) < math.log10(old.high / old.low)
    assert tab.table.row_count() == 6
    done = [r for r in sweep.results() if r["status"] == "finished"]
    assert len(tab.scatter.points.points()) == len(done)
    assert "t" in scatter_symbols(tab)   # stage 2's mark


def test_invalid_toml_or_space_is_said_in_place_and_disables_run(tab, qtbot):
    assert tab.run_button.isEnabled()
    tab.editor.set_text("name = \n")
    assert "not valid TOML" in tab.editor.message.text()
    assert not tab.run_button.isEnabled()
    tab.editor.set_text(TINY.replace("low = 1e-3, high = 1.0", "low = 1.0, high = 1e-3"))
    assert "space.lr: low must be below high" in tab.editor.message.text()
    assert not tab.run_button.isEnabled()
    assert tab.run() is False
    tab.editor.set_text(TINY)
    assert tab.run_button.isEnabled()
    # typing is checked once the typing pauses
    tab.editor.text.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(tab.editor.text, "bogus = 1")   # on the line after [space]
    qtbot.waitUntil(lambda: "space: 'bogus' is not a run setting" in tab.editor.message.text(), timeout=5000)
    assert not tab.run_button.isEnabled()


def test_the_preview_counts_distinct_values_the_same_budget_as_grid_and_random(tab, qtbot):
    tab.editor.load_preset("grid_vs_random")
    tab.views.setCurrentWidget(tab.preview)
    qtbot.waitUntil(lambda: tab.preview.distinct["grid"].get("lr") == 5, timeout=10_000)
    assert tab.preview.distinct["random"] == {"lr": 25, "momentum": 25}
    assert tab.preview.distinct["grid"] == {"lr": 5, "momentum": 5}
    assert "lr 5, momentum 5" in tab.preview.grid.title.text()
    # lr is drawn on its log scale: the random trials' x are log10(lr), inside the range's decades
    xs, _ = tab.preview.random.points.getData()
    assert len(xs) == 25 and xs.min() >= -4 - 1e-9 and xs.max() <= 1e-9


def test_one_minus_log_keys_are_drawn_as_decades_of_one_minus_beta(tab, qtbot):
    beta = Param("beta1", low=0.9, high=0.999, scale="one_minus_log")
    assert [coord(beta, b) for b in (0.9, 0.99, 0.999)] == pytest.approx([1, 2, 3])
    assert [label(beta, c) for c in (1.0, 2.0, 3.0)] == ["0.9", "0.99", "0.999"]
    tab.editor.load_preset("adam_beta1")
    tab.xkey.setCurrentText("beta1")
    tab.views.setCurrentWidget(tab.preview)
    qtbot.waitUntil(lambda: "beta1" in tab.preview.distinct["random"], timeout=10_000)
    xs, _ = tab.preview.random.points.getData()
    assert xs.min() >= 1 - 1e-9 and xs.max() <= 3 + 1e-9
    strings = tab.preview.random.xaxis.tickStrings([1.0, 2.0, 3.0], 1.0, 1.0)
    assert strings == ["0.9", "0.99", "0.999"]


def test_an_earlier_sweep_is_drawn_and_a_box_on_its_scatter_makes_the_next_space(tab, qtbot):
    sweep = Sweep.create(parse_spec(tomllib.loads(TINY)))
    sweep.run(workers=2)
    tab.refresh_sweeps()
    tab.earlier.setCurrentIndex(tab.earlier.findData(sweep.id))
    qtbot.mouseClick(tab.open_button, Qt.MouseButton.LeftButton)
    finished = [r for r in sweep.results() if r["status"] == "finished"]
    assert tab.table.row_count() == 4
    assert len(tab.scatter.points.points()) == len(finished)
    assert tab.run_button.text() == "Run"   # a complete stage: Run would start a new sweep

    # a box around lr in [0.01, 0.3], l2 in [1e-4, 1e-2] (the scatter's coordinates are log10)
    assert not tab.box_button.isEnabled()
    tab.scatter.set_box(QRectF(-2.0, -4.0, math.log10(0.3) + 2.0, 2.0))
    assert tab.box_button.isEnabled()
    qtbot.mouseClick(tab.box_button, Qt.MouseButton.LeftButton)
    spec = tab.editor.spec()
    assert (spec.space["lr"].low, spec.space["lr"].high) == pytest.approx((0.01, 0.3))
    assert (spec.space["l2"].low, spec.space["l2"].high) == pytest.approx((1e-4, 1e-2))
    assert tab.run_button.text() == "Run stage 2"


def test_stop_ends_every_trial_and_closing_the_window_stops_a_resumed_sweep(window, qtbot):
    tab = window.sweep.tab
    window.tabs.setCurrentWidget(window.sweep.page)
    tab.editor.set_text(TINY.replace("steps = 60", "steps = 10000000").replace("trials = 4", "trials = 2"))
    tab.workers.setValue(2)
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sum(t.steps > 0 for t in tab.data.trials.values()) == 2, timeout=WAIT)
    qtbot.mouseClick(tab.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.running and tab.run_button.isEnabled(), timeout=10_000)
    assert {t.status for t in tab.data.trials.values()} == {"stopped"}
    assert tab.run_button.text() == "Resume stage 1"
    assert Sweep.open(tab.data.sweep_id).results() == []   # a stopped trial is not recorded: it runs again

    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sum(t.status == "running" and t.steps > 0 for t in tab.data.trials.values()) == 2,
                    timeout=WAIT)
    window.close()
    assert not tab.runner.running   # the sweep's thread was stopped and joined as the window closed
