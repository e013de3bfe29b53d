"""Optimizers on 2-D loss surfaces (lecture 7's pictures), raced with the real torch.optim code.

    from engine.lab.surfaces import make_surface, race
    s = make_surface("taco", condition=100)
    result = race(s, ["sgd", "momentum", "adam"], lrs={"sgd": 1.9}, steps=100)
    result["runs"][0]["path"]      # [[x, y], ...]: the start, then the point after each step
    result["runs"][0]["loss"]      # the surface's loss at each of those points

Each surface is one torch function of a (..., 2) tensor, so the same code gives the loss that
autograd differentiates for a step and the grid the contour plot is drawn from. Every surface's
global minimum is 0 (the plots use log-spaced loss levels):

    taco           0.5 * (x^2 / condition + y^2): steep across (y), shallow along (x); the
                   condition number is the ratio of the two curvatures
    saddle         x^2 + (y^2 - 1)^2 / 4: a saddle point at the origin between minima at y = +-1;
                   the line y = 0 is its ridge
    local_minimum  ((x+1)^2 + y^2) * ((x-1)^2 + y^2 + 0.2) / 4: the global minimum at (-1, 0), a
                   local one near (0.89, 0) with loss 0.19 behind a low pass
    rosenbrock     (1 - x)^2 + 100 (y - x^2)^2: the curved valley, minimum at (1, 1)

Gradient noise (`noise` S > 0), as a minibatch gives: each step adds S * xi . p to the objective,
xi ~ N(0, I) drawn from a generator seeded alike for every optimizer, so the gradient is the true
one plus N(0, S^2) per coordinate and every racer sees the same noise. The reported loss is the
surface's own, without the noise term.

Optimizers: engine.train.optim's (momentum 0.9, RMSProp's decay 0.9 as in the lecture, AdamW's weight
decay 0.01) and engine.train.lbfgs's torch.optim.LBFGS with a closure, one iteration per step
(strong-Wolfe line search; its history carries over between steps). A run whose loss or point stops being finite
ends there; its "diverged_at" says at which step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..train.config import OPTIMIZERS
from ..errors import ConfigError
from ..train.lbfgs import make_lbfgs
from ..train.optim import make_optimizer
from .surface_names import DEFAULT_CONDITION, SURFACES

MOMENTUM = 0.9
RMSPROP_DECAY = 0.9      # the lecture's decay_rate (torch's default is 0.99)
ADAMW_DECAY = 0.01
MAX_STEPS = 100_000


@dataclass(frozen=True)
class Surface:
    name: str
    title: str
    fn: Callable[[torch.Tensor], torch.Tensor]   # (..., 2) -> (...)
    start: tuple[float, float]                   # the default start
    bounds: tuple[float, float, float, float]    # xmin, xmax, ymin, ymax of the picture
    lrs: dict[str, float] = field(default_factory=dict)   # a learning rate per optimizer that shows it well
    minima: tuple[tuple[float, float], ...] = ()         # where the loss is 0
    params: dict[str, float] = field(default_factory=dict)

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return self.fn(p)

    def grid(self, n: int = 160) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """xs (n,), ys (n,), Z (n, n) with Z[i, j] the loss at (xs[j], ys[i]): the contour plot's data."""
        x0, x1, y0, y1 = self.bounds
        xs = torch.linspace(x0, x1, n, dtype=torch.float64)
        ys = torch.linspace(y0, y1, n, dtype=torch.float64)
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        with torch.no_grad():
            z = self.fn(torch.stack([xx, yy], dim=-1))
        return xs.numpy(), ys.numpy(), z.numpy()


