"""A recorded run out of the store: TensorBoard event files, CSV, JSON.

    export_tensorboard(store, "spiral-relu-adam-1", "tb/spiral-relu-adam-1")   # tensorboard --logdir tb
    export_csv(store, run, "out/")      # metrics.csv (History's CSV) and histograms.csv
    export_json(store, run, "run.json") # History's JSON plus the run's row

TensorBoard's files are written by its own writer (torch.utils.tensorboard.SummaryWriter):
scalars as `train/...` and `val/...`, each layer's numbers as `<statistic>/<layer>` (one chart
per statistic, a line per layer), the activation histograms as histograms with the recorded
bins and counts, and the run's settings as hparams with its final numbers as metrics.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..fileio import atomic_write_text, dumps
from .history import LAYER_KEYS
from .store import RunInfo, RunStore, RunStoreError

# store column -> TensorBoard tag
SCALAR_TAGS = {"loss": "train/loss", "data_loss": "train/data_loss", "reg_loss": "train/reg_loss",
               "train_acc": "train/acc", "lr": "train/lr", "val_loss": "val/loss", "val_acc": "val/acc"}
FINAL_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")  # RunInfo's; as "hparam/<name>"


def hparams_of(run: RunInfo) -> dict:
    """The run's config as TensorBoard hparams: numbers, strings and booleans (None as "none")."""
    return {k: ("none" if v is None else v if isinstance(v, (bool, int, float, str)) else str(v))
            for k, v in run.config.items()}


def histogram_numbers(edges: list[float], counts: list[int], pcts: list[float] | None) -> dict:
    """add_histogram_raw's arguments for a recorded histogram: the bins as they are (the limits
    are the right edges); min and max the recorded extremes; sum and sum of squares from the bin
    centres (the record keeps counts, not values)."""
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    return dict(min=pcts[0] if pcts else edges[0], max=pcts[-1] if pcts else edges[-1], num=sum(counts),
                sum=sum(c * n for c, n in zip(centres, counts)),
                sum_squares=sum(c * c * n for c, n in zip(centres, counts)),
                bucket_limits=list(edges[1:]), bucket_counts=list(counts))


def export_tensorboard(store: RunStore, ref: str, directory: str | Path) -> Path:
    """Write the run's event files into `directory` (its own folder: TensorBoard shows one run
    per folder, so export several runs into sibling folders to overlay them)."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    run = store.resolve(ref)
    directory = Path(directory)
    if directory.exists() and any(directory.glob("events.out.tfevents.*")):
        raise RunStoreError(f"{directory} already holds TensorBoard event files; export into a new folder")
    columns = store.scalars(run.id)
    with SummaryWriter(log_dir=str(directory)) as w:
        steps = columns["step"].astype(int).tolist()
        for key, tag in SCALAR_TAGS.items():
            for step, value in zip(steps, columns[key].tolist()):
                if not math.isnan(value):
                    w.add_scalar(tag, value, step)
        for rec in store.records(run.id):
            for layer in rec["layers"]:
                for key in LAYER_KEYS:
                    if layer.get(key) is not None:
                        w.add_scalar(f"{key}/{layer['name']}", layer[key], rec["step"])
                if layer.get("hist"):
                    w.add_histogram_raw(f"activations/{layer['name']}", global_step=rec["step"],
                                        **histogram_numbers(layer["hist"]["edges"], layer["hist"]["counts"],
                                                            layer.get("pcts")))
        metrics = {f"hparam/{k}": getattr(run, k) for k in FINAL_METRICS if getattr(run, k) is not None}
        for summary in hparams(hparams_of(run), metrics):
            w.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            w.add_scalar(tag, value, run.steps)
    return directory


def export_csv(store: RunStore, ref: str, directory: str | Path) -> list[Path]:
    """metrics.csv (a row per step: scalars, validation, per-layer numbers, events; History's
    CSV) and histograms.csv (a row per bin: step, layer, left, right, count)."""
    run = store.resolve(ref)
    directory = Path(directory)
    metrics, hists = directory / "metrics.csv", directory / "histograms.csv"
    atomic_write_text(metrics, store.history(run.id, full=True).to_csv_text())
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["step", "layer", "left", "right", "count"])
    for rec in store.records(run.id):
        for layer in rec["layers"]:
            if layer.get("hist"):
                edges = layer["hist"]["edges"]
                for i, count in enumerate(layer["hist"]["counts"]):
                    out.writerow([rec["step"], layer["name"], repr(edges[i]), repr(edges[i + 1]), count])
    atomic_write_text(hists, buf.getvalue())
    return [metrics, hists]


def export_json(store: RunStore, ref: str, path: str | Path) -> Path:
    """History's JSON (format babysit-history/1: config, scalars, val, layers, snapshots, events)
    with the run's row under "run"."""
    run = store.resolve(ref)
    obj = store.history(run.id, full=True).to_json_obj()
    obj["run"] = {k: v for k, v in run.as_dict().items() if k != "config"}
    atomic_write_text(path, dumps(obj))
    return Path(path)
