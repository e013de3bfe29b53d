"""Debiased exponential moving average, the way TensorBoard smooths scalar charts (no Qt).

    ema_i    = w * ema_{i-1} + (1 - w) * x_i          (ema_{-1} = 0)
    smooth_i = ema_i / (1 - w ** (i + 1))               (debias: early points are not pulled to 0)

Non-finite inputs are passed through unchanged and do not advance the average (as TensorBoard's
`smoothingWeight` code does), so a NaN does not poison the rest of the curve. `i` counts the
finite values seen so far.

`IncrementalEma` keeps the running state so a live chart smooths only the rows appended since the
last frame; a full recompute (new smoothing weight, a decimated history) is one vectorised pass.
"""
from __future__ import annotations

import numpy as np

# the longest stretch summed at once: w ** -CHUNK must stay far inside float64 (see _ema_finite)
CHUNK = 4096


def _ema_finite(x: np.ndarray, w: float, last: float, count: int) -> tuple[np.ndarray, float, int]:
    """Smooth finite values `x` continuing from state (last, count). Returns (smoothed, last, count).

    The recurrence ema_k = w ema_{k-1} + (1 - w) x_k, solved in closed form over a stretch of L rows:
    ema_k = w^(k+1) (last + (1 - w) sum_{j<=k} w^-(j+1) x_j), one cumsum per stretch; L keeps
    w^-L below 1e260, and the sum is dominated by its newest terms, so the error stays at k eps."""
    n = len(x)
    if n == 0:
        return np.empty(0), last, count
    if w == 0.0:
        return x.astype(np.float64, copy=True), float(x[-1]), count + n
    span = max(1, min(CHUNK, int(600.0 / -np.log(w))))
    powers = np.power(w, np.arange(1, span + 1, dtype=np.float64))       # w^(k+1), k = 0 .. span-1
    ema = np.empty(n)
    for lo in range(0, n, span):
        chunk = x[lo:lo + span].astype(np.float64)
        p = powers[: len(chunk)]
        ema[lo:lo + len(chunk)] = p * (last + (1.0 - w) * np.cumsum(chunk / p))
        last = float(ema[lo + len(chunk) - 1])
    steps = np.arange(count + 1, count + n + 1, dtype=np.float64)
    smoothed = ema / (1.0 - np.power(w, steps))
    return smoothed, last, count + n


def ema_smooth(values, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA of `values` with smoothing weight 0 <= weight < 1."""
    x = np.asarray(values, dtype=np.float64)
    w = _check_weight(weight)
    out = x.copy()
    finite = np.isfinite(x)
    out[finite], _, _ = _ema_finite(x[finite], w, 0.0, 0)
    return out


def _check_weight(weight: float) -> float:
    w = float(weight)
    if not 0.0 <= w < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1) (got {weight!r})")
    return w


class IncrementalEma:
    """Smooths a growing column: `update(column)` returns the smoothed view of all of it."""

    def __init__(self, weight: float = 0.6):
        self.weight = _check_weight(weight)
        self.reset()

    def reset(self) -> None:
        self._out = np.empty(0)
        self._n = 0
        self._last = 0.0
        self._count = 0

    def set_weight(self, weight: float) -> None:
        self.weight = _check_weight(weight)
        self.reset()

    def update(self, column: np.ndarray, rewritten: bool = False) -> np.ndarray:
        """`column` is the whole series so far; `rewritten` when old rows changed (decimation)."""
        n = len(column)
        if rewritten or n < self._n:
            self.reset()
        if n > len(self._out):
            grown = np.empty(max(n, 2 * len(self._out), 1024))
            grown[: self._n] = self._out[: self._n]
            self._out = grown
        if n > self._n:
            new = np.asarray(column[self._n:n], dtype=np.float64)
            finite = np.isfinite(new)
            chunk = new.copy()
            chunk[finite], self._last, self._count = _ema_finite(new[finite], self.weight, self._last, self._count)
            self._out[self._n:n] = chunk
            self._n = n
        return self._out[:n]
