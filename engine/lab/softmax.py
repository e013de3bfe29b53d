"""Softmax up close (the deeplearning.ai notes): logits -> t = e^z -> a = t / sum(t) -> loss -log a_y.

    softmax_steps([5, 2, -1, 3], label=0)
    # {"z": [...], "t": [148.4, 7.39, 0.368, 20.1], "sum_t": 176.3, "a": [0.842, 0.042, 0.002, 0.114],
    #  "hard_max": [1, 0, 0, 0], "predicted": 0, "label": 0, "loss": 0.172}

    reader = ExampleReader(dataset)
    reader.read(session.model, index=7)   # one validation example through a copy of the live model

`a` is the stable softmax (max z subtracted first, so large logits do not overflow); `t` and `sum_t`
are the notes' e^z as written, which may be inf for logits above ~709 (then only `a` is
meaningful). The loss is -log a_y through the same shift (log-sum-exp), as cross-entropy computes it.
The worked example is numpy only: the window shows it without loading torch. ExampleReader
imports torch when it reads (it runs in the run's worker process, engine/runs/worker.py).

ExampleReader never touches the model it reads: it copies the weights (state_dict clones, a few
microseconds for the lab's nets) into a private twin and runs that in eval mode, as at test time
(batch norm with its running statistics, dropout off). Read while another thread trains, a copy
may mix weights from before and after one step; the next read is whole again.
"""
from __future__ import annotations

import math

from typing import TYPE_CHECKING

import numpy as np

from ..train.data import Dataset
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..train.model import MLP


def softmax_steps(logits, label: int | None = None) -> dict:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 1 or z.size < 1:
        raise ConfigError("softmax needs a vector of at least one logit")
    if not np.isfinite(z).all():
        raise ConfigError("the logits must be finite numbers")
    if label is not None and not 0 <= label < z.size:
        raise ConfigError(f"the label must be a class index from 0 to {z.size - 1} (got {label})")
    with np.errstate(over="ignore"):   # e^z as the notes write it may overflow: `a` never does
        t = np.exp(z)
    shifted = np.exp(z - z.max())
    a = shifted / shifted.sum()
    predicted = int(np.argmax(z))
    hard = np.zeros_like(a)
    hard[predicted] = 1.0
    # -log a_y = log sum e^(z - max) - (z_y - max): finite even where a_y underflows to 0
    loss = float(np.log(shifted.sum()) - (z[label] - z.max())) if label is not None else None
    return {"z": z.tolist(), "t": t.tolist(), "sum_t": float(t.sum()), "a": a.tolist(),
            "hard_max": hard.tolist(), "predicted": predicted, "label": None if label is None else int(label),
            "loss": loss}


def format_softmax(result: dict) -> str:
    """The notes' table: one row per class."""
    lines = [f"{'class':>5} {'z':>10} {'t = e^z':>12} {'a = t/sum t':>12} {'hard max':>9}"]
    for i, (z, t, a, h) in enumerate(zip(result["z"], result["t"], result["a"], result["hard_max"])):
        lines.append(f"{i:>5} {z:>10.4g} {t:>12.4g} {a:>12.4f} {int(h):>9}")
    lines.append(f"sum t = {result['sum_t']:.4g}" + ("" if math.isfinite(result["sum_t"]) else
                                                   "  (e^z overflows: a is computed as softmax(z - max z))"))
    if result["label"] is not None:
        lines.append(f"label {result['label']}: loss -log a_y = {result['loss']:.4f}")
    return "\n".join(lines)


def raw_example(data: Dataset, index: int) -> np.ndarray:
    """Validation example `index` in the data's own units (preprocessing undone): a digit's 64 pixels."""
    x = np.asarray(data.X_val[index], dtype=np.float64)
    if data.std is not None:
        x = x * data.std
    if data.mean is not None:
        x = x + data.mean
    return x


class ExampleReader:
    """One validation example's softmax through a private copy of a live model (see the module doc)."""

    def __init__(self, data: Dataset):
        self.data = data
        self._twin: MLP | None = None

    def _twin_for(self, model: MLP, state: dict) -> MLP:
        from ..train.twin import twin
        if (self._twin is None or set(self._twin.state_dict()) != set(state)
                or self._twin.activation_name != model.activation_name):
            self._twin = twin(model).cpu()
        return self._twin

    def read(self, model: MLP, index: int) -> dict:
        import torch
        if not 0 <= index < self.data.n_val:
            raise ConfigError(f"pick a validation example from 0 to {self.data.n_val - 1} (got {index})")
        with torch.no_grad():
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            twin = self._twin_for(model, state)
            twin.load_state_dict(state)
            twin.eval()
            logits = twin(torch.as_tensor(self.data.X_val[index:index + 1], dtype=torch.float32))[0]
        if not bool(torch.isfinite(logits).all()):
            raise ConfigError("the model's logits are not finite (has the run diverged?)")
        result = softmax_steps(logits.double().tolist(), label=int(self.data.y_val[index]))
        result["index"] = index
        return result
