"""The history of a run: bounded, columnar, readable while training runs, exportable (no Qt).

Per-step scalars (loss, accuracy, lr, ...) live in preallocated numpy columns. When a column
store is full it is *decimated*: every other row is dropped and from then on only every
`stride`-th row is stored, so a run of any length stays within `max_rows` rows. The newest row
is always at hand whatever the stride (`latest_scalars`, `last_step`) and is written by the
exports, so a CSV ends at the run's last step. Per-layer probe
numbers get the same treatment in a (rows, layers, features) array; full snapshots with their
histograms are kept for the newest `max_snapshots` probes only (decimated the same way), since
each is a few kilobytes. Events (commands, divergence, diagnoses) are few and all kept.

One thread writes a History, through `ingest(message)` (engine/messages.py): the training
session's own, the window's (filled from the run's outbox, so plot code reads numpy views without
locks) and the command line's alike; a recorded run is read into one at once (`from_arrays`:
the same rows as those appends would keep). `version` increases on
every append, `generation` on every decimation (a reader that cached row indices re-reads).
"""
from __future__ import annotations

import csv
import io
import math
import threading
from typing import Any, Callable

import numpy as np

from .columns import Columns, Thinning, kept_rows
from ..fileio import atomic_write_text, dumps
from ..messages import Event, Message, Record, Scalars
from ..train.thresholds import PERCENTILES

SCALAR_KEYS = ("step", "epoch", "loss", "data_loss", "reg_loss", "train_acc", "lr")
VAL_KEYS = ("step", "val_loss", "val_acc", "val_loss_avg", "val_acc_avg")  # *_avg: averaged weights, NaN when off
LAYER_KEYS = ("act_mean", "act_std", "dead_frac", "sat_frac", "dead_units", "unit_spread",
              "weight_norm", "grad_norm", "update_ratio")
MAX_SNAPSHOTS = 1000  # full snapshots (with histograms) a History keeps by default
N_PCTS = len(PERCENTILES)  # percentiles kept per layer per probe
_NO_PCTS = [math.nan] * N_PCTS  # a layer without percentiles (only read)


