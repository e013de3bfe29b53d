"""Headless lecture-7 runs around a bare Trainer: batch norm at test time, weight averaging.

    batchnorm_run(RunConfig(dataset="digits", bn=True, steps=300), every=20)
    averaging_run(RunConfig(optimizer="sgd", lr=1.0, batch_size=16, steps=600), decay=0.98, every=20)
    augment_run(RunConfig(dataset="digits", preprocess="none", subset=200, steps=600), every=100)

Each drives a Trainer (engine/train/trainer.py) step by step on this thread and reads it between
steps: the batch statistics are the real training batches' (engine.lab.bnstats' hooks on the live
model, armed on the steps it reads); the weight average and the pixel shifts are the trainer's
own (its `average` and `shift`, switched on by its commands); the validation numbers are the
whole validation set's. The result is JSON-able: one list per quantity, aligned with "steps".
"""
from __future__ import annotations

from .bnstats import BatchStats, evaluate_modes, single_example_in_train_mode
from ..train.config import RunConfig
from ..errors import ConfigError
from ..train.trainer import Trainer, leave_a_core_free


def _trainer(cfg: RunConfig) -> Trainer:
    leave_a_core_free()   # small MLPs: more threads only add barriers
    t = Trainer(cfg)
    t.probing = t.evaluating = False   # the lab reads its own numbers
    return t


def _read_steps(total: int, every: int) -> set[int]:
    if every < 1:
        raise ConfigError(f"--every must be >= 1 (got {every})")
    return {1, total, *range(every, total + 1, every)}


def batchnorm_run(cfg: RunConfig, every: int = 10, test_batch: int | None = None) -> dict:
    if not cfg.bn:
        raise ConfigError("batch norm is off: add --bn")
    if test_batch is not None and test_batch < 2:
        raise ConfigError(f"a train-mode test batch needs at least 2 examples (got {test_batch})")
    s = _trainer(cfg)
    reads = _read_steps(s.total_steps, every)
    out: dict = {"dataset": cfg.dataset, "steps": [], "layers": [], "test_batch": test_batch}
    for key in ("val_loss_eval", "val_acc_eval", "val_loss_train", "val_acc_train"):
        out[key] = []
    with BatchStats(s.model) as watch:
        for step in range(1, s.total_steps + 1):
            if step in reads:
                watch.arm()
            if s.step().diverged:   # the loss blew up: what was read so far stands
                out["diverged_at"] = step
                break
            if step not in reads:
                continue
            rows = watch.read()
            if not out["layers"]:
                out["layers"] = [{"name": r["name"]} for r in rows]
            for layer, row in zip(out["layers"], rows):
                for key, value in row.items():
                    if key != "name":
                        layer.setdefault(key, []).append(value)
            modes = evaluate_modes(s.model, s.Xv, s.yv, test_batch)
            out["steps"].append(step)
            for mode in ("eval", "train"):
                out[f"val_loss_{mode}"].append(modes[mode][0])
                out[f"val_acc_{mode}"].append(modes[mode][1])
    out["single_example"] = single_example_in_train_mode(s.model, s.Xv)
    return out


def averaging_run(cfg: RunConfig, decay: float = 0.99, every: int = 10) -> dict:
    """The trainer's own weight average (Trainer.average), switched on before the first step."""
    t = _trainer(cfg)
    t.check("average", on=True, decay=decay)
    t.apply("average", on=True, decay=decay)
    reads = _read_steps(t.total_steps, every)
    out: dict = {"dataset": cfg.dataset, "decay": decay, "steps": [], "val_loss": [], "val_acc": [],
                 "val_loss_avg": [], "val_acc_avg": []}
    for step in range(1, t.total_steps + 1):
        if t.step().diverged:
            out["diverged_at"] = step
            break
        if step in reads:
            out["steps"].append(step)
            for key, value in zip(("val_loss", "val_acc", "val_loss_avg", "val_acc_avg"),
                                  (*t.evaluate(), *t.average.evaluate(t.Xv, t.yv))):
                out[key].append(value)
    return out


def augment_run(cfg: RunConfig, every: int = 10) -> dict:
    """The same run twice, without and with the trainer's pixel shifts (Trainer.shift): training
    accuracy (on the unshifted training set) and validation accuracy at each read step."""
    out: dict = {"dataset": cfg.dataset, "steps": []}
    for suffix, on in (("", False), ("_shifted", True)):
        t = _trainer(cfg)
        t.check("augment", on=on)
        t.apply("augment", on=on)
        reads = _read_steps(t.total_steps, every)
        train_acc, val_acc, steps = out.setdefault("train_acc" + suffix, []), out.setdefault("val_acc" + suffix, []), []
        for step in range(1, t.total_steps + 1):
            if t.step().diverged:
                out["diverged_at" + suffix] = step
                break
            if step in reads:
                steps.append(step)
                train_acc.append(evaluate_modes(t.model, t.X, t.y)["eval"][1])
                val_acc.append(t.evaluate()[1])
        out["steps"] = out["steps"] or steps
    return out
