"""Exports of a chart group: PNG (axes and legends included), SVG and CSV, each written
atomically, and the context menu that offers them ("Export PNG…", "Export SVG…", "Export CSV…",
"PNG width…") on the control bar and in pyqtgraph's own right-click menu.

Exports render the scene at a definite size even when the widget is hidden (a tab not shown
yet): the central layout item is given that size for the export and its old geometry restored.
A mixin of BasePlot (gui/plots/base.py), which owns `glw`, `_series` and `ensure_current()`.
"""
from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from typing import Iterator

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6 import QtCore, QtGui, QtWidgets

from engine.fileio import atomic_path, atomic_write_with
from engine.runs.history import csv_cell

from . import svgfix, theme


class Exports:
    """export_png, export_svg, export_csv and their dialogs, for BasePlot."""

    def export_size(self) -> tuple[int, int]:
        """The size an export gets: the on-screen size, or a default when hidden or tiny."""
        r = self.glw.ci.geometry()
        if self.glw.isVisible() and r.width() >= 300 and r.height() >= 200:
            return int(r.width()), int(r.height())
        return self.default_export_size

    @contextlib.contextmanager
    def _export_geometry(self, size: tuple[int, int] | None) -> Iterator[tuple[int, int]]:
        w, h = size or self.export_size()
        ci = self.glw.ci
        old = QtCore.QRectF(ci.geometry())
        changed = (int(old.width()), int(old.height())) != (w, h)
        if changed:
            ci.setGeometry(QtCore.QRectF(0, 0, w, h))
            ci.layout.activate()
        try:
            yield w, h
        finally:
            if changed:
                ci.setGeometry(old)
                ci.layout.activate()

    def png_size(self, size: tuple[int, int] | None = None) -> tuple[int, int]:
        """Pixels of a PNG of a chart laid out at `size` (default: `export_size`): `size` when
        asked for, else scaled up (text and lines with it) to at least `png_width` wide."""
        w, h = size or self.export_size()
        if size is not None or w >= self.png_width:
            return w, h
        return self.png_width, round(h * self.png_width / w)

    def set_png_width(self, width: int) -> None:
        """The width of this chart's PNG exports (at least 300 px)."""
        self.png_width = max(300, int(width))

    def render_image(self, size: tuple[int, int] | None = None, item=None) -> QtGui.QImage:
        """The chart group (plots, axes, legends; not the control bar) as an image: laid out at
        `size` (default: as on screen) and drawn `png_size` pixels large. `item`: one plot of
        the group alone (laid out with the group)."""
        self.ensure_current()
        with self._export_geometry(size) as (w, h), _uncached(self.glw.scene()):
            exporter = ImageExporter(item or self.glw.ci)
            pw, ph = self.png_size((w, h) if size is not None else None)
            if item is not None:   # the plot's own shape, as wide as the group's image
                r = item.sceneBoundingRect()
                ph = round(r.height() * pw / max(r.width(), 1.0))
            params = exporter.parameters()
            # exactly pw x ph: a layout that cannot shrink that far (titles, axes) is scaled down
            params.param("width").setValue(pw, blockSignal=exporter.widthChanged)
            params.param("height").setValue(ph, blockSignal=exporter.heightChanged)
            params["background"] = QtGui.QColor(theme.BACKGROUND)
            image = exporter.export(toBytes=True)
        return image

    def export_png(self, path, size: tuple[int, int] | None = None, item=None) -> Path:
        path = Path(path)
        image = self.render_image(size, item)
        with atomic_path(path, suffix=".png") as tmp:
            if not image.save(str(tmp), "PNG"):
                raise OSError(f"could not write PNG image {path}")
        return path

    def export_svg(self, path, size: tuple[int, int] | None = None, item=None) -> Path:
        path = Path(path)
        self.ensure_current()
        with self._export_geometry(size):
            # the image exporter brings the items' transforms up to date before it paints; the SVG
            # exporter does not, so a chart laid out anew for the export (a tab never shown) would
            # have its curves, bands and markers placed for its old size
            self.glw.scene().prepareForPaint()
            text = SVGExporter(item or self.glw.ci).export(toBytes=True).decode("utf-8")
        data = svgfix.unframe(text).encode("utf-8")
        atomic_write_with(path, lambda f: f.write(data), mode="wb")
        return path

    def extra_exports(self) -> dict[str, pg.PlotItem]:
        """Plots of this group that also get a file of their own: {file stem: plot}."""
        return {}

    def csv_table(self) -> tuple[list[str], list[list]]:
        """Header and rows: a step column, then one column per named curve (blank where absent)."""
        series = [(n, c.xData, c.yData) for n, c in self._series]
        series = [(n, np.asarray(x, np.float64), np.asarray(y, np.float64)) for n, x, y in series
                  if x is not None and y is not None and len(x)]
        header = ["step"] + [n for n, _ in self._series]
        if not series:
            return header, []
        steps = np.unique(np.concatenate([x for _, x, _ in series]))
        columns = {}
        for n, x, y in series:
            col = np.full(len(steps), np.nan)
            col[np.searchsorted(steps, x)] = y
            columns[n] = col
        empty = np.full(len(steps), np.nan)
        table = [steps] + [columns.get(n, empty) for n in header[1:]]
        rows = [[csv_cell(v) for v in row] for row in zip(*(c.tolist() for c in table))]
        return header, rows

    def export_csv(self, path) -> Path:
        path = Path(path)
        self.ensure_current()
        header, rows = self.csv_table()

        def write(f) -> None:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)

        atomic_write_with(path, write)
        return path

    # ------------------------------------------------------------------ context menu
    def _make_export_actions(self) -> None:
        self.export_actions = []
        for label, kind in (("Export PNG…", "png"), ("Export SVG…", "svg"), ("Export CSV…", "csv")):
            action = QtGui.QAction(label, self)
            action.triggered.connect(lambda _=False, k=kind: self.export_dialog(k))
            self.export_actions.append(action)
        width = QtGui.QAction("PNG width…", self)
        width.setToolTip("how many pixels wide this chart's PNG exports are drawn")
        width.triggered.connect(self.png_width_dialog)
        self.export_actions.append(width)
        self.addActions(self.export_actions)
        self.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.ActionsContextMenu)
        # pyqtgraph's right-click menu (on any plot) lists the scene's actions after its own
        self.glw.scene().contextMenu.extend(self.export_actions)

    def png_width_dialog(self) -> None:
        width, ok = QtWidgets.QInputDialog.getInt(self, "PNG width", f"Pixels wide for {self.title or self.name} PNGs:",
                                                  self.png_width, 300, 10000, 100)
        if ok:
            self.set_png_width(width)

    def export_dialog(self, kind: str) -> Path | None:
        filters = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "csv": "CSV table (*.csv)"}
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, f"Export {self.title or self.name} as {kind.upper()}",
                                                        f"{self.name}.{kind}", filters[kind])
        if not path:
            return None
        path = Path(path)
        if path.suffix.lower() != f".{kind}":
            path = path.with_name(path.name + f".{kind}")
        try:
            return getattr(self, f"export_{kind}")(path)
        except Exception as exc:  # a bad folder or a full disk: say so, keep running
            QtWidgets.QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{exc}")
            return None


@contextlib.contextmanager
def _uncached(scene: QtWidgets.QGraphicsScene) -> Iterator[None]:
    """Items painted afresh for an export, their cached pixmaps dropped. An export paints into
    an image, a device of its own, and Qt keeps a pixmap per device for an item cached in device
    coordinates (cache_static_items: axes, titles, legends); but whether the item changed since
    is one flag per item, cleared by the next on-screen repaint. A second export at the same
    scale then blitted the first export's step axis under the data of a longer run (markers
    read at ~0.8x their step; SVGs, never cached, were right). tests/gui/test_export_pixels.py"""
    none = QtWidgets.QGraphicsItem.CacheMode.NoCache
    cached = [(item, item.cacheMode()) for item in scene.items() if item.cacheMode() != none]
    for item, _ in cached:
        item.setCacheMode(none)
    try:
        yield
    finally:
        for item, mode in cached:
            item.setCacheMode(mode)
