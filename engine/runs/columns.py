"""Bounded numpy columns with halving decimation: the storage under engine/runs/history.py.

    cols = Columns(("step", "loss"), capacity=100_000)
    cols.append({"step": 1, "loss": 2.3}); cols.view("loss")     # a numpy view of the stored rows

When full, every other row is dropped and from then on only every `stride`-th row offered is
stored (Thinning), so a run of any length stays within `capacity` rows; `kept_rows` says which
rows appending a whole column one by one would keep (a recorded run is read back in one go).
"""
from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np


class Thinning:
    """Which of the offered items to keep: one in `stride`; the owner keeps every other stored
    item when it is full and calls `halved()`, so a run of any length fits."""

    def __init__(self) -> None:
        self.stride = 1  # one stored item per `stride` offered (after decimation)
        self.since = 0   # items offered since the last stored one

    def take(self) -> bool:
        self.since += 1
        if self.since < self.stride:
            return False
        self.since = 0
        return True

    def halved(self) -> None:
        self.stride *= 2


def kept_rows(count: int, capacity: int) -> tuple[np.ndarray, Thinning, int]:
    """Which of `count` items, offered one by one to an empty store of `capacity` that halves
    when full (as `Columns.append` and the snapshots do), it keeps: their indices, its thinning
    afterwards and how often it halved. One numpy range per halving, not a step per item."""
    thin, kept, halvings, at = Thinning(), np.zeros(0, np.int64), 0, 0
    while True:
        first = at + thin.stride - thin.since - 1  # the next item `take()` accepts
        if first >= count:
            thin.since += count - at
            return kept, thin, halvings
        if len(kept) == capacity:
            kept = kept[1::2]
            thin.halved()
            halvings += 1
        taken = np.arange(first, count, thin.stride)[: capacity - len(kept)]
        kept = np.concatenate([kept, taken])
        at, thin.since = int(taken[-1]) + 1, 0


class Columns:
    """Fixed-capacity numpy columns with halving decimation.

    Rows are gathered in a list and written to the arrays BATCH at a time, one numpy write per
    column (append runs every step: no numpy call per row); every read (`n`, `view`, `export`)
    writes the gathered rows first, so readers see every row. Which rows are kept, and when the
    store is decimated, is decided as each row arrives."""

    BATCH = 64

    def __init__(self, keys: tuple[str, ...], capacity: int, shape: tuple[int, ...] = (), dtype=np.float64,
                 shapes: dict[str, tuple[int, ...]] | None = None):
        self.keys = keys
        self.capacity = max(4, int(capacity) // 2 * 2)
        self._n = 0  # rows written to the arrays
        self._rows: list[dict[str, Any]] = []  # rows kept, not yet written
        self._lock = threading.Lock()  # a read on another thread may write the gathered rows
        self._thin = Thinning()
        self.latest: dict[str, Any] | None = None  # the newest row offered, stored or not
        # "step" is always one number per row; the other keys have the per-row `shape`, or their own
        shapes = {"step": (), **(shapes or {})}
        # never read past n, so not filled: pages are touched only as rows arrive, and making a
        # run's columns on the GUI thread costs nothing
        self.data = {k: np.empty((self.capacity, *shapes.get(k, shape)), dtype=np.float64 if k == "step" else dtype)
                     for k in keys}
        self._cols = [(k, self.data[k]) for k in keys]

    @property
    def stride(self) -> int:
        return self._thin.stride

    @property
    def n(self) -> int:
        """Rows stored (the gathered ones written first)."""
        if self._rows:
            self.flush()
        return self._n

    def append(self, values: dict[str, Any]) -> bool:
        """Store a row (or skip it per the current stride). Returns True when decimation happened."""
        self.latest = values
        if not self._thin.take():
            return False
        with self._lock:
            decimated = False
            if self._n + len(self._rows) == self.capacity:
                self._write_rows()
                for k in self.keys:
                    col = self.data[k]
                    half = col[1::2].copy()  # every other row; capacity is even, so the newest stays
                    col[: len(half)] = half
                    col[len(half):] = np.nan
                self._n = len(half)
                self._thin.halved()
                decimated = True
            self._rows.append(values)
            if len(self._rows) >= self.BATCH:
                self._write_rows()
        return decimated

    def load(self, columns: dict[str, np.ndarray], latest: dict[str, Any] | None) -> int:
        """Fill empty columns from whole arrays (a row per offered row; a missing key is NaN),
        keeping the rows that appending them one by one would keep; `latest` is the newest row
        as it was offered. Returns how often the rows were decimated."""
        if self._n or self._rows or self.latest is not None:
            raise ValueError("load() fills empty columns only")
        kept, self._thin, halvings = kept_rows(len(columns["step"]), self.capacity)
        rows = kept if halvings else slice(0, len(kept))  # every row kept: no gather
        for k, col in self._cols:
            col[: len(kept)] = np.asarray(columns[k])[rows] if k in columns else np.nan
        self._n = len(kept)
        self.latest = latest
        return halvings

    def flush(self) -> None:
        """Write the gathered rows to the arrays."""
        with self._lock:
            self._write_rows()

    def _write_rows(self) -> None:
        rows, i = self._rows, self._n
        if not rows:
            return
        self._rows = []
        try:
            for k, col in self._cols:
                col[i:i + len(rows)] = [np.nan if (v := r.get(k)) is None else v for r in rows]
            self._n = i + len(rows)
        except (ValueError, TypeError):  # a malformed row: the others are stored one by one
            for r in rows:
                try:
                    for k, col in self._cols:
                        v = r.get(k)
                        col[self._n] = np.nan if v is None else v
                except (ValueError, TypeError) as exc:
                    warnings.warn(f"history: a row that does not fit the columns was dropped ({exc})")
                    continue
                self._n += 1

    def view(self, key: str) -> np.ndarray:
        return self.data[key][: self.n]

    def unstored_latest(self) -> dict[str, Any] | None:
        """The newest row if the stride skipped it (it is then newer than every stored row)."""
        if self.latest is None or self._thin.since == 0:
            return None
        return self.latest

    def export(self, keys: tuple[str, ...]) -> dict[str, list]:
        """Plain lists per key: the stored rows, then the newest row if the stride skipped it
        (rounded to the column's dtype like the others)."""
        out = {k: self.view(k).tolist() for k in keys}
        tail = self.unstored_latest()
        if tail is not None:
            for k in keys:
                v = tail.get(k)
                out[k].append(np.asarray(np.nan if v is None else v, dtype=self.data[k].dtype).tolist())
        return out

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.data.values())
