"""Learning-rate range test (Smith 2015, fastai's lr_find): find a learning rate by sweeping it.

    from engine.lab.lrfind import lr_range_test
    res = lr_range_test(RunConfig(optimizer="sgd"))
    res["suggested_lr"], res["stopped_early"]     # e.g. 0.3, True

Starting from the run's initial weights (or a given model state), take `steps` optimizer steps
while the learning rate rises exponentially from `start` to `end`, one LR per step. The loss is
smoothed with a bias-corrected running average (weight `smooth` on each new minibatch loss), and
the sweep stops once the smoothed loss passes `diverge_factor` x its best value, and its best
plus a tenth of ln(classes), or becomes NaN (a trained net's tiny loss passes 4x by noise alone).

The suggestion: the largest LR at which the smoothed loss is still within CLIMB (20%) of its
minimum, or within a tenth of ln(classes) of it where that is more, i.e. the point where it
starts to climb toward the blow-up, divided by 10 (one decade below the edge, the usual rule of
thumb). Also returned, for drawing: the LR of the minimum and of
the steepest fall before it.

Why "climb / 10" and not fastai's "minimum / 10" or the steepest point: on the spiral it lands
within a decade of the LR a grid of real runs finds best, where those two land up to 1.7 decades
too low for SGD (tests/engine/test_lrfind.py checks SGD and Adam against such a grid).

The weights are never left changed: the sweep runs on its own trainer and model; a given
`model_state` (a state_dict, or a live nn.Module whose state_dict is copied) is only read.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..train.config import RunConfig
from ..train.data import Dataset
from ..errors import ConfigError
from ..train.trainer import Trainer

CLIMB = 0.2   # "starts to climb": the smoothed loss 20% above its minimum
# ... and at least this fraction of ln(classes) above it: a trained net's loss is tiny, and its
# minibatch noise alone (0.004 -> 0.015) would pass 20%, or the blow-up factor, at the lowest rates
ABS_MARGIN = 0.1


def lr_range_test(cfg: RunConfig, dataset: Dataset | None = None, start: float = 1e-7, end: float = 10.0,
                  steps: int = 100, smooth: float = 0.05, diverge_factor: float = 4.0,
                  model_state: dict | torch.nn.Module | None = None,
                  progress: Callable[[int, float, float], bool | None] | None = None) -> dict:
    """Sweep the LR from `start` to `end` over `steps` steps. `progress(i, lr, smoothed_loss)` is
    called after each step; it may return True to cancel (the result so far is returned).

    Returns {"lrs", "losses" (smoothed), "raw_losses", "suggested_lr", "stopped_early",
    "cancelled", "min_lr", "climb_lr", "steepest_lr"}."""
    if not (0 < start < end) or not math.isfinite(end):
        raise ConfigError(f"the LR range must satisfy 0 < start < end (got {start:g} .. {end:g})")
    if not isinstance(steps, int) or steps < 5:
        raise ConfigError(f"the LR range test needs at least 5 steps (got {steps!r})")
    if not 0 < smooth <= 1:
        raise ConfigError(f"smooth must be in (0, 1] (got {smooth:g})")
    # a trainer alone (no recorder, so no diagnostics: the loss must blow up), no probes, no
    # evaluation, no schedule: only the optimizer steps matter here
    trainer = Trainer(cfg.copy(schedule="constant", lr=start, steps=steps, epochs=None), dataset)
    trainer.probing = trainer.evaluating = False
    if model_state is not None:
        # (load_state_dict copies the values in: the caller's tensors are never touched)
        state = model_state.state_dict() if isinstance(model_state, torch.nn.Module) else model_state
        if any(k.startswith("bns.") for k in state) != trainer.model.bn:
            trainer.model.set_bn(not trainer.model.bn)
            trainer.optimizer = trainer.make_optimizer()
        try:
            trainer.model.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(f"the model state does not fit this configuration: {str(exc).splitlines()[0]}") from None

    ln_c = math.log(max(2, trainer.data.n_classes))
    blowup_margin = ABS_MARGIN * ln_c  # a blow-up is a loss grown by a tenth of ln C at least
    factor = (end / start) ** (1.0 / (steps - 1))
    lrs: list[float] = []
    raw: list[float] = []
    smoothed: list[float] = []
    avg, best = 0.0, math.inf
    stopped_early = cancelled = False
    for i in range(steps):
        lr = start * factor ** i
        trainer.cfg.lr = lr  # our own trainer, our own thread: set directly between steps
        result = trainer.step()
        if result.diverged:   # NaN/inf loss
            stopped_early = True
            break
        loss = result.scalars.loss
        avg = (1 - smooth) * avg + smooth * loss
        s = avg / (1 - (1 - smooth) ** (i + 1))   # bias correction: the average starts at 0
        lrs.append(lr)
        raw.append(loss)
        smoothed.append(s)
        best = min(best, s)
        if progress is not None and progress(i, lr, s):
            cancelled = True
            break
        if i > 0 and s > max(diverge_factor * best, best + blowup_margin):
            stopped_early = True
            break
    suggestion = suggest_lr(lrs, smoothed, margin=ABS_MARGIN * ln_c)
    return {"lrs": lrs, "losses": smoothed, "raw_losses": raw, "stopped_early": stopped_early,
            "cancelled": cancelled, **suggestion}


def suggest_lr(lrs: list[float], losses: list[float], margin: float = 0.0) -> dict:
    """{"suggested_lr", "steepest_lr", "min_lr", "climb_lr"} from a smoothed loss-vs-LR curve (see
    the module doc); None values when the curve is too short to say anything. The climb starts
    where the loss is CLIMB above its minimum and at least `margin` above it."""
    n = len(lrs)
    if n < 3:
        return {"suggested_lr": None, "steepest_lr": None, "min_lr": None, "climb_lr": None}
    x = np.log10(np.asarray(lrs, dtype=np.float64))
    y = np.asarray(losses, dtype=np.float64)
    i_min = int(np.argmin(y))
    # where the loss starts to climb: the last point after the minimum still within CLIMB of it
    i_climb = i_min
    while i_climb + 1 < n and y[i_climb + 1] <= max((1 + CLIMB) * y[i_min], y[i_min] + margin):
        i_climb += 1
    # steepest fall: slope over +-3 points (neighbour differences are all noise), skipping the first
    # 10% where the running average is still settling
    skip, half = max(1, n // 10), 3
    slopes = [(y[min(n - 1, i + half)] - y[max(0, i - half)]) / (x[min(n - 1, i + half)] - x[max(0, i - half)])
              for i in range(skip, i_min + 1)]
    steepest = float(lrs[skip + int(np.argmin(slopes))]) if slopes else float(lrs[0])
    # never below the lowest rate tried: a loss that climbs from the start means the range began too
    # high (the lowest rate is the best guess); one that stays flat and then climbs (a trained net
    # at its minimum from the first rate) is judged by its climb like any other
    suggested = max(float(lrs[i_climb]) / 10.0, float(lrs[0]))
    return {"suggested_lr": suggested, "steepest_lr": steepest, "min_lr": float(lrs[i_min]),
            "climb_lr": float(lrs[i_climb])}
