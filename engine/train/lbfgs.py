"""L-BFGS for a main run: torch.optim.LBFGS stepped with a closure over the whole training set.

    problem = full_batch_problem(cfg.batch_size, n_train, cfg.dropout)   # None, or why it cannot run
    opt = make_lbfgs(model.parameters(), lr=1.0)
    loss = lbfgs_step(opt, lambda: F.cross_entropy(model(X), y))          # one iteration

One step is one L-BFGS iteration (max_iter=1): a direction from the curvature pairs it keeps
(history_size of them, carried over between steps) and a strong-Wolfe line search, which calls the
closure a few times. That search assumes the same objective at every call, hence the whole
training set as the batch and no dropout. With batch norm, each call in train mode also moves the
running statistics. The value returned is the loss before the step, as torch's step returns it.

Hook it needs in the trainer: for optimizer "lbfgs", build it with make_lbfgs and replace
"backward; optimizer.step()" by `lbfgs_step(opt, closure_loss)`, where closure_loss computes the
step's objective (data loss + L2 term) on the full batch; the setup refuses it with the words of
full_batch_problem, or sets batch_size to the training set's size.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

MAX_EVAL = 25   # calls per step; torch's default (5/4 of max_iter) leaves a one-iteration search no room


def make_lbfgs(params: Iterable[torch.Tensor], lr: float = 1.0, history_size: int = 10) -> torch.optim.LBFGS:
    return torch.optim.LBFGS(params, lr=lr, max_iter=1, max_eval=MAX_EVAL, history_size=history_size,
                             line_search_fn="strong_wolfe")


def lbfgs_step(opt: torch.optim.LBFGS, objective: Callable[[], torch.Tensor]) -> float:
    """One L-BFGS iteration; `objective()` returns the loss of the current weights (a graph)."""
    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss
    return float(opt.step(closure).detach())


def full_batch_problem(batch_size: int, n_train: int, dropout: float = 0.0) -> str | None:
    """Why L-BFGS cannot run with these settings, in words, or None."""
    if batch_size < n_train:
        return (f"L-BFGS needs the whole training set as one batch: batch size {n_train} "
                f"(it is {batch_size}); its line search compares losses of the same batch")
    if dropout > 0:
        return "L-BFGS needs a deterministic loss: set dropout to 0"
    return None
