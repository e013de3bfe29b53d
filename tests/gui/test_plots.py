"""The live charts (gui/plots): data into long-lived curves, event markers, reset, exports.

Runs offscreen (tests/conftest.py). One short real training run is shared by the module; each
test builds its own Dashboard.
"""
from __future__ import annotations

import csv
import math
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.train.config import RunConfig
from engine.runs.history import History
from engine.runs.session import TrainingSession
from gui.plots import PLOT_NAMES, BasePlot, Dashboard, IncrementalEma, ema_smooth

MARKED = {"lr", "reinit", "optimizer", "bn", "diverged", "error"}


def train(steps: int = 60, commands: bool = True, **cfg) -> History:
    cfg = {"steps": steps, "device": "cpu", "n_samples": 300, "probe_every": 10, "eval_every": 10, **cfg}
    s = TrainingSession(RunConfig(**cfg))
    for i in range(steps):
        if commands and i == 15:
            s.set_lr(1e-2)
        if commands and i == 25:
            s.reinit("xavier_normal")
        if commands and i == 35:
            s.set_optimizer("sgd")
        if commands and i == 45:
            s.set_bn(True)
        if s.step() is None:
            break
    return s.history


@pytest.fixture(scope="module")
def history() -> History:
    return train()


@pytest.fixture
def dash(qtbot) -> Dashboard:
    d = Dashboard()
    qtbot.addWidget(d)
    return d


def marked_events(history: History) -> list[dict]:
    return [e for e in history.events if e.get("event") in MARKED]


def vertical_lines(plot: pg.PlotItem) -> list[pg.InfiniteLine]:
    return [i for i in plot.items if isinstance(i, pg.InfiniteLine) and i.angle == 90]


def pixel_variance(image: QImage) -> float:
    step = max(1, image.width() // 200)
    values = [image.pixel(x, y) & 0xFFFFFF for x in range(0, image.width(), step)
              for y in range(0, image.height(), step)]
    return float(np.var(values))


# ---------------------------------------------------------------------------- smoothing
def test_ema_matches_a_hand_computation():
    # w = 0.5: ema = 0.5, 1.25, 2.125; debias by 1 - 0.5, 1 - 0.25, 1 - 0.125
    np.testing.assert_allclose(ema_smooth([1.0, 2.0, 3.0], 0.5), [1.0, 1.25 / 0.75, 2.125 / 0.875])
    np.testing.assert_allclose(ema_smooth([4.0, 1.0, 7.0], 0.0), [4.0, 1.0, 7.0])
    # a NaN passes through and does not advance the average (the 3 is the 2nd finite value)
    out = ema_smooth([1.0, math.nan, 3.0], 0.5)
    assert math.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [1.0, (0.25 + 1.5) / 0.75])
    with pytest.raises(ValueError):
        ema_smooth([1.0], 1.0)


def test_incremental_ema_equals_the_batch_one():
    x = np.random.default_rng(1).normal(size=1000)
    x[[10, 500]] = np.nan
    ema = IncrementalEma(0.9)
    for end in (1, 7, 400, 401, 1000):  # a growing column, fed as the history grows
        got = ema.update(x[:end])
    np.testing.assert_allclose(got, ema_smooth(x, 0.9), equal_nan=True)
    np.testing.assert_allclose(ema.update(x[:1000] * 2, rewritten=True), ema_smooth(x * 2, 0.9), equal_nan=True)


# ---------------------------------------------------------------------------- data
def test_plot_widgets_are_the_named_base_plots(dash):
    plots = dash.plot_widgets()
    assert tuple(plots) == PLOT_NAMES == ("loss", "accuracy", "update_ratio", "activations", "gradients")
    for name, plot in plots.items():
        assert isinstance(plot, BasePlot) and plot.name == name


def test_refresh_puts_the_history_into_the_curves(dash, history):
    dash.refresh(history)
    steps, loss = history.column("step"), history.column("loss")
    x, y = dash.loss.raw.getData()
    assert len(x) == len(history) == len(loss)
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_allclose(y, loss)
    np.testing.assert_allclose(dash.loss.smooth.getData()[1], ema_smooth(loss, dash.smoothing), rtol=1e-6)
    assert len(dash.loss.val.getData()[0]) == history.val.n > 1
    assert len(dash.accuracy.raw.getData()[0]) == len(history)
    np.testing.assert_allclose(dash.accuracy.val.getData()[1], history.val_column("val_acc"))

    rows = history.probes.n
    ratios = history.layer_column("update_ratio")
    assert len(dash.update_ratio.layers.curves) == len(history.layer_names) == 3  # hidden1, hidden2, output
    for j, curve in dash.update_ratio.layers.curves:
        assert curve.name() == history.layer_names[j]
        np.testing.assert_allclose(curve.yData, ratios[:, j])
        np.testing.assert_allclose(curve.getData()[1], np.log10(ratios[:, j]), rtol=1e-5)  # drawn log-y
        assert len(curve.getData()[0]) == rows
    assert len(dash.gradients.norms.curves) == 3
    assert len(dash.gradients.fracs.curves) == 2  # hidden layers only (the output has no ReLU)
    assert dash.gradients.frac_key == "dead_frac"
    assert len(dash.activations.median_curve.getData()[0]) == rows


def test_refresh_does_nothing_when_the_history_did_not_change(dash, history, monkeypatch):
    dash.refresh(history)
    calls = []
    monkeypatch.setattr(dash.loss, "update_data", lambda h, full: calls.append(full))
    dash.refresh(history)
    dash.refresh(history)
    assert calls == []
    history.append_event({"event": "note", "step": 1, "label": "x"})  # bumps the version
    try:
        dash.refresh(history)
        assert calls == [False]
    finally:
        history.events.pop()