class History:
    def __init__(self, max_rows: int = 500_000, max_probe_rows: int = 50_000, max_snapshots: int = MAX_SNAPSHOTS):
        self.scalars = Columns(SCALAR_KEYS, max_rows, dtype=np.float32)
        self.val = Columns(VAL_KEYS, max_probe_rows, dtype=np.float32)
        self.max_probe_rows = max_probe_rows
        self.max_snapshots = max(2, max_snapshots)
        self.layer_names: list[str] = []
        self.probes: Columns | None = None  # created at the first snapshot (layer count known)
        self.snapshots: list[dict] = []
        self._latest: dict | None = None
        self._snap_thin = Thinning()
        self.events: list[dict] = []
        self.config: dict | None = None
        self.total_steps: int | None = None  # the run's length in steps, when known (the charts stop there)
        self.version = 0
        self.generation = 0
        self.lock = threading.RLock()

    @classmethod
    def from_arrays(cls, scalars: dict[str, np.ndarray], val: dict[str, np.ndarray] | None = None, *,
                    layer_names: list[str] = (), layers: dict[str, np.ndarray] | None = None,
                    records: int = 0, read_records: Callable[[np.ndarray], list[dict]] | None = None,
                    events: list[dict] = (), config: dict | None = None, total_steps: int | None = None,
                    **sizes: int) -> "History":
        """The History that ingesting a recorded run message by message would leave (the same
        rows, decimated alike, the same snapshots, events and counters), filled from whole
        columns: a million steps in a few numpy calls instead of a million appends.

        scalars: SCALAR_KEYS -> (steps,) arrays, NaN for None; val: VAL_KEYS -> (evaluations,)
        (a missing key is NaN); layers: "step" and LAYER_KEYS -> (probe rows, layers), "pcts" ->
        (probe rows, layers, N_PCTS), the probe rows since the layers were last `layer_names`;
        records: the probe records the run sent (any layers), and `read_records(indices)` returns
        the ones at these indices, in order, as the run sent them (only those kept are read).
        `generation` counts the decimations of the rows it holds (live also counted those of
        probe rows dropped when the layers changed: readers only compare it with itself)."""
        h = cls(**sizes)
        h.config, h.total_steps = config, total_steps
        halvings = h.scalars.load(scalars, scalars_row(np.array([scalars[k][-1] for k in SCALAR_KEYS]))
                                  if len(scalars["step"]) else None)
        val = val if val is not None else {"step": np.zeros(0)}
        if len(val["step"]):
            newest = {k: (float(val[k][-1]) if k in val and val[k][-1] == val[k][-1] else None) for k in VAL_KEYS}
            newest["step"] = int(val["step"][-1])
            halvings += h.val.load(val, newest)
        if layers is not None and len(layers["step"]):
            h.layer_names = list(layer_names)
            h.probes = h._probe_columns(len(layer_names))
            newest = {k: layers[k][-1].tolist() for k in ("step",) + LAYER_KEYS + ("pcts",)}
            halvings += h.probes.load(layers, newest)
        if records:
            kept, h._snap_thin, _ = kept_rows(records, h.max_snapshots)
            wanted = np.union1d(kept, [records - 1])
            read = dict(zip(wanted.tolist(), read_records(wanted)))
            h.snapshots = [read[i] for i in kept.tolist()]
            h._latest = read[records - 1]  # when kept, the same object as the last snapshot (as live)
        h.events = [dict(e) for e in events]
        h.version = len(scalars["step"]) + len(val["step"]) + records + len(h.events)  # one per append
        h.generation = halvings
        return h

    def _probe_columns(self, n_layers: int) -> Columns:
        return Columns(("step",) + LAYER_KEYS + ("pcts",), self.max_probe_rows, shape=(n_layers,),
                        dtype=np.float32, shapes={"pcts": (n_layers, N_PCTS)})

    # -------------------------------------------------------------------- writing
    def ingest(self, message: Message) -> None:
        """Store what a run sent (engine/messages.py); state changes and boundaries are not history."""
        if isinstance(message, Scalars):
            self.append_scalars(message.as_dict())
        elif isinstance(message, Record):
            if message.val_loss is not None:
                self.append_val(message.step, message.val_loss, message.val_acc,
                                message.val_loss_avg, message.val_acc_avg)
            if message.layers:
                self.append_snapshot(message.as_dict())
        elif isinstance(message, Event):
            self.append_event(message.as_dict())

    def append_scalars(self, rec: dict[str, Any]) -> None:
        with self.lock:
            if self.scalars.append(rec):
                self.generation += 1
            self.version += 1

    def append_val(self, step: int, val_loss: float, val_acc: float,
                   val_loss_avg: float | None = None, val_acc_avg: float | None = None) -> None:
        with self.lock:
            if self.val.append({"step": step, "val_loss": val_loss, "val_acc": val_acc,
                                "val_loss_avg": val_loss_avg, "val_acc_avg": val_acc_avg}):
                self.generation += 1
            self.version += 1

    def append_snapshot(self, rec: dict[str, Any]) -> None:
        """A probe record: scalars plus `layers` (list of per-layer dicts, see engine.train.probes)."""
        layers = rec.get("layers") or []
        with self.lock:
            if layers:
                names = [l["name"] for l in layers]
                if self.probes is None or names != self.layer_names:
                    self.layer_names = names
                    self.probes = self._probe_columns(len(names))
                row: dict[str, Any] = {"step": rec["step"]}
                nan = np.nan
                for key in LAYER_KEYS:  # runs every probe step: one pass per key
                    row[key] = [nan if (v := l.get(key)) is None else v for l in layers]
                row["pcts"] = [p if (p := l.get("pcts")) else _NO_PCTS for l in layers]
                if self.probes.append(row):
                    self.generation += 1
                self._keep_snapshot(rec)
            self.version += 1

    def _keep_snapshot(self, rec: dict) -> None:
        self._latest = rec  # the newest is always at hand, whatever the stride
        if not self._snap_thin.take():
            return
        if len(self.snapshots) >= self.max_snapshots:
            self.snapshots = self.snapshots[1::2]
            self._snap_thin.halved()
        self.snapshots.append(rec)

    def append_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.events.append(dict(event))
            self.version += 1

    # -------------------------------------------------------------------- reading
    def __len__(self) -> int:
        return self.scalars.n

    def column(self, key: str) -> np.ndarray:
        """A view of one per-step column (SCALAR_KEYS). Owner thread only; copy to keep."""
        return self.scalars.view(key)

    def val_column(self, key: str) -> np.ndarray:
        return self.val.view(key)

    def layer_column(self, key: str) -> np.ndarray:
        """(probe rows, layers) for LAYER_KEYS, (probe rows, layers, 9) for 'pcts', (rows,) for 'step'."""
        if self.probes is None:
            return np.zeros((0, 0)) if key != "step" else np.zeros(0)
        return self.probes.view(key)

    @property
    def latest_snapshot(self) -> dict | None:
        return self._latest

    @property
    def latest_scalars(self) -> dict[str, Any] | None:
        """The newest scalars row as appended (also when the stride did not store it)."""
        return self.scalars.latest

    @property
    def last_step(self) -> int:
        latest = self.scalars.latest
        return int(latest["step"]) if latest is not None else -1

    def nbytes(self) -> int:
        n = self.scalars.nbytes() + self.val.nbytes()
        if self.probes is not None:
            n += self.probes.nbytes()
        return n

    # -------------------------------------------------------------------- export
    def to_json_obj(self) -> dict:
        with self.lock:
            return {
                "format": "babysit-history/1",
                "config": self.config,
                "scalars": self.scalars.export(SCALAR_KEYS),
                "val": self.val.export(VAL_KEYS),
                "layer_names": list(self.layer_names),
                "layers": (self.probes.export(("step",) + LAYER_KEYS + ("pcts",)) if self.probes is not None else {}),
                "snapshots": self._snapshots_with_latest(),
                "events": list(self.events),
            }

    def _snapshots_with_latest(self) -> list[dict]:
        """The kept snapshots, then the newest if the stride skipped it (like the columns' exports:
        an export ends at the run's last probe)."""
        out = list(self.snapshots)
        if self._latest is not None and (not out or out[-1] is not self._latest):
            out.append(self._latest)
        return out

    def to_json(self, path) -> None:
        atomic_write_text(path, dumps(self.to_json_obj()))

    def to_csv_text(self) -> str:
        """One row per recorded step: scalars, validation, per-layer probe numbers, events."""
        with self.lock:
            scalars = self.scalars.export(SCALAR_KEYS)
            val = self.val.export(VAL_KEYS)
            rows: dict[int, dict[str, Any]] = {}
            order: list[int] = []

            def row(step: float) -> dict[str, Any]:
                s = int(step)
                if s not in rows:
                    rows[s] = {"step": s}
                    order.append(s)
                return rows[s]

            for i, s in enumerate(scalars["step"]):
                r = row(s)
                for k in SCALAR_KEYS[1:]:
                    r[k] = scalars[k][i]
            for i, s in enumerate(val["step"]):
                r = row(s)
                for k in VAL_KEYS[1:]:
                    r[k] = val[k][i]
            layer_cols: list[str] = []
            if self.probes is not None:
                layer_cols = [f"{name}/{k}" for name in self.layer_names for k in LAYER_KEYS]
                probes = self.probes.export(("step",) + LAYER_KEYS)
                for i, s in enumerate(probes["step"]):
                    r = row(s)
                    for k in LAYER_KEYS:
                        vals = probes[k][i]
                        for j, name in enumerate(self.layer_names):
                            r[f"{name}/{k}"] = vals[j]
            for ev in self.events:
                r = row(ev.get("step", 0))
                label = ev.get("label") or ev.get("event", "")
                r["events"] = f"{r['events']}; {label}" if r.get("events") else label
            header = ["step", *SCALAR_KEYS[1:], *VAL_KEYS[1:], *layer_cols, "events"]
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(header)
            for s in sorted(order):
                r = rows[s]
                w.writerow([csv_cell(r.get(h)) for h in header])
            return buf.getvalue()

    def to_csv(self, path) -> None:
        atomic_write_text(path, self.to_csv_text())


def scalars_row(values) -> dict[str, Any]:
    """A step's SCALAR_KEYS numbers as the run sent them: step and epoch whole numbers, None for NaN."""
    d = {k: (None if v != v else v) for k, v in zip(SCALAR_KEYS, np.asarray(values, np.float64).tolist())}
    d["step"], d["epoch"] = int(d["step"]), None if d["epoch"] is None else int(d["epoch"])
    return d


def csv_cell(v: Any) -> str:
    """One CSV cell: empty for missing/NaN/inf, whole numbers exactly, other numbers to 6 digits."""
    if v is None:
        return ""
    if isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool):
        v = float(v)
        if not math.isfinite(v):
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"
    return str(v)
