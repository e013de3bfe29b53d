"""Decision boundary view: the predicted class over the input plane, training points on top.

    view = BoundaryView()
    view.update_boundary(payload)      # engine.train.boundary.predict_grid(...) / the session's "boundary"
    view.clear()

As in TensorFlow Playground, each grid cell takes its predicted class's colour, faded toward
white where the model is unsure: the blend weight grows from 0 at chance confidence (1/C) to
MAX_TINT at certainty, so regions the net is sure of are strong and boundaries look soft.
Training points are drawn on top in the same hues, darker, with a white rim. The image and the
scatter are long-lived items; an update replaces their data only.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from ..plots import theme

MAX_TINT = 0.6
WAITING = "No boundary yet: it is drawn while a run on 2-D data trains."


def class_colours(n: int) -> np.ndarray:
    """(n, 3) uint8 RGB, one per class: the charts' palette (tab10, then evenly spaced hues)."""
    cols = [theme.layer_colour(i, n) for i in range(n)]
    return np.array([[c.red(), c.green(), c.blue()] for c in cols], dtype=np.uint8)


def boundary_rgb(classes: np.ndarray, confidence: np.ndarray, n_classes: int) -> np.ndarray:
    """(H, W, 3) uint8 image: class colour blended with white by normalised confidence."""
    palette = class_colours(n_classes).astype(np.float32)
    chance = 1.0 / max(n_classes, 1)
    certainty = np.clip((confidence - chance) / max(1.0 - chance, 1e-6), 0.0, 1.0)
    w = (0.12 + (MAX_TINT - 0.12) * certainty)[..., None]   # even unsure cells show a hint of colour
    rgb = (1.0 - w) * 255.0 + w * palette[np.clip(classes, 0, n_classes - 1)]
    return rgb.round().astype(np.uint8)


class BoundaryView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.payload: dict | None = None
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setBackground(theme.BACKGROUND)
        self.plot = self.plot_widget.getPlotItem()
        theme.style_plot(self.plot, "Decision boundary", "x₁", "x₂")
        self.plot.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.scatter = pg.ScatterPlotItem(size=6, pen=pg.mkPen(255, 255, 255, 220, width=0.8))
        self.plot.addItem(self.scatter)
        lay.addWidget(self.plot_widget)
        self.caption = QtWidgets.QLabel(WAITING)
        self.caption.setStyleSheet(f"color: {theme.MUTED};")
        self.caption.setWordWrap(True)
        lay.addWidget(self.caption)

    def update_boundary(self, payload: dict) -> None:
        """Draw a predict_grid payload: {x, y, classes, confidence, points{x,y,label}, n_classes, step?}."""
        xs = np.asarray(payload["x"], dtype=np.float64)
        ys = np.asarray(payload["y"], dtype=np.float64)
        classes = np.asarray(payload["classes"], dtype=np.int64)
        conf = np.asarray(payload["confidence"], dtype=np.float64)
        pts = payload.get("points") or {}
        labels = np.asarray(pts.get("label", []), dtype=np.int64)
        n = int(payload.get("n_classes") or max(int(classes.max(initial=0)), int(labels.max(initial=0))) + 1)
        self.payload = payload
        # rows follow y, columns follow x; the image's pixel centres sit on the grid points
        self.image.setImage(boundary_rgb(classes, conf, n), autoLevels=False, levels=(0, 255))
        dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1)
        dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
        self.image.setRect(QtCore.QRectF(xs[0] - dx / 2, ys[0] - dy / 2, xs[-1] - xs[0] + dx, ys[-1] - ys[0] + dy))
        if labels.size:
            dark = (class_colours(n).astype(np.float32) * 0.75).astype(np.uint8)
            brushes = [pg.mkBrush(*dark[k]) for k in range(n)]
            self.scatter.setData(np.asarray(pts["x"], dtype=np.float64), np.asarray(pts["y"], dtype=np.float64),
                                 brush=[brushes[k] for k in np.clip(labels, 0, n - 1)])
        else:
            self.scatter.clear()
        self.plot.setTitle("Decision boundary" + (f" at step {payload['step']:,}" if payload.get("step") is not None
                                                  else ""), color=theme.FOREGROUND, size="10pt")
        self.plot.setXRange(xs[0], xs[-1], padding=0)
        self.plot.setYRange(ys[0], ys[-1], padding=0)
        step = payload.get("step")
        acc = ""
        if labels.size:
            # training accuracy on the drawn points, read off the grid (nearest cell)
            ix = np.clip(np.rint((np.asarray(pts["x"]) - xs[0]) / (dx or 1)).astype(int), 0, len(xs) - 1)
            iy = np.clip(np.rint((np.asarray(pts["y"]) - ys[0]) / (dy or 1)).astype(int), 0, len(ys) - 1)
            acc = f"; {100 * float(np.mean(classes[iy, ix] == labels)):.0f}% of the training points classified correctly"
        self.caption.setText(f"{f'step {step:,}: ' if step is not None else ''}predicted class over the "
                             f"plane, paler where the model is unsure{acc}.")

    def clear(self, n_features: int | None = None, reason: str | None = None) -> None:
        """Empty the view for a new run with `n_features` inputs (None: not known yet), saying why
        there is no boundary in `reason` if given."""
        self.payload = None
        self.image.clear()
        self.scatter.clear()
        self.plot.setTitle("Decision boundary", color=theme.FOREGROUND, size="10pt")
        if reason is not None:
            self.caption.setText(reason)
        elif n_features is None or n_features == 2:
            self.caption.setText(WAITING)
        else:
            self.caption.setText(f"A decision boundary needs 2-D inputs: this dataset has {n_features} features, "
                                 "so there is no plane of inputs to colour. The toy datasets (spiral, circles, moons, "
                                 "xor, blobs) are 2-D.")
