"""The setup panel binds to a RunConfig both ways and marks invalid values in place."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QGroupBox, QWidget

from engine.train.config import RunConfig
from gui.main_window import MainWindow
from gui.setup_panel import FIELDS, SetupPanel
from gui.widgets import LogSlider


@pytest.fixture
def panel(qtbot):
    p = SetupPanel()
    qtbot.addWidget(p)
    p.show()
    return p


def test_round_trip_every_field(panel):
    cfg = RunConfig(dataset="blobs", n_samples=500, classes=5, noise=0.3, val_fraction=0.1, subset=200,
                    preprocess="center", depth=3, width=32, activation="tanh", bn=True, dropout=0.1,
                    init="uniform", init_std=0.02, optimizer="rmsprop", lr=1e-4, rho=0.95, eps=1e-6,
                    weight_decay=1e-4, l2=1e-3, schedule="step", step_size=300, gamma=0.3,
                    batch_size=32, steps=1234, epochs=2.5, seed=7, probe_every=3, eval_every=9,
                    hist_bins=30, device="cpu")
    panel.set_config(cfg)
    assert panel.config() == cfg
    assert panel.is_valid()


def test_defaults_are_valid_and_shown(panel):
    assert panel.config() == RunConfig()
    assert panel.widgets["lr"].text() == "0.003"


def test_scientific_notation_is_accepted(panel):
    panel.widgets["lr"].setText("1e-3")
    assert panel.config().lr == 1e-3 and panel.is_valid()
    panel.widgets["steps"].setText("2e3")
    assert panel.config().steps == 2000 and panel.is_valid()


@pytest.mark.parametrize("key,text,words", [
    ("lr", "abc", "must be a number"),
    ("lr", "0", "must be > 0"),
    ("val_fraction", "0.95", "<= 0.9"),
    ("width", "-3", ">= 1"),
    ("steps", "12.5", "integer"),
])
def test_an_invalid_value_is_marked_in_place_with_the_reason(panel, qtbot, key, text, words):
    seen: list[bool] = []
    panel.validityChanged.connect(seen.append)
    panel.widgets[key].setText(text)
    w = panel.widgets[key]
    assert w.property("invalid") is True
    assert words in w.toolTip()
    assert words in panel.error_labels[key].text() and panel.error_labels[key].isVisible()
    assert panel.summary.isVisible() and FIELDS[key].label in panel.summary.text()
    assert seen == [False]
    assert not panel.is_valid()
    panel.set_config(RunConfig())
    assert w.property("invalid") is False and panel.is_valid() and seen == [False, True]


def test_an_invalid_value_disables_start_and_never_reaches_the_engine(qtbot):
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.show()
    assert win.act_start.isEnabled()
    win.setup.widgets["noise"].setText("-1")
    assert not win.act_start.isEnabled() and not win.act_step.isEnabled()
    assert "invalid" in win.state_label.text()
    win.start()                                   # the keyboard's way in: refused in words
    assert win.controller.session is None
    assert "noise" in win.banner.text()
    win.setup.widgets["noise"].setText("0.1")
    assert win.act_start.isEnabled()
    win.close()


def test_parameters_show_only_when_they_matter(panel):
    def shown(key):
        return not panel.rows[key].isHidden()
    panel.set_config(RunConfig(optimizer="adam"))
    assert shown("beta1") and shown("eps") and not shown("momentum") and not shown("rho")
    panel.widgets["optimizer"].setCurrentText("nesterov")
    assert shown("momentum") and not shown("beta1")
    panel.widgets["optimizer"].setCurrentText("rmsprop")
    assert shown("rho") and shown("eps")
    panel.widgets["schedule"].setCurrentText("step")
    assert shown("step_size") and shown("gamma") and not shown("warmup_steps")
    panel.widgets["schedule"].setCurrentText("warmup")
    assert shown("warmup_steps") and not shown("gamma")
    assert not shown("data_path")
    panel.widgets["dataset"].setCurrentText("idx")
    assert shown("data_path") and not shown("noise")
    assert "data path" in panel.widgets["data_path"].toolTip()        # required: marked
    panel.widgets["dataset"].setCurrentText("spiral")
    assert not panel.widgets["init_std"].isEnabled()
    panel.widgets["init"].setCurrentText("normal")
    assert panel.widgets["init_std"].isEnabled()


def test_a_hidden_field_with_a_problem_is_shown(panel):
    panel.set_config(RunConfig(optimizer="momentum"))
    panel.widgets["momentum"].setText("2")
    panel.widgets["optimizer"].setCurrentText("adam")     # momentum is irrelevant now, but invalid
    assert not panel.rows["momentum"].isHidden()
    assert not panel.is_valid()


def test_read_only_while_a_run_exists(panel):
    panel.set_read_only(True)
    assert not panel.widgets["lr"].isEnabled()
    panel.set_value("lr", 0.5)                        # the knobs may still write through
    assert panel.config().lr == 0.5
    panel.set_read_only(False)
    assert panel.widgets["lr"].isEnabled()


def test_log_slider_maps_both_ways(qtbot):
    s = LogSlider(1e-6, 10.0)
    qtbot.addWidget(s)
    assert s.to_float(0) == pytest.approx(1e-6)
    assert s.to_float(s.maximum()) == pytest.approx(10.0)
    for x in (1e-5, 3e-3, 0.1, 2.0):
        assert s.to_float(s.to_pos(x)) == pytest.approx(x, rel=0.02)


def test_numbers_round_trip_through_the_fields_exactly(qtbot):
    from gui.setup_panel import SetupPanel
    panel = SetupPanel()
    qtbot.addWidget(panel)
    cfg = RunConfig(lr=0.00123456789, epochs=2.3333333, weight_decay=1.23456789e-4, init_std=0.1 + 0.2)
    panel.set_config(cfg)
    back = panel.config()
    assert (back.lr, back.epochs, back.weight_decay, back.init_std) == (cfg.lr, cfg.epochs, cfg.weight_decay,
                                                                       cfg.init_std)
    panel.set_config(RunConfig(lr=0.003))
    assert panel.widgets["lr"].text() == "0.003"  # short where short is exact


def test_the_lr_slider_covers_the_usual_rates_and_the_field_takes_any(qtbot):
    from gui.knobs import KnobsPanel
    knobs = KnobsPanel()
    qtbot.addWidget(knobs)
    for lr in (1e-7, 3e-3, 50.0, 100.0):
        knobs.state.set("lr", lr)
        assert knobs.lr_slider.to_float(knobs.lr_slider.value()) == pytest.approx(lr, rel=0.03)
    knobs.state.set("lr", 1e6)         # lecture 6's rate: the field shows it, the slider is at its end
    assert knobs.lr_edit.value() == 1e6 and knobs.lr_slider.value() == knobs.lr_slider.maximum()


def test_a_huge_learning_rate_is_a_warning_not_a_refusal(panel):
    seen: list[bool] = []
    panel.validityChanged.connect(seen.append)
    panel.widgets["lr"].setText("1e6")
    assert panel.is_valid() and seen == [] and panel.config().lr == 1e6
    assert panel.error_labels["lr"].text() == "unusually high (usual ≤ 10): expect divergence"
    assert "lr 1e6 is far above the usual range" in panel.widgets["lr"].toolTip()
    assert panel.error_labels["lr"].isVisible() and panel.widgets["lr"].property("invalid") is False


def test_a_network_too_big_for_the_memory_is_marked_and_cannot_start(qtbot, monkeypatch):
    from engine.train import memory
    monkeypatch.setattr(memory, "host_available", lambda: 22 * 10**9)   # a 23 GB machine, on its CPU
    monkeypatch.setattr(memory, "runs_on_gpu", lambda device, import_torch=True: False)
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.show()
    win.setup.widgets["depth"].setText("100")
    win.setup.widgets["width"].setText("8192")
    assert not win.act_start.isEnabled() and not win.act_step.isEnabled()
    for key in ("depth", "width"):
        label = win.setup.error_labels[key]
        assert label.isVisible() and label.text() == "too big: needs about 186 GB, 22 GB available"
        assert win.setup.widgets[key].property("invalid") is True
    assert "needs about 186 GB (optimizer state 53 GB" in win.setup.summary.text()
    assert "too big for the memory available" in win.state_label.text()
    assert "use fewer layers or a smaller width" in win.setup.summary.text()
    assert win.setup.config().validate()            # a valid configuration, just too big for this machine
    win.start()
    assert win.controller.session is None and "186 GB" in win.banner.text()
    win.setup.widgets["width"].setText("64")
    assert win.act_start.isEnabled()
    win.close()


def test_every_field_and_unit_fits_the_panel_at_its_narrowest(window, qtbot):
    # the splitter dragged all the way left at 1280 x 720: the scroll area at its minimum width
    # (no horizontal scroll bar) still shows every editor and unit whole
    window.resize(1280, 720)
    window.splitter.setSizes([0, 1280])
    window.setup.set_value("lr", 1e6)                     # a warning line under a field too
    qtbot.waitUntil(lambda: window.setup_scroll.width() == window.setup_scroll.minimumWidth())
    viewport = window.setup_scroll.viewport()
    panel = window.setup
    shown = [w for w in panel.findChildren(QWidget) if w.isVisibleTo(panel) and not isinstance(w, QGroupBox)]
    assert len(shown) > 40
    for w in shown:
        right = w.mapTo(panel, w.rect().topRight()).x()
        assert right < viewport.width(), f"{w.objectName() or type(w).__name__} {getattr(w, 'text', lambda: '')()!r} is cut"