def test_a_decimated_history_is_redrawn_from_its_rewritten_rows(dash):
    h = History(max_rows=64)  # decimates (drops every other row) whenever 64 rows are stored
    rng = np.random.default_rng(0)
    for step in range(1, 301):
        h.append_scalars({"step": step, "loss": float(rng.uniform(0.5, 2.0)), "train_acc": 0.5})
        if step in (20, 60, 150):  # more rows after a decimation than before it: must redraw all
            dash.refresh(h)
    dash.refresh(h)
    assert h.generation > 0
    np.testing.assert_array_equal(dash.loss.raw.getData()[0], h.column("step"))
    np.testing.assert_allclose(dash.loss.smooth.getData()[1], ema_smooth(h.column("loss"), dash.smoothing),
                               rtol=1e-6)


def test_histograms_show_the_latest_counts_of_each_hidden_layer(dash, history):
    dash.refresh(history)
    items = dash.activations.histogram_items()
    layers = [l for l in history.latest_snapshot["layers"] if l["hist"]]
    assert list(items) == [l["name"] for l in layers] == ["hidden1", "hidden2"]
    for layer in layers:
        x, y = items[layer["name"]].xData, items[layer["name"]].yData
        np.testing.assert_allclose(x, layer["hist"]["edges"])
        np.testing.assert_array_equal(y, layer["hist"]["counts"])
    means = dash.activations.mean_curve.getData()[1]
    np.testing.assert_allclose(means, [l["act_mean"] for l in layers])


def test_a_snapshot_held_back_by_the_histograms_pace_is_drawn_soon_after(dash, qtbot):
    # flat out a probe comes every few ms: the histograms redraw at most every SNAPSHOT_SECONDS,
    # but the newest one is drawn when its turn comes, also when no more data arrives (a pause)
    s = TrainingSession(RunConfig(steps=200, device="cpu", n_samples=300, probe_every=5, eval_every=50))
    dash.tabs.setCurrentWidget(dash.activations)
    for _ in range(30):
        s.step()
    dash.refresh(s.history)
    for _ in range(20):
        s.step()
    dash.refresh(s.history)

    def shows_newest() -> bool:
        newest = [l for l in s.history.latest_snapshot["layers"] if l["hist"]]
        items = dash.activations.histogram_items()
        return all(np.array_equal(items[l["name"]].yData, l["hist"]["counts"]) for l in newest)
    qtbot.waitUntil(shows_newest, timeout=2000)
    assert s.history.latest_snapshot["step"] == 50


def test_smoothing_slider_redraws_from_the_last_history(dash, history):
    dash.refresh(history)
    dash.loss.slider.setValue(0)  # weight 0: the smoothed curve is the raw one
    assert dash.smoothing == 0.0 and dash.accuracy.smoothing == 0.0
    np.testing.assert_allclose(dash.loss.smooth.getData()[1], history.column("loss"))
    np.testing.assert_allclose(dash.accuracy.smooth.getData()[1], history.column("train_acc"))
    dash.set_smoothing(0.9)
    assert dash.loss.slider.value() == 900
    np.testing.assert_allclose(dash.loss.smooth.getData()[1], ema_smooth(history.column("loss"), 0.9))


def test_log_y_checkbox_and_log_ratio_axis(dash, history):
    dash.refresh(history)
    assert dash.update_ratio.plot.getAxis("left").logMode
    assert not dash.loss.plot.getAxis("left").logMode
    dash.loss.log_box.setChecked(True)
    assert dash.loss.plot.getAxis("left").logMode


# ---------------------------------------------------------------------------- markers
def test_markers_for_each_event_on_every_time_plot_without_duplicates(dash, history):
    expected = marked_events(history)
    assert {e["event"] for e in expected} == {"lr", "reinit", "optimizer", "bn"}
    dash.refresh(history)
    assert dash.marker_count() == len(expected)
    dash.refresh(history)
    dash.refresh(history)
    assert dash.marker_count() == len(expected)
    time_plots = [p for plot in dash.plot_widgets().values() for p in plot.time_plots()]
    assert len(time_plots) == 6  # loss, accuracy, ratio, grad norm, dead fraction, distribution
    for plot in time_plots:
        lines = vertical_lines(plot)
        assert sorted(l.value() for l in lines) == sorted(float(e["step"]) for e in expected)
        assert {l.full_text for l in lines} == {e["label"] for e in expected}   # (hover: the full text)


def test_markers_are_not_drawn_twice_when_more_data_arrives(dash):
    h = train(steps=12, commands=False)
    h.append_event({"event": "lr", "step": 5, "label": "lr 3e-3 → 1e-2"})
    h.append_event({"event": "bn", "step": 9, "label": "BN on"})
    dash.refresh(h)
    assert dash.marker_count() == 2
    for step in (13, 14):  # new rows, no new events
        h.append_scalars({"step": step, "loss": 1.0, "train_acc": 0.5})
        dash.refresh(h)
    assert dash.marker_count() == 2
    assert len(vertical_lines(dash.loss.plot)) == len(vertical_lines(dash.gradients.frac_plot)) == 2


def test_new_events_add_markers_and_diagnoses_do_not(dash):
    h = train(steps=12, commands=False)
    dash.refresh(h)
    before = dash.marker_count()
    h.append_event({"event": "diagnosis", "step": 12, "label": "dead ReLUs"})
    h.append_event({"event": "error", "step": 12, "label": "error"})
    dash.refresh(h)
    assert dash.marker_count() == before + 1
    assert [l.full_text for l in vertical_lines(dash.loss.plot)][-1] == "error"


