"""Where things land in an exported PNG: a marker sits over its step on the step axis.

Issue #18 item 7: "Export all plots" once wrote PNGs whose markers read at ~0.81x their step
while the SVGs were right. The cause: an export paints into an image, a paint device of its own,
and Qt keeps a pixmap per device for items cached in device coordinates (the axes and titles,
see BasePlot.cache_static_items). The flag that says an item changed is one per item, and the
on-screen repaint clears it, so the next export at the same scale blitted the axis from the
previous export: the step labels of a shorter run over the data of a longer one.
"""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from engine.train.config import RunConfig
from engine.runs.session import TrainingSession
from gui.plots import Dashboard, theme

TICKS = (50.0, 100.0, 150.0, 200.0, 250.0, 300.0)


def rgb_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    w, h = image.width(), image.height()
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, :w * 4]
    return raw.reshape(h, w, 4)[:, :, [2, 1, 0]].astype(int)   # BGRA in memory: to RGB


def tick_columns(rgb: np.ndarray) -> tuple[int, np.ndarray]:
    """The step axis's line (the lowest long dark row) and the columns of its tick marks (short
    dark strokes just above it, pointing into the plot; the left axis's line is dark higher up)."""
    dark = rgb.sum(axis=2) < 250
    h, w = dark.shape
    rows = np.flatnonzero(dark.sum(axis=1) > 0.5 * w)
    axis_row = int(rows[rows > h // 2][0])
    strokes = dark[axis_row - 5:axis_row - 1].all(axis=0) & ~dark[axis_row - 30]
    cols = np.flatnonzero(strokes)
    # a stroke may be two pixels wide: one column per stroke
    groups = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    return axis_row, np.array([g.mean() for g in groups if len(g)])


def marker_column(rgb: np.ndarray, colour: str) -> float:
    """The column of the vertical line drawn in `colour` (at any alpha, anti-aliased over white:
    the pixels whose difference from white points the way the colour's does)."""
    target = 255.0 - np.array(theme.with_alpha(colour, 255).getRgb()[:3], float)
    diff = 255.0 - rgb
    size = np.linalg.norm(diff, axis=2)
    cosine = diff @ target / np.maximum(size * np.linalg.norm(target), 1e-9)
    counts = ((cosine > 0.995) & (size > 20)).sum(axis=0)
    assert counts.max() > 0.3 * rgb.shape[0], "no marker line found"
    cols = np.flatnonzero(counts >= 0.5 * counts.max())
    assert cols.max() - cols.min() <= 3, f"more than one line of that colour: {cols}"
    return float(np.average(cols, weights=counts[cols]))


@pytest.fixture
def run_on_screen(qtbot):
    dash = Dashboard()
    qtbot.addWidget(dash)
    dash.resize(1400, 900)
    dash.show()
    qtbot.waitExposed(dash)
    session = TrainingSession(RunConfig(steps=400, device="cpu", n_samples=300, probe_every=10, eval_every=10))

    def train(n: int) -> None:
        for _ in range(n):
            session.step()
        dash.refresh(session.history)
        dash.grab()   # painted on screen, as the window does between two exports
    return dash, session, train


def test_a_png_exported_again_later_puts_the_marker_over_its_step(run_on_screen, tmp_path):
    dash, session, train = run_on_screen
    train(100)
    session.reinit("xavier_normal")          # a marker near step 100, where the lr line has no step
    train(60)
    step = float(next(e["step"] for e in session.history.events if e["event"] == "reinit"))
    axis = dash.loss.plot.getAxis("bottom")
    axis.setTicks([[(t, f"{t:g}") for t in TICKS]])
    dash.loss.export_png(tmp_path / "early.png")        # the run at step 160
    train(140)                                          # the step axis now reaches past 300
    image = QImage(str(dash.loss.export_png(tmp_path / "late.png")))
    assert image.width() >= 1600                        # wider than on screen: drawn scaled
    rgb = rgb_array(image)

    _, cols = tick_columns(rgb)
    x0, x1 = dash.loss.plot.getViewBox().viewRange()[0]
    shown = [t for t in TICKS if x0 < t < x1]
    assert len(cols) == len(shown) >= 4, f"the step axis's ticks {cols} are not those of its range {x0:.0f}..{x1:.0f}"
    slope, offset = np.polyfit(shown, cols, 1)           # pixels per step, as the axis is drawn
    np.testing.assert_allclose(np.diff(cols), slope * np.diff(shown), atol=2)
    drawn = marker_column(rgb, theme.EVENT_COLOURS["reinit"])
    assert drawn == pytest.approx(slope * step + offset, abs=3), (
        f"the marker at step {step:g} reads as step {(drawn - offset) / slope:.1f} on the exported axis")
