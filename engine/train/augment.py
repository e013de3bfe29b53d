"""Data augmentation for image data: each training image shifted by a random pixel (or not).

    shift = PixelShift(dataset, seed=0)       # digits: 8x8 images; any square number of features
    xb = shift(xb)                            # a training batch, preprocessed as the dataset's

Each image in the batch moves by (dx, dy), each drawn from {-1, 0, 1} (nine shifts, no shift among
them), and the row or column it leaves is filled with background (raw 0, as the digits' paper).
The batch is preprocessed data: the shift undoes the dataset's centring/scaling, moves the raw
pixels and applies it again, so a shifted image is exactly what preprocessing a shifted raw image
gives. Torch ops on the batch's device, its own seeded generator (a run's numbers stay its own).

Use it with preprocess "none" (or "center"): per-pixel standardisation divides the border pixels
that are almost always blank by a tiny std (0.026 for the digits), so ink shifted onto them becomes
values in the hundreds and validation gets worse, not better.

Hook it needs in the trainer: `xb = shift(xb)` on each training batch after it is drawn, while the
knob is on (never on validation data).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .data import Dataset
from ..errors import ConfigError


class PixelShift:
    def __init__(self, data: Dataset, seed: int = 0, device: torch.device | str = "cpu"):
        side = math.isqrt(data.n_features)
        if side * side != data.n_features or side < 3:
            raise ConfigError(f"pixel shifts need square images; {data.name} has {data.n_features} features per example")
        self.side = side
        self.device = torch.device(device)
        self.mean = torch.as_tensor(data.mean if data.mean is not None else 0.0, dtype=torch.float32, device=self.device)
        self.std = torch.as_tensor(data.std if data.std is not None else 1.0, dtype=torch.float32, device=self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def shifts(self, n: int) -> torch.Tensor:
        """(n, 2) integer shifts (dx, dy), each in {-1, 0, 1}, from this object's generator."""
        return torch.randint(-1, 2, (n, 2), generator=self.generator, device=self.device)

    def __call__(self, xb: torch.Tensor, shifts: torch.Tensor | None = None) -> torch.Tensor:
        n, s = xb.shape[0], self.side
        shifts = self.shifts(n) if shifts is None else shifts.to(self.device)
        raw = (xb * self.std + self.mean).view(n, s, s)
        padded = F.pad(raw, (1, 1, 1, 1))                   # background around every image
        # image i's pixel (r, c) comes from raw pixel (r - dy, c - dx): a window of the padded image
        rows = (torch.arange(s, device=self.device)[None, :] + 1 - shifts[:, 1:2])   # (n, s)
        cols = (torch.arange(s, device=self.device)[None, :] + 1 - shifts[:, 0:1])
        batch = torch.arange(n, device=self.device)[:, None, None]
        moved = padded[batch, rows[:, :, None], cols[:, None, :]]
        return ((moved.reshape(n, s * s) - self.mean) / self.std).to(xb.dtype)