def _taco(condition: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda p: 0.5 * (p[..., 0] ** 2 / condition + p[..., 1] ** 2)


def _saddle(p: torch.Tensor) -> torch.Tensor:
    return p[..., 0] ** 2 + (p[..., 1] ** 2 - 1) ** 2 / 4


def _local_minimum(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return ((x + 1) ** 2 + y ** 2) * ((x - 1) ** 2 + y ** 2 + 0.2) / 4


def _rosenbrock(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2




def make_surface(name: str, condition: float = DEFAULT_CONDITION) -> Surface:
    """A surface by name; `condition` (>= 1) shapes the taco shell only."""
    if name == "taco":
        if not (math.isfinite(condition) and condition >= 1):
            raise ConfigError(f"the condition number must be a finite number >= 1 (got {condition:g})")
        half = math.sqrt(condition) * 1.1   # the start's contour fits across the picture
        return Surface("taco", f"taco shell (condition number {condition:g})", _taco(condition),
                       (-0.9 * half, 1.2), (-half, half, -3.0, 3.0),
                       {"sgd": 1.9, "momentum": 1.0, "nesterov": 1.0, "adagrad": 1.0, "rmsprop": 0.1,
                        "adam": 0.3, "adamw": 0.3, "lbfgs": 1.0}, ((0.0, 0.0),), {"condition": condition})
    if name == "saddle":
        return Surface("saddle", "saddle point", _saddle, (-1.5, 0.001), (-2.0, 2.0, -1.6, 1.6),
                       {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.5, "rmsprop": 0.05,
                        "adam": 0.05, "adamw": 0.05, "lbfgs": 1.0}, ((0.0, -1.0), (0.0, 1.0)))
    if name == "local_minimum":
        return Surface("local_minimum", "local minimum beside the global one", _local_minimum, (2.2, 0.8),
                       (-2.0, 2.5, -1.5, 1.5),
                       {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.5, "rmsprop": 0.02,
                        "adam": 0.1, "adamw": 0.1, "lbfgs": 1.0}, ((-1.0, 0.0),))
    if name == "rosenbrock":
        return Surface("rosenbrock", "Rosenbrock's valley", _rosenbrock, (-1.2, 1.0), (-2.0, 2.0, -1.0, 3.0),
                       {"sgd": 1e-3, "momentum": 2e-4, "nesterov": 2e-4, "adagrad": 0.5, "rmsprop": 0.01,
                        "adam": 0.05, "adamw": 0.05, "lbfgs": 1.0}, ((1.0, 1.0),))
    raise ConfigError(f"unknown surface {name!r} (one of {', '.join(SURFACES)})")


def _optimizer(name: str, p: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    if name == "lbfgs":
        return make_lbfgs([p], lr=lr)
    return make_optimizer(name, [p], lr=lr, momentum=MOMENTUM, rho=RMSPROP_DECAY,
                          weight_decay=ADAMW_DECAY if name == "adamw" else 0.0)


def check_race(surface: Surface, optimizers: list[str], lrs: dict[str, float], steps: int, noise: float) -> None:
    """A ConfigError naming the first bad argument, in words."""
    if not optimizers:
        raise ConfigError("name at least one optimizer")
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {name!r} (one of {', '.join(OPTIMIZERS)})")
    if len(set(optimizers)) != len(optimizers):
        raise ConfigError("each optimizer races once")
    for name, lr in lrs.items():
        if name not in optimizers:
            raise ConfigError(f"a learning rate is given for {name}, which is not racing")
        if not (math.isfinite(lr) and lr > 0):
            raise ConfigError(f"the learning rate of {name} must be > 0 (got {lr:g})")
    if not (isinstance(steps, int) and 1 <= steps <= MAX_STEPS):
        raise ConfigError(f"steps must be between 1 and {MAX_STEPS} (got {steps})")
    if not (math.isfinite(noise) and noise >= 0):
        raise ConfigError(f"the gradient noise must be >= 0 (got {noise:g})")


def run_one(surface: Surface, name: str, lr: float, start: tuple[float, float], steps: int,
            noise: float = 0.0, seed: int = 0) -> dict:
    """One optimizer from `start`: {"optimizer", "lr", "path" (steps+1 points), "loss", "diverged_at"}."""
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = _optimizer(name, p, lr)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        path, losses = [list(map(float, start))], [float(surface(p))]
    diverged_at = None
    for step in range(1, steps + 1):
        xi = noise * torch.randn(2, generator=gen, dtype=torch.float64) if noise > 0 else None

        def closure() -> torch.Tensor:
            opt.zero_grad()
            objective = surface(p) if xi is None else surface(p) + (xi * p).sum()
            objective.backward()
            return objective
        opt.step(closure)
        with torch.no_grad():
            loss = float(surface(p))
            point = [float(v) for v in p]
        if not (math.isfinite(loss) and all(map(math.isfinite, point))):
            diverged_at = step
            break
        path.append(point)
        losses.append(loss)
    return {"optimizer": name, "lr": lr, "path": path, "loss": losses, "diverged_at": diverged_at}


def race(surface: Surface, optimizers: list[str], lrs: dict[str, float] | None = None,
         start: tuple[float, float] | None = None, steps: int = 100, noise: float = 0.0, seed: int = 0) -> dict:
    """Every optimizer from the same start, each with its own learning rate (the surface's choice
    where `lrs` names none). {"surface", "params", "start", "noise", "steps", "runs": [run_one(...)]}"""
    lrs = dict(lrs or {})
    check_race(surface, optimizers, lrs, steps, noise)
    start = surface.start if start is None else (float(start[0]), float(start[1]))
    if not all(map(math.isfinite, start)):
        raise ConfigError("the start must be a finite point")
    runs = [run_one(surface, name, lrs.get(name, surface.lrs[name]), start, steps, noise, seed) for name in optimizers]
    return {"surface": surface.name, "params": dict(surface.params), "start": list(start), "noise": noise,
            "steps": steps, "runs": runs}


def parse_lrs(text: str) -> dict[str, float]:
    """'sgd=0.1,adam=0.05' -> {'sgd': 0.1, 'adam': 0.05}."""
    out: dict[str, float] = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        name, eq, value = part.partition("=")
        try:
            if not eq:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"learning rates are name=value pairs, e.g. sgd=0.1,adam=0.05 (got {part!r})") from None
    return out


def parse_point(text: str) -> tuple[float, float]:
    """'X,Y' -> (X, Y)."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"a point is X,Y, e.g. -1.5,0.5 (got {text!r})") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ConfigError(f"a point must be finite (got {text!r})")
    return x, y
