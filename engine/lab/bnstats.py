"""Batch norm at test time: the batch's statistics against the running ones, and train- vs eval-mode.

    watch = BatchStats(model)            # a context manager; forward pre-hooks on each BatchNorm1d
    watch.arm()                          # before a probe step's forward pass
    ... loss = model(xb) ...
    watch.read()                         # one dict per batch-norm layer (see below), or [] when not armed
    watch.close()

    evaluate_modes(model, Xv, yv)        # {"eval": (loss, acc), "train": (loss, acc), "batch_size": n}
    single_example_in_train_mode(model, Xv[:1])   # what one test example meets without running stats
    read_test_time(model, xb, Xv, yv)    # both, from a copy of a live model (a viewer's way in)

Per layer, read() gives the statistics of the batch the layer normalised with (mean over
examples, biased variance: what training mode divides by) and the running ones it will use at
test time, each summarised across units as the mean, plus unit 0's values for a line to follow:
    name, batch_mean, batch_var, running_mean, running_var   (averages across units)
    unit0_batch_mean, unit0_running_mean, unit0_batch_var, unit0_running_var
    mean_gap   mean over units of |batch mean - running mean| / sqrt(running var + eps)
    var_ratio  mean over units of batch var / running var
The running statistics are read before the layer updates them with this batch: the values the
layer would have used had it been in eval mode for this very batch.

Hook it needs in the trainer: `arm()` before the forward pass of the steps it probes and `read()`
after; `evaluate_modes` wherever validation runs (recorded as val_acc_train_mode beside val_acc).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..train.model import MLP


class BatchStats:
    def __init__(self, model: MLP):
        self.model = model
        self._armed = False
        self._rows: list[dict] = []
        self._hooks: list = []
        self.attach()

    def attach(self) -> None:
        """(Re)attach to the model's batch-norm layers (call again after batch norm is switched on)."""
        self.close()
        bns = self.model.bns if self.model.bns is not None else []
        for i, bn in enumerate(bns):
            self._hooks.append(bn.register_forward_pre_hook(self._hook(f"hidden{i + 1}")))

    def _hook(self, name: str):
        def hook(bn: nn.BatchNorm1d, args) -> None:
            if not (self._armed and bn.training):
                return
            with torch.no_grad():
                x = args[0].detach()
                mean, var = x.mean(0), x.var(0, unbiased=False)
                run_mean, run_var = bn.running_mean.clone(), bn.running_var.clone()
                gap = ((mean - run_mean).abs() / torch.sqrt(run_var + bn.eps)).mean()
                ratio = (var / run_var.clamp_min(1e-12)).mean()
                values = torch.stack([mean.mean(), var.mean(), run_mean.mean(), run_var.mean(), mean[0], run_mean[0],
                                      var[0], run_var[0], gap, ratio]).tolist()   # one host sync per layer
            keys = ("batch_mean", "batch_var", "running_mean", "running_var", "unit0_batch_mean",
                    "unit0_running_mean", "unit0_batch_var", "unit0_running_var", "mean_gap", "var_ratio")
            self._rows.append({"name": name, **dict(zip(keys, values))})
        return hook

    def arm(self) -> None:
        self._armed = True
        self._rows = []

    def read(self) -> list[dict]:
        """The armed forward pass's rows (one per batch-norm layer); disarms."""
        self._armed = False
        rows, self._rows = self._rows, []
        return rows

    def close(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def __enter__(self) -> "BatchStats":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@torch.no_grad()
def evaluate_modes(model: MLP, X: torch.Tensor, y: torch.Tensor, batch_size: int | None = None) -> dict:
    """Validation loss and accuracy in eval mode (running statistics) and in train mode (each batch
    of `batch_size` validation examples normalised by its own statistics; default: all at once;
    a leftover single example joins the batch before it).
    Dropout stays off in both; the running statistics are left exactly as they were."""
    batch_size = len(y) if batch_size is None else int(batch_size)
    was_training = model.training
    saved = {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches" in k}
    try:
        model.eval()
        logits = model(X)
        result = {"eval": _loss_acc(logits, y), "batch_size": batch_size}
        if model.bn:
            for bn in model.bns:
                bn.train()
            starts = list(range(0, len(y), batch_size))
            if len(starts) > 1 and len(y) - starts[-1] == 1:
                starts.pop()   # a last batch of one has no statistics of its own: it joins the one before
            ends = starts[1:] + [len(y)]
            logits = torch.cat([model(X[a:b]) for a, b in zip(starts, ends)])
            result["train"] = _loss_acc(logits, y)
        else:
            result["train"] = result["eval"]   # without batch norm the two modes agree (dropout off)
    finally:
        model.load_state_dict(saved, strict=False)
        model.train(was_training)
    return result


def _loss_acc(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


@torch.no_grad()
def single_example_in_train_mode(model: MLP, x: torch.Tensor) -> str:
    """What batch norm in train mode does with one test example: torch's own words."""
    if not model.bn:
        return "no batch norm: one example is normalised like any other"
    was_training = model.training
    model.eval()
    for bn in model.bns:
        bn.train()
    try:
        model(x[:1])
        return "normalised by its own statistics"   # not reached for BatchNorm1d with one example
    except ValueError as exc:
        return str(exc)
    finally:
        model.train(was_training)


@torch.no_grad()
def read_test_time(model: MLP, X_batch: torch.Tensor, X_val: torch.Tensor, y_val: torch.Tensor,
                       test_batch: int | None = None) -> dict:
    """Both halves of the picture from a copy of a live model (engine.train.twin), so a viewer can read
    them between the trainer's steps without touching the run: {"layers": BatchStats rows for one
    training batch, "modes": evaluate_modes(...), "single": single_example_in_train_mode(...) on the
    first validation example}. Empty rows without batch norm."""
    from ..train.twin import twin
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    copy = twin(model).cpu()
    copy.load_state_dict(state)
    modes = evaluate_modes(copy, X_val, y_val, test_batch)
    single = single_example_in_train_mode(copy, X_val[:1])
    with BatchStats(copy) as watch:
        watch.arm()
        copy.train()(X_batch)
        rows = watch.read()
    return {"layers": rows, "modes": modes, "single": single}
