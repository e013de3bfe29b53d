"""Decision boundary: the model's predicted class over the input plane (2-D data only).

    payload = predict_grid(model, dataset, device, resolution=80)
    payload["classes"][j][i]     # predicted class at (x[i], y[j]); rows follow y, columns follow x

The grid is a square in the data's own (raw) units, so the plot's axes read as the data's: it
covers the raw training data's range plus a margin of GRID_MARGIN of the longer side on each
side (the shorter side is widened to match, centred). Grid points go
through `data.transform` (the training preprocessing) before the model, exactly as the
training inputs did. The model runs in eval mode (batch norm uses its running statistics,
dropout is off) under no_grad, and its train/eval mode is restored afterwards.

Payload (plain lists, JSON-able): x (resolution floats), y (resolution floats), classes
(resolution x resolution ints, row j = y[j]), confidence (same shape: the max softmax
probability), points {x, y, label} (the raw training points, at most MAX_POINTS, evenly
subsampled), n_classes.
"""
from __future__ import annotations

import numpy as np
import torch

from .data import Dataset
from .errors import DataError

GRID_MARGIN = 0.1
MAX_POINTS = 1000


@torch.no_grad()
def predict_grid(model: torch.nn.Module, data: Dataset, device: torch.device | str = "cpu",
                 resolution: int = 80) -> dict:
    if data.n_features != 2:
        raise DataError(f"a decision boundary needs 2-D inputs; this dataset has {data.n_features} features")
    resolution = int(resolution)
    if resolution < 2:
        raise DataError(f"the boundary grid needs at least 2 points per side (got {resolution})")
    raw = data.raw_train if data.raw_train is not None else data.X_train
    raw = np.asarray(raw, dtype=np.float64)
    lo, hi = raw.min(axis=0), raw.max(axis=0)
    # a square in data units (the longer side sets both), so a plot with a locked aspect ratio
    # shows the plane undistorted and filled
    side = float(max((hi - lo).max(), 1e-9)) * (1 + 2 * GRID_MARGIN)
    centre = (lo + hi) / 2
    lo, hi = centre - side / 2, centre + side / 2
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    gx, gy = np.meshgrid(xs, ys)          # gx[j, i] = xs[i], gy[j, i] = ys[j]
    grid = np.c_[gx.ravel(), gy.ravel()]
    inputs = data.transform(grid) if data.raw_train is not None else grid.astype(np.float32)

    was_training = model.training
    model.eval()
    try:
        logits = model(torch.as_tensor(inputs, device=device))
        prob = torch.softmax(logits.float(), dim=1)
        conf, cls = prob.max(dim=1)
        # one host transfer each: the only sync points of this function
        cls_np = cls.cpu().numpy().reshape(resolution, resolution)
        conf_np = conf.cpu().numpy().reshape(resolution, resolution)
    finally:
        model.train(was_training)

    labels = np.asarray(data.y_train)
    idx = np.arange(len(raw))
    if len(idx) > MAX_POINTS:
        idx = np.linspace(0, len(raw) - 1, MAX_POINTS).round().astype(int)
    return {
        "x": xs.tolist(),
        "y": ys.tolist(),
        "classes": cls_np.astype(int).tolist(),
        "confidence": conf_np.astype(float).tolist(),
        "points": {"x": raw[idx, 0].tolist(), "y": raw[idx, 1].tolist(), "label": labels[idx].astype(int).tolist()},
        "n_classes": int(data.n_classes),
    }
