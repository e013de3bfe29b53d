"""Benchmark 4: one million steps in the history store, and redrawing the loss chart from it.

    python benchmarks/bench_history.py [--quick] [--steps N]

A History is filled through its public API exactly as the window's copy is: a scalars row per
step, and every 10 steps a probe record of 5 layers (4 hidden + output) with histograms and
percentiles (a fresh object per record, as the outbox delivers them). Memory, after the fill:
the store's numpy buffers (nbytes) plus the deep size of every Python object it keeps (full
snapshots, the latest record, events, config), walked with sys.getsizeof. (tracemalloc agrees
within a few percent but makes the fill ten times slower.)

The loss chart is the dashboard's own (gui/plots/scalars.LossPlot: raw and smoothed curves,
long-lived PlotDataItems with peak downsampling and clip-to-view) shown offscreen at
900 x 520; one redraw = a new step appended, `refresh(history)`, and the widget painted
(`grab()`, which renders the whole view synchronously). Median over repeats.
"""
from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import time

import common  # noqa: F401  (puts the repository root on sys.path)
from common import info_line, result_line

from engine.runs.history import History

N_LAYERS, BINS = 5, 40


def probe_template() -> bytes:
    """A realistic probe record (the shape engine.train.probes produces), pickled for cheap copies."""
    layers = []
    for i in range(N_LAYERS):
        hidden = i < N_LAYERS - 1
        layers.append({
            "name": f"hidden{i + 1}" if hidden else "output",
            "act_mean": 0.41 if hidden else None, "act_std": 0.62 if hidden else None,
            "dead_frac": 0.48 if hidden else None, "sat_frac": None,
            "dead_units": 0.01 if hidden else None, "unit_spread": 0.55 if hidden else None,
            "hist": {"edges": [0.1 * k for k in range(BINS + 1)], "counts": [100 + k for k in range(BINS)]}
            if hidden else None,
            "pcts": [0.0, 0.0, 0.0, 0.05, 0.2, 0.4, 0.8, 1.3, 4.2] if hidden else None,
            "weight_norm": 16.1, "grad_norm": 0.21, "update_ratio": 1.1e-3,
        })
    return pickle.dumps({"step": 0, "epoch": 0, "loss": 1.0, "data_loss": 1.0, "reg_loss": 0.0,
                         "train_acc": 0.5, "lr": 1e-3, "layers": layers})


def fill(history: History, steps: int, probe_every: int = 10) -> None:
    template = probe_template()
    append, snap = history.append_scalars, history.append_snapshot
    for s in range(1, steps + 1):
        loss = 2.3 / (1.0 + s * 1e-4)
        row = {"step": s, "epoch": s // 12, "loss": loss, "data_loss": loss, "reg_loss": 0.0,
               "train_acc": 1.0 - loss / 2.5, "lr": 1e-3}
        append(row)
        if s % probe_every == 0:
            rec = pickle.loads(template)
            rec.update(row)
            snap(rec)


def deep_size(obj, seen: set[int] | None = None) -> int:
    """Bytes of a tree of dicts/lists/tuples/scalars/strings, each object counted once."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        size += sum(deep_size(v, seen) for v in obj)
    return size


def store_bytes(history: History) -> tuple[int, int]:
    """(numpy buffers, Python objects) held by the store."""
    seen: set[int] = set()
    py = sum(deep_size(x, seen) for x in (history.snapshots, history.latest_snapshot, history.events,
                                          history.config, history.layer_names))
    return history.nbytes(), py


def measure_memory(steps: int) -> tuple[float, History, float, str]:
    t0 = time.perf_counter()
    history = History()
    fill(history, steps)
    fill_s = time.perf_counter() - t0
    arrays, objects = store_bytes(history)
    return (arrays + objects) / 1e6, history, fill_s, f"numpy {arrays / 1e6:.1f} MB + objects {objects / 1e6:.1f} MB"


def measure_redraw(history: History, repeats: int) -> tuple[list[float], str]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import ensure_app  # the app's own style, as in the window
    from gui.plots.scalars import LossPlot
    app = ensure_app()
    widget, which = LossPlot(), "gui.plots.scalars.LossPlot"
    widget.resize(900, 520)
    widget.show()
    app.processEvents()
    widget.refresh(history, True)  # the first full draw (a new run, or a decimation)
    widget.grab()
    step = history.last_step
    times = []
    for _ in range(repeats):
        step += 1
        history.append_scalars({"step": step, "epoch": 0, "loss": 0.1, "data_loss": 0.1, "reg_loss": 0.0,
                                "train_acc": 0.9, "lr": 1e-3})
        t0 = time.perf_counter()
        widget.refresh(history)
        widget.grab()
        times.append((time.perf_counter() - t0) * 1e3)
    t0 = time.perf_counter()
    widget.refresh(history, True)
    widget.grab()
    full_ms = (time.perf_counter() - t0) * 1e3
    widget.close()
    return times, f"{which}; a full redraw (new run or decimation) {full_ms:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    mb, history, fill_s, parts = measure_memory(args.steps)
    rows = len(history)
    print(info_line("history", f"{args.steps:,} steps filled in {fill_s:.1f} s; kept {rows:,} scalar rows "
                               f"(stride {history.scalars.stride}), "
                               f"{history.probes.n if history.probes else 0:,} probe rows, "
                               f"{len(history.snapshots)} full snapshots"))
    print(result_line("history_memory_1M_steps", mb, "<= 100 MB", mb <= 100, unit="MB", fmt=".1f", note=parts))
    times, note = measure_redraw(history, 15 if args.quick else 60)
    ms = statistics.median(times)
    print(result_line("loss_chart_redraw_1M_steps", ms, "<= 16 ms", ms <= 16, unit="ms", fmt=".1f",
                      note=f"median; p90 {sorted(times)[int(len(times) * 0.9)]:.1f} ms; {note}"))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip Qt's teardown at interpreter exit (it can crash after a measurement is done)
