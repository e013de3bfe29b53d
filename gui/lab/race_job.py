"""The optimizer race's work, off the GUI thread: engine.lab.surfaces' race and the surface's contours.

Contour levels are log-spaced between the surface's low and high losses (every surface's minimum
is 0, and the interesting part is near it); the lines come from pyqtgraph's marching squares
(~0.3 s for a surface on GRID x GRID points), one NaN-separated polyline per level.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

LEVELS = 14
GRID = 120


def compute(surface: str, condition: float, optimizers: list[str], lrs: dict, start, steps: int,
            noise: float) -> dict:
    """Worker thread: the race and the surface's contour lines (plain numpy and lists)."""
    from engine.lab.surfaces import make_surface, race
    s = make_surface(surface, condition=condition)
    result = race(s, optimizers, lrs=lrs, start=start, steps=steps, noise=noise)
    xs, ys, z = s.grid(GRID)
    lo, hi = max(float(np.percentile(z, 1)), float(z.max()) * 1e-7, 1e-12), float(np.percentile(z, 97))
    contours = []
    for level in np.geomspace(lo, max(hi, lo * 10), LEVELS):
        x_line, y_line = [], []
        for line in pg.functions.isocurve(z.T, level, connected=True, extendToEdge=True):
            pts = np.asarray(line, dtype=np.float64)   # index space: (column, row)
            x_line += [*np.interp(pts[:, 0], np.arange(GRID), xs), np.nan]
            y_line += [*np.interp(pts[:, 1], np.arange(GRID), ys), np.nan]
        contours.append((float(level), np.asarray(x_line), np.asarray(y_line)))
    result.update(title=s.title, bounds=s.bounds, minima=s.minima, contours=contours, default_lrs=s.lrs,
                  default_start=s.start)
    return result
