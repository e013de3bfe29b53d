"""Decision boundary: the model's predicted class over the input plane (2-D data only).

    payload = predict_grid(model, dataset, device, resolution=80)
    payload["classes"][j][i]     # predicted class at (x[i], y[j]); rows follow y, columns follow x
    plane = Plane(dataset, device, resolution=64); plane.read(model)   # the same, grid made once
    RunBoundaries(trainer).due(step)   # a run's own, on engine/train/boundaries.py's cadence (engine/runs/recorder.py)

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

import time

import numpy as np
import torch

from .boundaries import Cadence
from .data import Dataset
from ..errors import DataError
from ..messages import Boundary

GRID_MARGIN = 0.1
MAX_POINTS = 1000
RECORDED_RESOLUTION = 64   # grid points per side of a boundary a run records


def predict_grid(model: torch.nn.Module, data: Dataset, device: torch.device | str = "cpu",
                 resolution: int = 80) -> dict:
    """The boundary of `model` now, as plain lists (the payload above)."""
    payload = Plane(data, device, resolution).read(model)
    payload["classes"] = payload["classes"].astype(int).tolist()
    payload["confidence"] = payload["confidence"].astype(float).tolist()
    return payload


class Plane:
    """A dataset's grid over the input plane, made once: a run that draws many boundaries (it
    records them as it trains) pays for the grid, its preprocessing and the points only once.

        plane = Plane(data, device, resolution)
        payload = plane.read(model)   # the payload above, classes and confidence as numpy arrays
    """

    def __init__(self, data: Dataset, device: torch.device | str = "cpu", resolution: int = 80):
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
        self.inputs = torch.as_tensor(inputs, device=device)
        self.resolution = resolution
        labels = np.asarray(data.y_train)
        idx = np.arange(len(raw))
        if len(idx) > MAX_POINTS:
            idx = np.linspace(0, len(raw) - 1, MAX_POINTS).round().astype(int)
        self.axes = {"x": xs.tolist(), "y": ys.tolist()}
        self.points = {"x": raw[idx, 0].tolist(), "y": raw[idx, 1].tolist(), "label": labels[idx].astype(int).tolist()}
        self.n_classes = int(data.n_classes)

    @torch.no_grad()
    def read(self, model: torch.nn.Module) -> dict:
        """The payload for `model` now: classes (int64) and confidence (float32) as (resolution,
        resolution) arrays; the axes and points are this plane's own lists, shared, not copied."""
        was_training = model.training
        model.eval()
        try:
            logits = model(self.inputs).float()
            top, cls = logits.max(dim=1)
            conf = torch.exp(top - torch.logsumexp(logits, dim=1))   # the top softmax probability, softmax unmade
            # one host transfer each: the only sync points of a read
            shape = (self.resolution, self.resolution)
            classes, confidence = cls.cpu().numpy().reshape(shape), conf.cpu().numpy().reshape(shape)
        finally:
            model.train(was_training)
        return {**self.axes, "classes": classes, "confidence": confidence, "points": self.points,
                "n_classes": self.n_classes}


class RunBoundaries:
    """The boundaries a run records as it trains (engine/runs/recorder.py asks): on the cadence of
    engine/train/boundaries.py, each timed so their cost stays a small share of training, at
    RECORDED_RESOLUTION, coarser than the live tab's: a grid costs a forward pass per point, and
    a run records many."""

    def __init__(self, trainer, planned_steps: int | None = None):   # trainer: engine.train.trainer.Trainer
        self.trainer = trainer
        self.plane = Plane(trainer.data, trainer.device, RECORDED_RESOLUTION)
        self.cadence = Cadence(planned_steps or trainer.total_steps, trainer.cfg.probe_every)

    def due(self, step: int) -> Boundary | None:
        """The boundary after step `step` (just taken) if the cadence wants one."""
        if not self.cadence.due(step):
            return None
        began = time.perf_counter()
        boundary = self.now()
        self.cadence.spent(time.perf_counter() - began)
        return boundary

    def now(self) -> Boundary:
        return Boundary(self.trainer.step_count, self.plane.read(self.trainer.model), recorded=True)
