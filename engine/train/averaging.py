"""Polyak averaging: evaluate an exponential moving average of the weights (torch.optim.swa_utils).

    avg = WeightAverage(model, decay=0.99)
    ... optimizer.step(); avg.update(model)          # after every step, on the training thread
    avg.evaluate(X_val, y_val)                       # (loss, accuracy) of the averaged weights

The average is held in torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn(decay): the
first update copies the weights, each later one does avg = decay * avg + (1 - decay) * w, for the
parameters and (use_buffers) batch norm's running statistics alike. The averaged network is a
twin of the live one (engine.train.twin), so nothing the run hangs on its model is copied. When the
model's shape changes (batch norm switched on or off), the average starts over from the next
update; `restarts` counts those.

Hook it needs in the trainer: `update(model)` after each optimizer step while the knob is on, and
`evaluate(Xv, yv)` wherever the raw weights are validated, recorded as e.g. val_loss_avg/val_acc_avg.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..errors import ConfigError
from .model import MLP
from .twin import same_shape, twin


class WeightAverage:
    def __init__(self, model: MLP, decay: float = 0.99):
        if not (isinstance(decay, (int, float)) and math.isfinite(decay) and 0 < decay < 1):
            raise ConfigError(f"the averaging decay must be between 0 and 1, exclusive (got {decay!r})")
        self.decay = float(decay)
        self.restarts = 0
        self.avg = self._fresh(model)

    def _fresh(self, model: MLP) -> AveragedModel:
        return AveragedModel(twin(model), multi_avg_fn=get_ema_multi_avg_fn(self.decay), use_buffers=True)

    @property
    def updates(self) -> int:
        """How many weight sets the current average holds."""
        return int(self.avg.n_averaged)

    @torch.no_grad()
    def update(self, model: MLP) -> None:
        if not same_shape(self.avg.module, model):
            self.avg = self._fresh(model)
            self.restarts += 1
        self.avg.update_parameters(model)

    @torch.no_grad()
    def evaluate(self, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Mean cross-entropy and accuracy of the averaged weights, in eval mode (running statistics)."""
        if self.updates == 0:
            raise ConfigError("the weight average holds no weights yet: update it after a step first")
        net = self.avg.module
        net.eval()
        logits = net(X)
        return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())

    def state_dict(self) -> dict:
        """The averaged network's weights (load into a twin to use them elsewhere)."""
        return self.avg.module.state_dict()
