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

_LFILTER: list = []


def _lfilter_or_none():
    """scipy's lfilter, imported on first use: scipy costs 1-2 s of start-up, and the window
    must paint first. scipy ships with scikit-learn (a dependency); the loop below is the fallback."""
    if not _LFILTER:
        try:
            from scipy.signal import lfilter
        except ImportError:  # pragma: no cover - exercised only without scipy
            lfilter = None
        _LFILTER.append(lfilter)
    return _LFILTER[0]


def _ema_finite(x: np.ndarray, w: float, last: float, count: int) -> tuple[np.ndarray, float, int]:
    """Smooth finite values `x` continuing from state (last, count). Returns (smoothed, last, count)."""
    n = len(x)
    if n == 0:
        return np.empty(0), last, count
    if w == 0.0:
        return x.astype(np.float64, copy=True), float(x[-1]), count + n
    _lfilter = _lfilter_or_none()
    if _lfilter is not None:
        # y[k] = (1-w) x[k] + w y[k-1], with y[-1] = last  (transposed direct form: zi = w*last)
        ema, _ = _lfilter([1.0 - w], [1.0, -w], x.astype(np.float64), zi=[w * last])
    else:
        ema = np.empty(n)
        acc = last
        for k, v in enumerate(x.tolist()):
            acc = w * acc + (1.0 - w) * v
            ema[k] = acc
    steps = np.arange(count + 1, count + n + 1, dtype=np.float64)
    smoothed = ema / (1.0 - np.power(w, steps))
    return smoothed, float(ema[-1]), count + n


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