def test_reset_clears_curves_and_markers(dash, history):
    dash.refresh(history)
    assert dash.marker_count() > 0
    dash.reset()
    assert dash.marker_count() == 0
    assert dash.loss.raw.xData is None and dash.loss.val.xData is None
    assert dash.update_ratio.layers.curves == [] and dash.gradients.norms.curves == []
    assert dash.activations.histogram_items() == {}
    for plot in dash.plot_widgets().values():
        for item in plot.time_plots():
            assert vertical_lines(item) == []
    dash.refresh(history)  # the same store again: drawn in full
    assert len(dash.loss.raw.getData()[0]) == len(history)
    assert dash.marker_count() == len(marked_events(history))


def test_a_run_with_another_depth_gets_its_own_layer_curves(dash, history):
    dash.refresh(history)
    deeper = train(steps=11, commands=False, depth=4, activation="tanh")
    dash.reset()
    dash.refresh(deeper)
    assert len(dash.update_ratio.layers.curves) == 5
    assert list(dash.activations.histogram_items()) == ["hidden1", "hidden2", "hidden3", "hidden4"]
    assert dash.gradients.frac_key == "sat_frac" and len(dash.gradients.fracs.curves) == 4
    assert dash.activations.layer_box.count() == 4


def test_diverged_run_draws_its_marker_and_keeps_nan_out_of_the_way(dash):
    h = train(steps=40, commands=False, lr=50.0, optimizer="sgd")
    assert any(e["event"] == "diverged" for e in h.events)
    dash.refresh(h)
    assert dash.marker_count() == 1
    x, y = dash.loss.raw.getData()
    assert len(x) == len(h) and np.isfinite(y).all()
    dash.activations.ensure_current()
    assert dash.loss.render_image().size().width() > 0


# ---------------------------------------------------------------------------- layout
def test_time_plots_share_the_step_axis(dash, history, qtbot):
    dash.resize(1200, 800)
    dash.show()
    qtbot.waitExposed(dash)
    dash.refresh(history)
    qtbot.waitUntil(lambda: dash.loss.plot.viewRange()[0][1] >= history.last_step)
    assert dash.update_ratio.plot.viewRange()[0] == pytest.approx(dash.loss.plot.viewRange()[0])
    dash.gradients.norm_plot.setXRange(10, 30, padding=0)  # pan/zoom one: all follow
    for plot in (dash.loss.plot, dash.accuracy.plot, dash.gradients.frac_plot, dash.activations.pct_plot):
        assert plot.viewRange()[0] == pytest.approx([10, 30])


def test_a_hidden_tab_catches_up_when_shown(dash, history, qtbot):
    dash.resize(1200, 800)
    dash.show()
    qtbot.waitExposed(dash)
    dash.refresh(history)
    assert dash.activations.histogram_items() == {}  # the Activations tab is not shown: deferred
    dash.tabs.setCurrentWidget(dash.activations)
    qtbot.waitUntil(lambda: len(dash.activations.histogram_items()) == 2)


def test_an_export_brings_a_never_shown_tab_to_the_run_steps(dash, history, qtbot, tmp_path):
    dash.resize(1200, 800)
    dash.show()
    qtbot.waitExposed(dash)
    dash.refresh(history)  # the Activations tab is never shown
    dash.export_dashboard_png(tmp_path / "d.png")
    x0, x1 = dash.activations.pct_plot.getViewBox().viewRange()[0]
    last = float(history.column("step")[-1])
    assert x0 <= 1 and x1 >= last  # the over-time chart spans the run, not pyqtgraph's 0..1


# ---------------------------------------------------------------------------- export
def test_export_png_is_a_non_blank_image_of_the_asked_size(dash, history, tmp_path):
    dash.refresh(history)
    for name, plot in dash.plot_widgets().items():
        path = plot.export_png(tmp_path / f"{name}.png", size=(640, 400))
        image = QImage(str(path))
        assert not image.isNull() and (image.width(), image.height()) == (640, 400), name
        assert pixel_variance(image) > 0, f"{name}.png is blank"
    default = QImage(str(dash.loss.export_png(tmp_path / "default.png")))
    assert (default.width(), default.height()) == dash.loss.png_size() and default.width() >= 1600
    w, h = dash.loss.export_size()
    assert default.height() == round(h * default.width() / w)      # the chart's shape, drawn larger
    dash.set_png_width(2400)                                       # the size option
    assert QImage(str(dash.loss.export_png(tmp_path / "wide.png"))).width() == 2400
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_export_svg_is_svg(dash, history, tmp_path):
    dash.refresh(history)
    for name, plot in dash.plot_widgets().items():
        root = ET.parse(plot.export_svg(tmp_path / f"{name}.svg")).getroot()
        assert root.tag.endswith("svg"), name
        assert len(list(root.iter())) > 20, name


