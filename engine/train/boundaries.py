"""A run's decision boundaries as it records them: when (the cadence) and how they are kept (blobs).
No torch: the window reads a recorded run's boundaries through this module.

    cadence = Cadence(total_steps, probe_every)      # the recorder asks after every step:
    cadence.due(step)                                # a boundary now? (then cadence.spent(seconds))
    plane, grid = pack_plane(payload), pack_grid(payload)   # a boundary.Plane's payload, for the store
    payload = unpack(plane, grid, step)              # back: engine/train/boundary.py predict_grid's payload

When: at step 1, then at probe steps EVERY apart, EVERY chosen so the planned run holds about
PLANNED boundaries; a run that goes on past that doubles the spacing each time it holds CAP more
than it did, so its count grows with the log of its length. And never more often than keeps
their cost at SHARE of the training thread's time (after the first EARLY): a big model's grid
costs many steps.
The final weights' boundary is the recorder's (engine/runs/recorder.py), whatever the cadence says.

How: the plane (axes, training points, class count) once per run, as JSON; each boundary as the
classes (uint8, uint16 past 256 classes) and the confidence quantised to uint8 over 0..1,
zlib-compressed: a 64 x 64 grid takes a few kilobytes.
"""
from __future__ import annotations

import json
import math
import time
import zlib
from typing import Callable

import numpy as np

PLANNED = 150     # boundaries a run of its planned length holds (about)
CAP = 200         # past the plan, the spacing doubles each time a run holds this many more
SHARE = 0.01      # of the training thread's time, at most, spent drawing recorded boundaries
EARLY = 10        # the first boundaries keep to the spacing only, not to the share
LEVELS = 255      # confidence 0..1 kept as 0..LEVELS


class Cadence:
    """Which steps get a recorded boundary (see the module docstring)."""

    def __init__(self, total_steps: int, probe_every: int, *, share: float | None = SHARE,
                 clock: Callable[[], float] = time.perf_counter):
        probe_every = max(1, int(probe_every))
        self.every = probe_every * max(1, math.ceil(max(int(total_steps), 1) / (probe_every * PLANNED)))
        self.count = 0               # boundaries due so far
        self._next_doubling = CAP
        self.share, self.clock = share, clock
        self._not_before = -math.inf  # the clock time the last one's cost has been paid off by

    def due(self, step: int) -> bool:
        if step != 1 and step % self.every:
            return False
        if self.share is not None and self.clock() < self._not_before:
            return False
        self.count += 1
        if self.count >= self._next_doubling:
            self.every *= 2
            self._next_doubling += CAP
        return True

    def spent(self, seconds: float) -> None:
        """A boundary took this long: the next waits until training has had seconds / SHARE. Not
        the first EARLY: they show the start of training, where the boundary moves most, and
        pay once for torch's first passes over the grid."""
        if self.share is not None and self.count > EARLY:
            self._not_before = self.clock() + seconds / self.share


# ======================================================================== as blobs
def pack_plane(payload: dict) -> bytes:
    """The parts of a payload that never change within a run: axes, points, class count."""
    plane = {k: payload[k] for k in ("x", "y", "points", "n_classes")}
    return zlib.compress(json.dumps(plane).encode())


def pack_grid(payload: dict) -> bytes:
    """The classes and the quantised confidence, one blob (rows follow y, as in the payload)."""
    classes = np.asarray(payload["classes"])
    dtype = np.uint8 if int(payload["n_classes"]) <= 256 else np.uint16
    conf = np.rint(np.clip(np.asarray(payload["confidence"], np.float32), 0.0, 1.0) * LEVELS).astype(np.uint8)
    return zlib.compress(classes.astype(dtype).tobytes() + conf.tobytes())


def unpack(plane: bytes, grid: bytes, step: int) -> dict:
    """pack_plane's and pack_grid's blobs back into predict_grid's payload, with "step"; the
    confidence is the quantised one (within 0.5 / LEVELS of what was drawn)."""
    out = json.loads(zlib.decompress(plane))
    rows, cols = len(out["y"]), len(out["x"])
    raw = zlib.decompress(grid)
    dtype = np.uint8 if int(out["n_classes"]) <= 256 else np.uint16
    n = rows * cols * np.dtype(dtype).itemsize
    out["classes"] = np.frombuffer(raw[:n], dtype).reshape(rows, cols).astype(int).tolist()
    out["confidence"] = (np.frombuffer(raw[n:], np.uint8).reshape(rows, cols) / LEVELS).tolist()
    out["step"] = int(step)
    return out
