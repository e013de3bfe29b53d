"""MultiLine (gui/plots/multiline.py): several curves sharing their steps, drawn by one item."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtGui

from gui.plots import theme
from gui.plots.multiline import LineColumn, MultiLine

RED, BLUE = QtGui.QColor(220, 0, 0), QtGui.QColor(0, 0, 220)


@pytest.fixture
def chart(qtbot):
    widget = pg.PlotWidget()
    widget.setBackground("w")
    widget.resize(500, 300)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    lines = MultiLine()
    lines.setColumns([theme.pen(RED, 2.0), theme.pen(BLUE, 1.0)])
    widget.getPlotItem().addItem(lines)
    return widget, lines


def pixels_near(image: QtGui.QImage, colour: QtGui.QColor) -> int:
    arr = np.frombuffer(image.convertToFormat(QtGui.QImage.Format.Format_RGB32).constBits(), np.uint8)
    arr = arr.reshape(image.height(), -1, 4)[:, :image.width(), :3].astype(int)  # BGRA
    target = np.array([colour.blue(), colour.green(), colour.red()])
    return int((np.abs(arr - target).sum(axis=2) < 60).sum())


def test_thinned_lines_keep_every_peak_and_the_newest_rows(chart):
    widget, lines = chart
    n = 20_000
    x = np.arange(n, dtype=float)
    spiky = np.zeros(n)
    spiky[1234], spiky[7777], spiky[-1] = 50.0, -30.0, -7.0   # the newest row is an extreme too
    lines.setData(x, [spiky, np.linspace(0, 1, n)])
    widget.getPlotItem().setXRange(0, n - 1, padding=0)
    xd, ys = lines.display()
    width = widget.getPlotItem().getViewBox().width()
    assert len(xd) <= 2 * (1.05 * width + 2) < n / 10             # about a min/max pair per pixel
    assert ys[0].max() == 50.0 and ys[0].min() == -30.0
    assert ys[0][-1] == -7.0 or ys[0][-2] == -7.0                 # the last, partial bin is drawn
    assert ys[1][-2] == pytest.approx(1.0)                        # ... and reaches the newest value
    np.testing.assert_array_equal(np.diff(xd) >= 0, True)


def test_zoomed_in_only_the_rows_in_view_are_drawn_unthinned(chart):
    widget, lines = chart
    x = np.arange(10_000, dtype=float)
    lines.setData(x, [np.sin(x), np.cos(x)])
    widget.getPlotItem().setXRange(100, 200, padding=0)
    xd, ys = lines.display()
    assert xd[0] == 99 and xd[-1] == 201                          # one row beyond each edge
    np.testing.assert_array_equal(ys[0], np.sin(xd))


def test_log_axis_draws_log10_with_gaps_for_zero_and_nan(chart):
    widget, lines = chart
    lines.setData(np.arange(5.0), [np.array([1.0, 10.0, 0.0, np.nan, 100.0]), np.full(5, 1e-3)])
    widget.getPlotItem().setLogMode(x=False, y=True)
    column = LineColumn(lines, 0, "ratio")
    x, y = column.getData()
    np.testing.assert_allclose(y[[0, 1, 4]], [0.0, 1.0, 2.0])
    assert not np.isfinite(y[2]) and not np.isfinite(y[3])
    np.testing.assert_array_equal(column.yData, [1.0, 10.0, 0.0, np.nan, 100.0])   # as given, for the CSV
    assert lines.dataBounds(1) == (-3.0, 2.0)
    assert lines.dataBounds(0) == (0.0, 4.0)


def test_bounds_follow_the_shown_curves_and_the_x_range(chart):
    _, lines = chart
    lines.setData(np.arange(4.0), [np.array([1.0, 2.0, 3.0, 4.0]), np.array([-5.0, 0.0, 0.0, 9.0])])
    assert lines.dataBounds(1) == (-5.0, 9.0)
    assert lines.dataBounds(1, orthoRange=(1, 2)) == (0.0, 3.0)
    hidden = LineColumn(lines, 1, "second")
    hidden.setVisible(False)
    assert not hidden.isVisible() and lines.dataBounds(1) == (1.0, 4.0)
    lines.setData(np.arange(3.0), [np.full(3, np.nan), np.ones(3)])
    assert lines.dataBounds(0) == (None, None)                    # nothing finite shown: no bounds


def test_each_curve_is_painted_in_its_pen_and_a_hidden_one_not_at_all(chart, qtbot):
    widget, lines = chart
    x = np.arange(200.0)
    lines.setData(x, [np.sin(x / 20), np.cos(x / 20) * 0.5])
    widget.getPlotItem().autoRange()
    image = widget.grab().toImage()
    assert pixels_near(image, RED) > 300 and pixels_near(image, BLUE) > 150
    LineColumn(lines, 1, "second").setVisible(False)
    image = widget.grab().toImage()
    assert pixels_near(image, RED) > 300 and pixels_near(image, BLUE) == 0


def test_too_few_points_for_a_line_get_a_dot_each(chart):
    widget, lines = chart
    lines.setData(np.array([0.0, 1.0]), [np.array([0.0, 1.0]), np.array([np.nan, np.nan])])
    widget.getPlotItem().setXRange(-1, 2)
    widget.getPlotItem().setYRange(-1, 2)
    line_only = pixels_near(widget.grab().toImage(), RED)
    lines.setDots(True)
    assert pixels_near(widget.grab().toImage(), RED) > line_only + 20   # two round dots on top


def test_a_column_takes_its_data_from_the_chart_and_clears_with_it(chart):
    _, lines = chart
    column = LineColumn(lines, 0, "first")
    lines.setData(np.arange(3.0), [np.ones(3), np.zeros(3)])
    assert column.name() == "first" and len(column.xData) == 3
    with pytest.raises(ValueError):
        column.setData([1, 2], [3, 4])
    with pytest.raises(ValueError):
        lines.setData(np.arange(3.0), [np.ones(3)])               # one array for two curves
    column.setData([], [])
    assert column.xData is None and column.getData() == (None, None)


def test_a_matrix_feeds_each_curve_its_source_column(chart):
    _, lines = chart
    lines.setColumns([theme.pen(RED), theme.pen(BLUE)], sources=[2, 5])   # column 5 does not exist
    matrix = np.arange(12.0).reshape(4, 3)
    lines.setData(np.arange(4.0), matrix)
    np.testing.assert_array_equal(lines.column_data(0), matrix[:, 2])
    assert np.isnan(lines.column_data(1)).all()


def test_zoomed_in_the_y_range_fits_the_steps_in_view(chart):
    widget, lines = chart
    x = np.arange(1000.0)
    lines.setData(x, [x, -x])
    assert lines.dataBounds(1) == (-999.0, 999.0)           # x auto-ranges: everything
    widget.getPlotItem().setXRange(100, 200, padding=0)    # the steps set from outside
    assert lines.dataBounds(1) == (-201.0, 201.0)          # the rows in view, one beyond each edge
    assert lines.dataBounds(0) == (0.0, 999.0)


def test_a_huge_value_does_not_make_a_wide_line_vanish(chart):
    widget, lines = chart
    x = np.arange(100.0)
    y = np.sin(x / 10) + 1.5
    lines.setData(x, [y, np.full(100, np.nan)])
    plot = widget.getPlotItem()
    plot.setXRange(0, 99, padding=0)
    plot.setYRange(0, 3, padding=0)                        # the user's zoom: the spike is far off
    calm = pixels_near(widget.grab().toImage(), RED)
    y = y.copy()
    y[-10:] = 1e20                                         # a loss that diverged
    lines.setData(x, [y, np.full(100, np.nan)])
    plot.setYRange(0, 3, padding=0)
    assert pixels_near(widget.grab().toImage(), RED) > 0.7 * calm > 0
    assert np.nanmax(lines.display()[1][0]) <= 3 + 3e6     # drawn within a million view heights