def test_export_csv_has_named_columns_and_the_data(dash, history, tmp_path):
    dash.refresh(history)
    with open(dash.loss.export_csv(tmp_path / "loss.csv"), newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "train_loss", "train_loss_smoothed", "val_loss"]
    assert len(rows) - 1 == len(history)
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], history.column("loss"), rtol=1e-5)
    val = {int(r[0]): float(r[3]) for r in rows[1:] if r[3]}
    assert sorted(val) == [int(s) for s in history.val_column("step")]

    with open(dash.update_ratio.export_csv(tmp_path / "ratio.csv"), newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step"] + [f"{n} update_ratio" for n in history.layer_names]
    assert len(rows) - 1 == history.probes.n

    with open(dash.activations.export_csv(tmp_path / "act.csv"), newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["layer", "bin_left", "bin_right", "count"]
    hidden = [l for l in history.latest_snapshot["layers"] if l["hist"]]
    assert len(rows) - 1 == sum(len(l["hist"]["counts"]) for l in hidden)
    assert [int(r[3]) for r in rows[1:] if r[0] == "hidden2"] == hidden[1]["hist"]["counts"]


def test_export_all_writes_every_file_and_one_dashboard_image(dash, history, tmp_path):
    dash.refresh(history)
    written = dash.export_all(tmp_path / "out")
    expected = ({f"{n}.{ext}" for n in PLOT_NAMES for ext in ("png", "svg", "csv")} | {"dashboard.png"}
                | {"dead_fraction.png", "dead_fraction.svg"})              # ReLU: its own file
    assert {p.name for p in written} == expected and len(written) == len(expected)
    assert all(p.exists() and p.stat().st_size > 0 for p in written)
    board = QImage(str(tmp_path / "out" / "dashboard.png"))
    assert (board.width(), board.height()) == (dash.render_image().width(), dash.render_image().height())
    loss = dash.loss.export_size()
    assert board.width() > loss[0] and board.height() > 2 * loss[1]
    frac = QImage(str(tmp_path / "out" / "dead_fraction.png"))
    assert frac.width() >= 1600 and frac.height() < frac.width() and pixel_variance(frac) > 0
    # the activations strip (a tab that was never shown) is drawn, not left blank
    strip = board.copy(0, board.height() * 3 // 4, board.width(), board.height() // 4)
    assert pixel_variance(strip) > 0


def test_context_menu_exports_through_a_file_dialog(dash, history, tmp_path, monkeypatch):
    dash.refresh(history)
    labels = [a.text() for a in dash.accuracy.export_actions]
    assert labels == ["Export PNG…", "Export SVG…", "Export CSV…", "PNG width…"]
    assert all(a in dash.accuracy.glw.scene().contextMenu for a in dash.accuracy.export_actions)
    target = tmp_path / "picked"  # no suffix: the dialog's choice gets one
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    dash.accuracy.export_actions[2].trigger()
    assert (tmp_path / "picked.csv").read_text().startswith("step,train_accuracy")
    from PySide6.QtWidgets import QInputDialog
    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(lambda *a, **k: (2000, True)))
    dash.accuracy.export_actions[3].trigger()          # the PNG width, per chart
    dash.accuracy.export_actions[0].trigger()
    assert QImage(str(tmp_path / "picked.png")).width() == 2000


def test_data_loss_curve_joins_the_loss_chart_and_its_csv_only_with_l2(dash):
    dash.refresh(train(30, commands=False))
    header, _ = dash.loss.csv_table()
    assert not dash.loss.data_loss.isVisible() and "data_loss_smoothed" not in header
    dash.reset()
    dash.refresh(train(30, commands=False, l2=1e-2))
    header, rows = dash.loss.csv_table()
    assert dash.loss.data_loss.isVisible()
    assert header.index("data_loss_smoothed") == header.index("train_loss_smoothed") + 1
    assert all(math.isfinite(float(r[header.index("data_loss_smoothed")])) for r in rows)
    dash.reset()
    assert not dash.loss.data_loss.isVisible() and "data_loss_smoothed" not in dash.loss.csv_table()[0]


def _grey(image: QImage, w: int = 120, h: int = 80) -> np.ndarray:
    small = image.convertToFormat(QImage.Format.Format_Grayscale8).scaled(w, h)
    return np.array([[small.pixelColor(x, y).value() for x in range(w)] for y in range(h)], dtype=float)


def test_an_svg_of_a_never_shown_tab_is_drawn_where_its_png_is(dash, history, qtbot, tmp_path):
    # the chart is laid out anew for the export; the SVG exporter must see the new transforms
    from PySide6.QtGui import QColor, QPainter
    from PySide6.QtSvg import QSvgRenderer
    dash.resize(1400, 900)
    dash.show()
    qtbot.waitExposed(dash)
    dash.refresh(history)  # the Activations tab is never shown
    plot = dash.activations
    svg = plot.export_svg(tmp_path / "a.svg")
    png = QImage(str(plot.export_png(tmp_path / "a.png")))
    renderer = QSvgRenderer(str(svg))
    drawn = QImage(png.size(), QImage.Format.Format_ARGB32)
    drawn.fill(QColor("white"))
    painter = QPainter(drawn)
    renderer.render(painter)
    painter.end()
    a, b = _grey(png), _grey(drawn)
    assert np.mean(np.abs(a - b)) < 12  # grey levels 0..255: the same picture, up to anti-aliasing


def test_a_marker_past_the_last_stored_step_is_in_view(dash, qtbot):
    # the step that diverged is never stored (its loss is not finite): its marker lies past the data
    h = train(steps=40, commands=False, lr=100.0, optimizer="sgd", init="normal", init_std=1.0)
    diverged = next(e for e in h.events if e["event"] == "diverged")
    assert diverged["step"] > h.last_step
    dash.resize(1200, 800)
    dash.show()
    qtbot.waitExposed(dash)
    dash.refresh(h)
    qtbot.waitUntil(lambda: dash.loss.plot.viewRange()[0][1] >= diverged["step"])
    assert dash.loss.plot.viewRange()[0][0] <= 1
    steps = dash.loss.plot.viewRange()[0]
    dash.loss.set_log_y(True)   # a diverged loss is read on a log axis: the steps stay as they were
    assert dash.loss.plot.viewRange()[0] == pytest.approx(steps)
    assert dash.accuracy.plot.viewRange()[0] == pytest.approx(steps)
    assert dash.step_axis.following                      # ... and still follow new steps
    dash.accuracy.plot.ctrl.logYCheck.setChecked(True)   # the plot menu's log y: the same
    assert dash.accuracy.plot.viewRange()[0] == pytest.approx(steps) and dash.step_axis.following


def test_all_zero_gradients_are_named_in_the_legend_of_the_log_chart(dash):
    h = train(steps=20, commands=False, init="zeros", depth=2)
    dash.refresh(h)
    dash.gradients.ensure_current()
    dash.update_ratio.ensure_current()
    legend = dash.gradients.legend.text
    assert "hidden1 = 0 (the dotted 0 line)" in legend  # zero init: nothing reaches the hidden weights
    assert "n/a: ‖W‖ = 0" in dash.update_ratio.legend.text
    healthy = train(steps=20, commands=False)
    dash.refresh(healthy)
    dash.gradients.ensure_current()
    assert "off the log axis" not in dash.gradients.legend.text


def test_a_loss_of_exactly_zero_does_not_stretch_the_log_axis(dash, qtbot):
    # overfitting a few examples drives the float32 cross-entropy to exactly 0
    h = History()
    for s in range(1, 401):
        loss = 2.0 * math.exp(-s / 20) if s < 100 else 0.0
        h.append_scalars({"step": s, "epoch": 0, "loss": loss, "data_loss": loss, "reg_loss": 0.0,
                          "train_acc": 1.0, "lr": 1e-2})
    dash.resize(1200, 800)
    dash.show()
    qtbot.waitExposed(dash)
    dash.refresh(h)
    dash.loss.log_box.setChecked(True)
    smooth = dash.loss.smooth.yData  # the values given, before the axis takes their log
    assert np.nanmin(smooth) >= 5e-8  # floored at float32's resolution, not 1e-36
    low, high = dash.loss.plot.getViewBox().viewRange()[1]  # log10 units
    assert low >= -9 and high <= 2
    dash.loss.log_box.setChecked(False)  # linear again: the true smoothed values
    assert np.nanmin(dash.loss.smooth.yData) < 1e-20


def test_the_step_axis_moves_about_once_a_second_early_in_a_fast_run(dash, monkeypatch):
    import gui.plots.dashboard as dashboard_module
    clock = [100.0]
    monkeypatch.setattr(dashboard_module.time, "monotonic", lambda: clock[0])
    views = [dash.loss.plot.getViewBox()]

    def frame(last: float) -> tuple[float, float]:
        r = dash._step_range(0.0, last)
        dash.step_axis.follow(*r, views)
        return r

    assert frame(100)[1] == pytest.approx(108)        # 8 % of the run ahead: no rate known yet
    clock[0] += 0.1
    assert frame(200)[1] == pytest.approx(300)        # 1,000 steps/s: a second ahead, capped at half the run
    clock[0] += 0.1
    assert frame(290)[1] == pytest.approx(300)        # still holds the newest step: unchanged
    clock[0] += 1.0
    assert frame(600)[1] == pytest.approx(600 + 300)  # (600 - 200) steps in 1.1 s ~ 364/s; capped at 300
    clock[0] += 100.0
    assert frame(20_000)[1] == pytest.approx(21_600)  # slow for a run this long: 8 % again
    dash.reset()
    assert frame(100)[1] == pytest.approx(108)        # a new run forgets the old rate



def test_the_step_charts_menus_offer_no_per_curve_transforms(dash):
    for plot in dash.plot_widgets().values():
        for item in plot.time_plots():
            assert not item.ctrl.logXCheck.isEnabled() and not item.ctrl.fftCheck.isEnabled()
            assert item.ctrl.logYCheck.isEnabled() and item.ctrl.gridGroup.isEnabled()   # these still apply


def test_the_count_axis_holds_through_an_epochs_smaller_last_batch(dash, history):
    import copy
    dash.refresh(history)
    act = dash.activations
    plot = act.histogram_plots()["hidden1"]
    full = history.latest_snapshot
    before = plot.viewRange()[1]

    def scaled(snap, factor):
        s = copy.deepcopy(snap)
        for layer in s["layers"]:
            if layer["hist"]:
                layer["hist"]["counts"] = [round(c * factor) for c in layer["hist"]["counts"]]
        return s
    for factor in (0.25, 1.0, 0.25, 1.0):   # a quarter of the sample: the short batch, then full ones
        act.show_snapshot(scaled(full, factor))
        assert plot.viewRange()[1] == pytest.approx(before)
    act.clear_data()                         # as for a new run whose first probe is a short batch
    act.show_snapshot(scaled(full, 0.25))    # a range set on the short batch...
    act.show_snapshot(scaled(full, 1.0))     # ... never draws a full batch's bars above it
    plot = act.histogram_plots()["hidden1"]
    top = max(max(l["hist"]["counts"]) for l in full["layers"] if l["hist"])
    assert plot.viewRange()[1][1] >= top
    tall = copy.deepcopy(full)
    for layer in tall["layers"]:
        if layer["hist"]:
            counts = layer["hist"]["counts"]
            moved = sum(counts[1:])
            layer["hist"]["counts"] = [counts[0] + moved] + [0] * (len(counts) - 1)   # all in one bin
    act.show_snapshot(tall)
    assert plot.viewRange()[1][1] > 1.2 * before[1]        # a taller histogram gets a taller axis


def test_the_step_axis_never_reaches_far_past_the_runs_end(dash, monkeypatch):
    import gui.plots.dashboard as dashboard_module
    clock = [100.0]
    monkeypatch.setattr(dashboard_module.time, "monotonic", lambda: clock[0])
    views = [dash.loss.plot.getViewBox()]
    r = dash._step_range(0.0, 100, total=1000)
    dash.step_axis.follow(*r, views)
    clock[0] += 0.1
    r = dash._step_range(0.0, 900, total=1000)      # fast: a second ahead would be 450 (half the run)
    assert r[1] == pytest.approx(1000 + 0.02 * 900)  # the run ends at 1000
    dash.step_axis.follow(*r, views)
    clock[0] += 0.1
    assert dash._step_range(0.0, 1000, total=1000)[1] == pytest.approx(1018)   # the finished run: held


def test_a_run_tells_the_charts_its_length(history):
    assert history.total_steps == 60


def test_a_continued_run_s_small_noisy_loss_is_not_called_an_explosion(dash):
    # continued from trained weights, the loss starts near zero: a batch at 1e-2 is 50x that but
    # no explosion; a loss past 30 x ln 2 is one, whatever the start
    from engine.messages import Scalars
    h = History()
    for step, loss in enumerate([2e-4, 5e-4, 1e-2, 3e-3, 8e-3, 1e-4], start=1):
        h.ingest(Scalars(step=step, epoch=0, loss=loss, data_loss=loss, reg_loss=0.0, train_acc=1.0, lr=1e-3))
    dash.refresh(h)
    assert not dash.loss.log_box.isChecked() and dash.loss.explode_note.text() == ""
    h.ingest(Scalars(step=7, epoch=0, loss=50.0, data_loss=50.0, reg_loss=0.0, train_acc=0.3, lr=1e-3))
    dash.refresh(h)
    assert dash.loss.log_box.isChecked() and "exploded to 50 (step 7)" in dash.loss.explode_note.text()


def test_an_exploding_loss_switches_the_loss_chart_to_log_y_and_marks_the_diverged_step(dash, qtbot):
    from engine.lab.presets import load_preset
    s = TrainingSession(load_preset("lr_too_high").copy(), use_outbox=False)
    while s.step() is not None:
        pass
    h = s.history
    loss = h.column("loss")
    assert np.nanmax(loss) > 1e6 * loss[0]          # the lecture's wall
    dash.refresh(h)
    assert dash.loss.log_box.isChecked() and dash.loss.plot.getAxis("left").logMode
    assert "exploded" in dash.loss.explode_note.text()
    diverged = next(e for e in h.events if e["event"] == "diverged")
    labels = [line.label.toPlainText() for line in vertical_lines(dash.loss.plot) if line.label.isVisible()]
    assert f"diverged at step {diverged['step']}" in labels
    dash.reset()                                    # a new run starts on a linear axis again...
    dash.loss.set_log_y(False)
    calm = train(steps=30, commands=False)
    dash.refresh(calm)                              # ...and a calm loss leaves it there
    assert not dash.loss.log_box.isChecked() and dash.loss.explode_note.text() == ""


def test_the_learning_rate_is_drawn_on_a_log_axis_of_the_training_charts(dash, history):
    dash.refresh(history)
    for chart in (dash.loss, dash.accuracy):
        chart.ensure_current()
        x, y = chart.lr_curve.getData()
        steps = history.column("step")
        assert set(x) <= set(steps) and x[0] == steps[0] and x[-1] == steps[-1]
        at = np.searchsorted(x, steps, side="right") - 1   # the line's value at every step
        assert 10 ** y[at] == pytest.approx(history.column("lr"), rel=1e-6)
        assert chart.plot.getAxis("right").logMode and chart.plot.getAxis("right").isVisible()
        lo, hi = chart.lr_view.viewRange()[1]
        assert lo < math.log10(3e-3) and math.log10(1e-2) < hi       # before and after the change
        assert chart.lr_view.viewRange()[0] == pytest.approx(chart.plot.viewRange()[0])   # same steps


def test_close_markers_share_one_label_and_keep_their_full_text_on_hover(dash, qtbot):
    h = train(steps=300, commands=False)
    h.append_event({"event": "lr", "step": 100, "label": "lr 3e-3 → 3e-2"})
    h.append_event({"event": "optimizer", "step": 103, "label": "optimizer: momentum"})
    h.append_event({"event": "reinit", "step": 290, "label": "re-init: xavier_uniform (std 0.01)"})
    dash.resize(1600, 700)
    dash.show()
    qtbot.waitExposed(dash)
    dash.refresh(h)
    shown = lambda plot: {l.value(): l.label for l in vertical_lines(plot) if l.label.isVisible()}  # noqa: E731
    labels = shown(dash.loss.plot)
    assert sorted(labels) == [100.0, 290.0]                        # 3 steps apart: one label
    assert labels[100.0].toPlainText() == "lr 3e-3 → 3e-2  +1"
    assert "step 103: optimizer: momentum" in labels[100.0].toolTip()
    assert labels[290.0].toPlainText().endswith("…") and len(labels[290.0].toPlainText()) <= 18
    assert "re-init: xavier_uniform (std 0.01)" in labels[290.0].toolTip()
    drawn = [dash.loss.plot.getViewBox().mapFromItemToView(l, l.boundingRect()).boundingRect()
             for l in labels.values()]
    assert not drawn[0].intersects(drawn[1])                       # the two labels do not overlap
    assert shown(dash.gradients.frac_plot) == {}                   # lines only under a group's top plot
    dash.loss.plot.setXRange(98, 106, padding=0)                   # zoomed in: each its own label
    dash.loss.settle()                                             # (the view applies its range)
    assert sorted(v for v in shown(dash.loss.plot) if v < 150) == [100.0, 103.0]


def test_svgs_have_no_frame_round_the_plots(dash, history, tmp_path):
    dash.refresh(history)
    text = dash.loss.export_svg(tmp_path / "loss.svg").read_text()
    clips = ET.fromstring(text).iter("{http://www.w3.org/2000/svg}clipPath")
    paths = [p for c in clips for p in c.iter("{http://www.w3.org/2000/svg}path")]
    assert paths and all(p.get("stroke") == "none" for p in paths)   # no outline drawn round a view



def test_zero_gradients_among_others_leave_no_gap_in_the_gradient_lines(dash):
    h = train(steps=40, commands=False)
    dash.refresh(h)
    norms = h.layer_column("grad_norm").copy()
    norms[1, 0] = 0.0                                  # a step where no gradient reached hidden1
    h.probes.view("grad_norm")[1, 0] = 0.0
    dash.gradients.redraw()
    column = next(c for j, c in dash.gradients.norms.curves if j == 0)
    x, y = column.getData()
    assert np.isfinite(y).all()                       # no gap: the zero sits on the floor line
    floor = dash.gradients.norms.floor_line
    assert floor.isVisible() and y[1] == floor.value() < np.log10(norms[norms > 0].min())
    assert column.yData[1] == 0.0                     # the data (and the CSV) keep the zero


# ---------------------------------------------------------------------------- own-range histograms
def test_a_histogram_from_percentiles_puts_each_share_between_its_percentiles():
    from engine.train.thresholds import PERCENTILES
    from gui.plots.histograms import own_range_histogram
    values = np.random.default_rng(0).normal(0.0, 1e-6, 20_000)
    pcts = np.percentile(values, PERCENTILES)
    edges, heights = own_range_histogram(pcts)
    np.testing.assert_allclose(edges, pcts)                       # its own range: 1e-6 wide, not [-1, 1]
    np.testing.assert_allclose(heights * np.diff(edges), np.diff(PERCENTILES) / 100)  # areas are the shares
    assert heights[3] == heights.max() and heights[0] < heights[3] / 5                # a bell, not a block
    # a ReLU layer: more than half its values exactly 0 -> one narrow bar holding that share at 0
    relu = np.percentile(np.maximum(values, 0), PERCENTILES)
    edges, heights = own_range_histogram(relu)
    widths = np.diff(edges)
    assert np.all(widths > 0) and (heights * widths).sum() == pytest.approx(1.0)
    spike = int(np.argmax(heights))
    assert edges[spike] <= 0 <= edges[spike + 1] and heights[spike] * widths[spike] == pytest.approx(0.5, abs=0.01)
    assert own_range_histogram([0.0] * 9) is None and own_range_histogram(None) is None


def tiny_tanh_history() -> History:
    return train(1, commands=False, depth=5, activation="tanh", init="normal", init_std=0.01, probe_every=1,
                 optimizer="momentum", lr=0.01)   # (Adam would grow the tiny weights by ~lr a step)


def test_each_histogram_zooms_to_its_data_with_one_click_and_back(dash, qtbot):
    h = tiny_tanh_history()
    dash.resize(1400, 900)
    dash.show()
    dash.tabs.setCurrentWidget(dash.activations)
    qtbot.waitExposed(dash)
    dash.refresh(h)
    act = dash.activations
    plots = act.histogram_plots()
    layers = {l["name"]: l for l in h.latest_snapshot["layers"] if l["hist"]}
    shared = {name: tuple(p.viewRange()[0]) for name, p in plots.items()}
    assert len(set(shared.values())) == 1                         # one x scale for all
    assert shared["hidden1"][0] <= -1.0 and shared["hidden1"][1] >= 1.0   # tanh: bins over [-1, 1]

    qtbot.mouseClick(act.zoom_check, QtCore.Qt.MouseButton.LeftButton)      # "each to its data"
    assert act.zoomed() == set(plots)
    widths = []
    for name, plot in plots.items():
        pcts = layers[name]["pcts"]
        x0, x1 = plot.viewRange()[0]
        assert x0 <= pcts[0] and pcts[-1] <= x1 and (x1 - x0) < 1.5 * (pcts[-1] - pcts[0]), name
        x, y = act.histogram_items()[name].getData()
        assert x[0] == pytest.approx(pcts[0]) and np.sum(y * np.diff(x)) == pytest.approx(1.0)
        widths.append(x1 - x0)
    # the lecture's picture: every layer narrower than the one before, by orders of magnitude
    assert all(b < 0.5 * a for a, b in zip(widths, widths[1:])) and widths[-1] < 1e-4 * widths[0], widths

    act.set_zoomed("hidden2", False)                              # one back to the shared range alone
    assert tuple(plots["hidden2"].viewRange()[0]) == shared["hidden2"]
    assert act.zoomed() == set(plots) - {"hidden2"}
    qtbot.mouseClick(act.zoom_check, QtCore.Qt.MouseButton.LeftButton)      # all back, a click away
    assert act.zoomed() == set()
    assert {tuple(p.viewRange()[0]) for p in plots.values()} == {shared["hidden1"]}
    np.testing.assert_array_equal(act.histogram_items()["hidden3"].yData, layers["hidden3"]["hist"]["counts"])


def test_a_double_click_zooms_one_histogram(dash, qtbot):
    dash.resize(1400, 900)
    dash.show()
    dash.tabs.setCurrentWidget(dash.activations)
    qtbot.waitExposed(dash)
    dash.refresh(tiny_tanh_history())
    act = dash.activations
    plot = act.histogram_plots()["hidden3"]
    centre = act.glw.mapFromScene(plot.sceneBoundingRect().center())
    # a double click as a mouse sends it: press, release, double-click press, release (QTest's
    # mouseDClick sends its double-click press before its first release)
    view = act.glw.viewport()
    left = QtCore.Qt.MouseButton.LeftButton
    qtbot.mouseClick(view, left, pos=centre)
    QApplication.sendEvent(view, QMouseEvent(QtCore.QEvent.Type.MouseButtonDblClick, QtCore.QPointF(centre),
                                             view.mapToGlobal(QtCore.QPointF(centre)), left, left,
                                             QtCore.Qt.KeyboardModifier.NoModifier))
    qtbot.mouseRelease(view, left, pos=centre)
    qtbot.waitUntil(lambda: act.zoomed() == {"hidden3"})
    assert plot.viewRange()[0][1] - plot.viewRange()[0][0] < 0.01


def test_the_std_across_depth_is_on_a_log_axis_and_the_mean_a_click_away(dash, qtbot):
    h = tiny_tanh_history()
    dash.refresh(h)
    act = dash.activations
    stds = [l["act_std"] for l in h.latest_snapshot["layers"] if l["hist"]]
    assert act.log_std_check.isChecked() and act.depth_plot.getAxis("left").logMode
    np.testing.assert_allclose(act.std_curve.getData()[1], np.log10(stds), rtol=1e-6)   # drawn log10
    assert not act.mean_curve.isVisible()
    act.log_std_check.setChecked(False)
    assert act.mean_curve.isVisible() and not act.depth_plot.getAxis("left").logMode
    np.testing.assert_allclose(act.std_curve.getData()[1], stds, rtol=1e-6)


# ---------------------------------------------------------------------------- 1280 x 720
def fits(chart) -> bool:
    ci, view = chart.glw.ci.geometry(), chart.glw.viewport().rect()
    return ci.width() <= view.width() + 0.5 and ci.height() <= view.height() + 0.5


def test_at_1280x720_every_training_chart_fits_its_view_with_every_layer_named(window, qtbot):
    h = train(20, commands=False, depth=10)
    window.resize(1280, 720)
    dash = window.dashboard
    dash.refresh(h)
    charts = [dash.loss, dash.accuracy, dash.update_ratio, dash.gradients]
    qtbot.waitUntil(lambda: all(fits(c) for c in charts))   # nothing laid out past a chart's edge
    for chart in (dash.update_ratio, dash.gradients):
        legend, view = chart.legend, chart.glw.viewport().rect()
        box = legend.mapRectToScene(legend.boundingRect())
        assert box.bottom() <= view.height() and box.right() <= view.width(), chart.name
        assert all(name in legend.text for name in h.layer_names), chart.name   # 11 names, none cut
    # the gradient chart's two plots side by side: each tall enough for its y axis to read
    assert dash.gradients.side_by_side
    for plot in (dash.gradients.norm_plot, dash.gradients.frac_plot):
        assert plot.getViewBox().height() > 60
    # the y axes' titles fit along them, shortened where the whole one would not
    from PySide6.QtGui import QFont, QFontMetricsF
    font = QFont()
    font.setPointSizeF(9)   # (theme.style_plot's)
    for chart in (dash.loss, dash.accuracy):
        for side, whole in (("left", chart.ylabel), ("right", "learning rate (log)")):
            axis = chart.plot.getAxis(side)
            assert QFontMetricsF(font).horizontalAdvance(axis.labelText) <= chart.plot.getViewBox().height()
            assert axis.labelText != whole    # (too long for this height: the short title)


def test_a_tall_gradient_chart_stacks_its_plots(dash, history, qtbot):
    dash.resize(900, 1100)
    dash.show()
    qtbot.waitExposed(dash)
    dash.refresh(history)
    qtbot.waitUntil(lambda: not dash.gradients.side_by_side)
    norm, frac = dash.gradients.norm_plot, dash.gradients.frac_plot
    assert frac.sceneBoundingRect().top() >= norm.sceneBoundingRect().bottom() - 1   # one above the other


def test_a_caption_too_long_for_its_bar_ends_in_an_ellipsis_and_shows_whole_on_hover(qtbot):
    from PySide6.QtGui import QFontMetrics

    from gui.plots.layers import UpdateRatioPlot
    chart = UpdateRatioPlot()
    qtbot.addWidget(chart)
    note = chart.note
    full = note.toolTip()
    assert "rule of thumb" in full and note.full_text() == full
    chart.resize(900, 300)
    chart.show()
    qtbot.waitExposed(chart)
    qtbot.waitUntil(lambda: note.text() == full)               # room for all of it
    chart.resize(260, 300)                                     # three lines' worth in a two-line bar
    qtbot.waitUntil(lambda: note.text() != full)
    shown = note.text()
    assert shown.endswith("…") and full.startswith(shown[:-1].rstrip(",;:")) and note.toolTip() == full
    metrics = QFontMetrics(note.font())
    height = metrics.boundingRect(note.contentsRect(), int(QtCore.Qt.TextFlag.TextWordWrap), shown).height()
    assert height <= 2 * metrics.lineSpacing() <= note.height()                    # two whole lines, none cut
