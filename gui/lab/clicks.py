"""Where on a plot the user clicked, in the plot's data units."""
from __future__ import annotations

from PySide6 import QtCore


def clicked_point(plot, event) -> QtCore.QPointF | None:
    """The data point under a left click inside `plot`'s view box (a scene's sigMouseClicked event), else None."""
    vb = plot.getViewBox()
    if event.button() != QtCore.Qt.MouseButton.LeftButton or not vb.sceneBoundingRect().contains(event.scenePos()):
        return None
    return vb.mapSceneToView(event.scenePos())
