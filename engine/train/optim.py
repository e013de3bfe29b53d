"""Optimizers by name and learning-rate schedules as plain functions of the step.

The schedule is a multiplier on the base learning rate, recomputed every step, so a user who
moves the LR slider mid-run changes the base and the schedule keeps its shape around it.

The update rules are PyTorch's (torch.optim), with these conventions next to the CS231n notes':
    momentum   v = mu*v + dW;  W -= lr*v      (the notes: v = mu*v - lr*dW; W += v). One step is the
               same; when the learning rate changes, PyTorch's form applies the new rate to the
               whole velocity at once, the notes' form only to new gradients.
    nesterov   PyTorch's rewriting of the look-ahead gradient, the notes' form with the same caveat.
    adam       bias-corrected moments, eps added to sqrt(v_hat).
    weight_decay  the optimizer's own decay of every parameter (biases and batch-norm scale and
               shift included; decoupled for adamw), not part of the reported loss; the `l2`
               setting instead adds 0.5*l2*sum(W^2) of the Linear weights to the objective.
"""
from __future__ import annotations

import math
from typing import Iterable

import torch


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], *, lr: float, momentum: float = 0.9,
                   beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, rho: float = 0.99,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=eps, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=rho, eps=eps, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def lr_factor(schedule: str, step: int, *, total_steps: int, step_size: int = 1000, gamma: float = 0.5,
              warmup_steps: int = 200, min_ratio: float = 0.0) -> float:
    """Multiplier on the base LR at `step` (0-based).

    constant     1
    step         gamma ** (step // step_size)
    exponential  gamma ** (step / step_size)   (smooth: reaches gamma after step_size steps)
    cosine       min_ratio + (1 - min_ratio) * (1 + cos(pi * step / total_steps)) / 2
    warmup       linear from 1/warmup_steps to 1 over warmup_steps, then 1
    """
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** (step // step_size)
    if schedule == "exponential":
        return gamma ** (step / step_size)
    if schedule == "cosine":
        t = min(step, total_steps) / max(total_steps, 1)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "warmup":
        return min(1.0, (step + 1) / warmup_steps)
    raise ValueError(f"unknown schedule {schedule!r}")
