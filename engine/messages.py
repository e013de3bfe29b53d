"""What leaves the engine: small typed messages of plain numbers, lists and strings.

A run sends, in order: `Scalars` for every step, a `Record` for every probed or evaluated step
(after that step's scalars), an `Event` for every command applied, finding and failure (after
the steps before it), a `StateChange` when the run starts, pauses, ends, and a `Boundary` when
asked for, and, for a run that records them, after the steps it belongs to and before the end. A worker running the LR finder (engine/runs/worker.py) sends `LRFind` too. Nothing here
holds a tensor, so a message can be pickled across a process pipe.
`as_dict()` is the JSON form (the metrics file, the history's exports).

The run states are defined here once, for the engine and the window alike (no torch import).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IDLE, RUNNING, PAUSED, DIVERGED, FINISHED, STOPPED, ERROR = (
    "idle", "running", "paused", "diverged", "finished", "stopped", "error")
LIVE_STATES = (RUNNING, PAUSED, DIVERGED)      # a run that still takes commands
ENDED_STATES = (FINISHED, STOPPED, ERROR)


@dataclass
class Scalars:
    """One optimizer step. Step s is the s-th update; its loss is that of the batch it used."""
    step: int
    epoch: int
    loss: float
    data_loss: float
    reg_loss: float
    train_acc: float | None
    lr: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LayerStats:
    """One Linear layer on a probe step (engine/train/probes.py says what each number means). The
    activation numbers are None for the output layer; the fraction that does not apply to the
    activation (dead for tanh/sigmoid, saturated for the ReLU family) is None too."""
    name: str
    act_mean: float | None = None
    act_std: float | None = None
    dead_frac: float | None = None
    sat_frac: float | None = None
    dead_units: float | None = None
    unit_spread: float | None = None
    hist: dict[str, list] | None = None     # {"edges": bins + 1 floats, "counts": bins ints}
    pcts: list[float] | None = None         # at thresholds.PERCENTILES
    weight_norm: float | None = None
    grad_norm: float | None = None
    update_ratio: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Record:
    """A probed or evaluated step: its scalars, the validation numbers (evaluated steps) and the
    per-layer statistics (probed steps; empty otherwise)."""
    scalars: Scalars
    layers: list[LayerStats] = field(default_factory=list)
    val_loss: float | None = None
    val_acc: float | None = None
    val_loss_avg: float | None = None   # the averaged weights' (engine/train/averaging.py), while kept
    val_acc_avg: float | None = None

    @property
    def step(self) -> int:
        return self.scalars.step

    def as_dict(self) -> dict[str, Any]:
        out = self.scalars.as_dict()
        if self.val_loss is not None:
            out["val_loss"], out["val_acc"] = self.val_loss, self.val_acc
        if self.val_loss_avg is not None:
            out["val_loss_avg"], out["val_acc_avg"] = self.val_loss_avg, self.val_acc_avg
        out["layers"] = [layer.as_dict() for layer in self.layers]
        return out


@dataclass
class Event:
    """Something that happened after step `step`: a command applied ("lr", "reinit", "optimizer",
    "bn"), one refused, a finding ("diagnosis"), "diverged" or "error". `label` marks it on a
    chart; `data` holds the kind's own fields (old/new values, a finding's message...)."""
    kind: str
    step: int
    label: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "step": self.step, "label": self.label, **self.data}


@dataclass
class StateChange:
    state: str
    error: str | None = None   # the message of a diverged or failed run


@dataclass
class Boundary:
    """The predicted class over the input plane (engine/train/boundary.py's payload) after `step`.
    `recorded`: one of the run's own, on its cadence (engine/train/boundaries.py) or for its final
    weights, kept in the run store; otherwise asked for (the window's tab), and not kept."""
    step: int
    grid: dict[str, Any]
    recorded: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {**self.grid, "step": self.step, "recorded": self.recorded}


@dataclass
class LRFind:
    """The LR range test (engine/lab/lrfind.py) in a worker of its own: kind "step" for each step
    (data: i, lr, loss smoothed), then "done" (data: the test's result) or "error" (data: message)."""
    kind: str
    data: dict[str, Any]


Message = Scalars | Record | Event | StateChange | Boundary | LRFind
