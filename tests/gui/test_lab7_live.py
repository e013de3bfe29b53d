"""Lecture 7 in a live run: weight averaging from the knobs, L-BFGS from the setup panel, batch
norm turned on mid-run in the BN tab. Headless (offscreen); the fixture closes the window."""
from __future__ import annotations

import math

import pytest
from PySide6.QtCore import Qt

from engine.train.config import RunConfig

FAST = RunConfig(n_samples=300, width=16, steps=100_000, probe_every=5, eval_every=10)
WAIT = 20_000


def start(win, qtbot, cfg: RunConfig = FAST, min_steps: int = 5) -> None:
    win.setup.set_config(cfg)
    assert win.act_start.isEnabled()
    win.act_start.trigger()
    qtbot.waitUntil(lambda: len(win.controller.history) >= min_steps, timeout=WAIT)


def chart_column(plot, name: str) -> dict[int, float]:
    plot.ensure_current()
    header, rows = plot.csv_table()
    i = header.index(name)
    return {int(r[0]): float(r[i]) for r in rows if r[i] != ""}


def test_averaging_on_mid_run_adds_a_second_validation_curve_and_a_marker(window, qtbot):
    start(window, qtbot)
    c, k = window.controller, window.knobs
    markers = window.dashboard.marker_count()
    k.decay_edit.setText("0.95")
    k.average_check.click()
    qtbot.waitUntil(lambda: any(e["event"] == "average" for e in c.history.events), timeout=WAIT)
    on_at = next(e for e in c.history.events if e["event"] == "average")["step"]
    assert c.session.cfg.average_decay == 0.95
    qtbot.waitUntil(lambda: window.dashboard.marker_count() > markers, timeout=WAIT)
    qtbot.waitUntil(lambda: (c.history.val_column("step") > on_at + 20).any(), timeout=WAIT)
    c.pause(wait=5.0)
    qtbot.waitUntil(lambda: c.history.last_step == c.session.steps_taken(), timeout=WAIT)
    steps = c.history.val_column("step")
    for plot, key in ((window.dashboard.loss, "loss"), (window.dashboard.accuracy, "acc")):
        shown = chart_column(plot, f"val_{plot.label}_avg")
        recorded = {int(s): float(v) for s, v in zip(steps, c.history.val_column(f"val_{key}_avg"))
                    if math.isfinite(v)}
        assert recorded and all(s > on_at for s in recorded)          # only after the switch
        assert shown.keys() == recorded.keys()
        for s, v in recorded.items():
            assert shown[s] == pytest.approx(v, rel=1e-5)
        assert chart_column(plot, f"val_{plot.label}").keys() > recorded.keys()   # raw validation too


def test_a_bad_decay_is_refused_in_place_and_the_run_keeps_its_weights_unaveraged(window, qtbot):
    start(window, qtbot)
    c, k = window.controller, window.knobs
    k.decay_edit.setText("1.5")
    k.average_check.click()
    assert k.decay_edit.property("invalid") is True
    assert not k.average_check.isChecked()                            # went back
    steps = c.history.last_step
    qtbot.waitUntil(lambda: c.history.last_step > steps + 20, timeout=WAIT)
    assert c.session.cfg.average_decay is None
    assert not any(e["event"] == "average" for e in c.history.events)


def pick(combo, text: str) -> None:
    """What a user's pick does: the index changes (the panel listens to it)."""
    combo.setCurrentIndex(combo.findText(text))


def test_choosing_lbfgs_in_the_setup_sets_the_full_batch_and_start_trains_with_it(window, qtbot):
    setup = window.setup
    setup.set_config(RunConfig(n_samples=300, val_fraction=0.2, width=16, dropout=0.2, steps=100_000,
                               eval_every=10))
    pick(setup.widgets["optimizer"], "lbfgs")
    cfg = setup.config()
    assert (cfg.optimizer, cfg.batch_size, cfg.dropout) == ("lbfgs", 240, 0.0)   # 300 − 60 held out
    note = setup.error_labels["optimizer"]
    assert note.isVisibleTo(setup) and "full batch" in note.text() and "240" in note.text()
    setup.widgets["n_samples"].setText("600")              # the data changes: the batch follows
    assert setup.config().batch_size == 480
    window.act_start.trigger()
    c = window.controller
    qtbot.waitUntil(lambda: len(c.history) >= 5, timeout=WAIT)
    assert c.session.cfg.optimizer == "lbfgs" and c.session.steps_per_epoch == 1   # the trainer took the full batch
    assert c.state == "running"


def test_a_live_switch_to_lbfgs_with_a_small_batch_is_refused_in_words(window, qtbot):
    start(window, qtbot)                                    # batch 64 of 240 training examples
    c, k = window.controller, window.knobs
    k.optimizer_combo.setCurrentText("lbfgs")
    k.optimizer_combo.activated.emit(k.optimizer_combo.currentIndex())
    assert k.optimizer_combo.currentText() == FAST.optimizer   # went back
    qtbot.waitUntil(lambda: "whole training set" in window.banner.text(), timeout=WAIT)
    assert c.session.cfg.optimizer == FAST.optimizer


def test_batch_norm_turned_on_mid_run_shows_in_the_bn_tab(window, qtbot):
    start(window, qtbot)                                    # no batch norm yet
    c, bn = window.controller, window.lab.bn_test
    window.tabs.setCurrentWidget(bn)
    qtbot.waitUntil(lambda: len(c.history) >= 30, timeout=WAIT)
    assert bn.points == [] and "Turn batch norm on" in bn.caption.text()
    window.knobs.bn_check.click()
    qtbot.waitUntil(lambda: any(e["event"] == "bn" for e in c.history.events), timeout=WAIT)
    on_at = next(e for e in c.history.events if e["event"] == "bn")["step"]
    qtbot.waitUntil(lambda: len(bn.points) >= 2, timeout=WAIT)
    assert all(p["step"] >= on_at for p in bn.points)
    assert "eval mode" in bn.caption.text() and "train mode" in bn.caption.text()
    assert [bn.layer_combo.itemText(i) for i in range(bn.layer_combo.count())] == \
        [r["name"] for r in bn.points[-1]["layers"]]
    for mode in ("eval", "train"):
        assert 0.0 <= bn.points[-1]["modes"][mode][1] <= 1.0
