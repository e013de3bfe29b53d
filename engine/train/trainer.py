"""The trainer: data, model, optimizer and one training step that reads top to bottom.

    trainer = Trainer(cfg)            # builds data, model, optimizer; nothing runs yet
    result = trainer.step()           # one optimizer step -> Step (scalars, probed?, validation)
    trainer.check("lr", value=1e-2)   # a command, refused in words in the caller's thread ...
    event = trainer.apply("lr", value=1e-2)   # ... and applied between steps -> an Event

Commands (lr, reinit, optimizer, bn, boundary) are applied between steps, never inside one;
whoever runs the steps decides when (engine/runs/runner.py). Every random draw of a run has its own
generator (init, batches, dropout), so another thread using torch's global RNG cannot change
this run's numbers: the same seed and the same commands at the same steps give the same numbers.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from .config import INITS, MAX_STEPS, OPTIMIZERS, STD_INITS, RunConfig, format_lr
from .data import Dataset, build_dataset
from ..errors import ConfigError
from .augment import PixelShift
from .averaging import WeightAverage
from .lbfgs import full_batch_problem, lbfgs_step, make_lbfgs
from ..messages import Boundary, Event, Scalars
from .model import MLP, SeededDropout, weight_penalty
from .optim import lr_factor, make_optimizer
from .probes import Probe, Snapshot

EVAL_CHUNK = 8192  # validation examples per forward pass


def leave_a_core_free() -> int:
    """Cap torch's intra-op threads at (cores - 1): for these small MLPs extra threads only add
    barriers, and the window needs the free core for drawing. Process-wide; returns the count."""
    want = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() > want:
        torch.set_num_threads(want)
    return torch.get_num_threads()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is available (use --device cpu)")
    return torch.device(name)


@dataclass
class Step:
    """What one step produced. `diverged`: the loss was not finite, and no update was made."""
    scalars: Scalars
    snapshot: Snapshot | None = None          # a probe step's, for Probe.finish
    val: tuple[float, float] | None = None    # (loss, accuracy) on the validation split
    diverged: bool = False
    val_avg: tuple[float, float] | None = None   # ... of the averaged weights, while they are kept


class Trainer:
    def __init__(self, cfg: RunConfig, dataset: Dataset | None = None):
        self.cfg = cfg = replace(cfg).validate()
        self.device = resolve_device(cfg.device)
        self.data = dataset if dataset is not None else build_dataset(cfg)
        self.g_init = torch.Generator().manual_seed(cfg.seed)
        self.g_data = torch.Generator().manual_seed(cfg.seed + 1)
        self.model = MLP(self.data.n_features, self.data.n_classes, cfg.depth, cfg.width, cfg.activation,
                         bn=cfg.bn, dropout=cfg.dropout)
        self.model.reinit(cfg.init, cfg.init_std, self.g_init)
        self.model.to(self.device).train()
        if isinstance(self.model.drop, SeededDropout):
            self.model.drop.generator = torch.Generator(device=self.device).manual_seed(cfg.seed + 2)
        self.X = torch.as_tensor(self.data.X_train, device=self.device)
        self.y = torch.as_tensor(self.data.y_train, device=self.device)
        self.Xv = torch.as_tensor(self.data.X_val, device=self.device)
        self.yv = torch.as_tensor(self.data.y_val, device=self.device)
        self.n_train = len(self.y)
        self.batch_size = min(cfg.batch_size, self.n_train)
        if cfg.bn and self.batch_size < 2:  # the config cannot know what the validation split leaves
            raise ConfigError(f"batch norm needs at least 2 training examples; the validation split leaves "
                              f"{self.n_train} (lower val_fraction or use more samples)")
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self.total_steps = math.ceil(cfg.epochs * self.steps_per_epoch) if cfg.epochs else cfg.steps
        if self.total_steps > MAX_STEPS:  # epochs times the epoch's batches: known only with the data
            raise ConfigError(f"{cfg.epochs:g} epochs of {self.steps_per_epoch} batches are {self.total_steps:,} steps, "
                              f"more than the {MAX_STEPS:,} a run may take")
        if cfg.optimizer == "lbfgs" and full_batch_problem(self.batch_size, self.n_train, cfg.dropout):
            raise ConfigError(full_batch_problem(self.batch_size, self.n_train, cfg.dropout))
        self.optimizer = self.make_optimizer()
        self.probe = Probe(self.model, cfg.hist_bins)
        self.step_count = 0          # optimizer steps taken
        self.last_finite_loss: float | None = None
        # switched off by a caller that only wants the optimizer steps (the LR range test)
        self.probing = True
        self.evaluating = True
        self._perm: torch.Tensor | None = None
        self._pos = 0
        # lecture 7's optional parts (config average_decay and augment; commands switch them live)
        self.average: WeightAverage | None = None   # Polyak average of the weights, validated beside them
        self.shift: PixelShift | None = None        # a random one-pixel shift of every training image
        if cfg.average_decay is not None:
            self._apply_average(True, cfg.average_decay)
        if cfg.augment:
            self._apply_augment(True)

    # ================================================================== one step
    def step(self) -> Step:
        """One optimizer step on the next batch."""
        c, step = self.cfg, self.step_count + 1
        probe_now = self.probing and (step == 1 or step % c.probe_every == 0)
        eval_now = self.evaluating and (step == 1 or step % c.eval_every == 0 or step == self.total_steps)
        lr = self.current_lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr

        xb, yb = self.next_batch()
        if self.shift is not None:
            xb = self.shift(xb)
        with self.probe.watching(probe_now):  # the hidden layers' outputs of a probe step only
            logits = self.model(xb)
        data_loss = F.cross_entropy(logits, yb)
        # without L2 the loss is the data loss: no zero penalty added to the graph on every step
        reg_loss = 0.5 * c.l2 * weight_penalty(self.model) if c.l2 > 0 else None
        loss = data_loss if reg_loss is None else data_loss + reg_loss
        right = (logits.argmax(1) == yb).sum().to(loss.dtype)
        # one host sync per step (the divergence check needs the loss), of detached values: no graph
        parts = [loss, right] if reg_loss is None else [loss, right, data_loss, reg_loss]
        loss_v, right_v, *split = torch.stack([t.detach() for t in parts]).tolist()
        data_v, reg_v = split or (loss_v, 0.0)
        scalars = Scalars(step=step, epoch=(step - 1) // self.steps_per_epoch, loss=loss_v, data_loss=data_v,
                          reg_loss=reg_v, train_acc=right_v / len(yb), lr=lr)
        if not math.isfinite(loss_v):
            return Step(scalars, diverged=True)

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if probe_now:
            self.probe.before_step()   # weight copies: the update ratio spans the real optimizer step
        if isinstance(self.optimizer, torch.optim.LBFGS):
            # its line search evaluates the loss again (the first call repeats this forward pass)
            lbfgs_step(self.optimizer, lambda: self.objective(xb, yb))
        else:
            self.optimizer.step()
        snapshot = self.probe.after_step() if probe_now else None
        if self.average is not None:
            self.average.update(self.model)
        self.step_count = step
        self.last_finite_loss = loss_v
        if not (eval_now and len(self.yv)):
            return Step(scalars, snapshot)
        val_avg = self.average.evaluate(self.Xv, self.yv) if self.average is not None else None
        return Step(scalars, snapshot, val=self.evaluate(), val_avg=val_avg)

    def objective(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The loss a step minimises, as a graph: L-BFGS's closure."""
        loss = F.cross_entropy(self.model(xb), yb)
        return loss + 0.5 * self.cfg.l2 * weight_penalty(self.model) if self.cfg.l2 > 0 else loss

    @property
    def current_lr(self) -> float:
        c = self.cfg
        if c.schedule == "constant":
            return c.lr
        return c.lr * lr_factor(c.schedule, self.step_count, total_steps=self.total_steps, step_size=c.step_size,
                                gamma=c.gamma, warmup_steps=c.warmup_steps, min_ratio=min(1.0, c.min_lr / c.lr))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        # a last batch of one example would make batch norm fail (no variance over one value):
        # with BN on, such a tail is skipped and the next epoch starts
        tail_of_one = self.model.bn and self.n_train - self._pos == 1
        if self._perm is None or self._pos >= self.n_train or tail_of_one:
            self._perm = torch.randperm(self.n_train, generator=self.g_data).to(self.device)
            self._pos = 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.X[idx], self.y[idx]

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Validation loss and accuracy in eval mode (batch norm uses its running statistics)."""
        was_training = self.model.training
        self.model.eval()
        try:
            total, correct, n = 0.0, 0, len(self.yv)
            for i in range(0, n, EVAL_CHUNK):
                logits = self.model(self.Xv[i:i + EVAL_CHUNK])
                total += F.cross_entropy(logits, self.yv[i:i + EVAL_CHUNK], reduction="sum").item()
                correct += (logits.argmax(1) == self.yv[i:i + EVAL_CHUNK]).sum().item()
            return total / n, correct / n
        finally:
            self.model.train(was_training)

    @property
    def finished(self) -> bool:
        return self.step_count >= self.total_steps

    def divergence(self, loss: float) -> Event:
        """The event of a step whose loss was `loss` (not finite)."""
        step, last = self.step_count + 1, self.last_finite_loss
        msg = (f"loss became {'NaN' if math.isnan(loss) else 'infinite'} at step {step}"
               + (f" (last finite loss {last:.4g})" if last is not None else "")
               + ": the learning rate is probably too high")
        return Event("diverged", step, "diverged", {"loss": None, "last_finite_loss": last, "message": msg})

    def make_optimizer(self) -> torch.optim.Optimizer:
        c = self.cfg
        if c.optimizer == "lbfgs":
            return make_lbfgs(self.model.parameters(), lr=c.lr)
        return make_optimizer(c.optimizer, self.model.parameters(), lr=c.lr, momentum=c.momentum,
                              beta1=c.beta1, beta2=c.beta2, eps=c.eps, rho=c.rho, weight_decay=c.weight_decay)

    # ================================================================== commands
    def check(self, op: str, **kw: Any) -> None:
        """Refuse a command in words, in the caller's thread, before it is queued."""
        if op == "lr":
            lr = kw["value"]
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
                raise ConfigError(f"learning rate must be a positive number (got {lr!r})")
            self.cfg.copy(lr=float(lr)).validate()  # the run's own limits, in words
        elif op == "reinit":
            if kw["scheme"] not in INITS:
                raise ConfigError(f"init must be one of {', '.join(INITS)} (got {kw['scheme']!r})")
            if kw["init_std"] is not None:
                self.cfg.copy(init=kw["scheme"], init_std=kw["init_std"]).validate()
        elif op == "optimizer":
            if kw["name"] not in OPTIMIZERS:
                raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {kw['name']!r})")
            problem = kw["name"] == "lbfgs" and full_batch_problem(self.batch_size, self.n_train, self.cfg.dropout)
            if problem:
                raise ConfigError(problem)
            self.cfg.copy(optimizer=kw["name"], **kw["params"]).validate()
        elif op == "bn":
            if kw["on"] and self.batch_size < 2:  # (batch_size is already at most n_train)
                raise ConfigError("batch norm needs batches of at least 2 examples")
        elif op == "average" and kw["on"]:
            WeightAverage(self.model, kw["decay"])     # refuses a bad decay in words
        elif op == "augment" and kw["on"]:
            PixelShift(self.data, device=self.device)  # refuses data that is not square images

    def apply(self, op: str, **kw: Any) -> Event | Boundary | None:
        """Apply a checked command between steps; what it did, as a message (None: nothing)."""
        return getattr(self, f"_apply_{op}")(**kw)

    def _apply_lr(self, value: float) -> Event:
        old, self.cfg.lr = self.cfg.lr, value
        return self._event("lr", f"lr {format_lr(old)} → {format_lr(value)}", old=old, new=value)

    def _apply_reinit(self, scheme: str, init_std: float | None) -> Event:
        if init_std is not None:
            self.cfg.init_std = float(init_std)
        self.cfg.init = scheme
        self.model.reinit(scheme, self.cfg.init_std, self.g_init)
        self.optimizer = self.make_optimizer()  # old moments describe weights that are gone
        label = f"re-init: {scheme}" + (f" (std {self.cfg.init_std:g})" if scheme in STD_INITS else "")
        return self._event("reinit", label, scheme=scheme, init_std=self.cfg.init_std)

    def _apply_optimizer(self, name: str, params: dict) -> Event:
        old = self.cfg.optimizer
        try:  # checked when asked for, against the setup of then; commands queued since may have changed it
            self.cfg.copy(optimizer=name, **params).validate()
        except ConfigError as exc:
            return self._event("refused", f"optimizer {name} not applied", message=f"optimizer {name} not applied: {exc}")
        for k, v in params.items():
            setattr(self.cfg, k, v)
        self.cfg.optimizer = name
        self.optimizer = self.make_optimizer()
        return self._event("optimizer", f"optimizer: {name}", old=old, new=name, params=params)

    def _apply_bn(self, on: bool) -> Event | None:
        if on == self.model.bn:
            return None
        old_state = self.optimizer.state
        self.model.set_bn(on)
        self.cfg.bn = on
        self.optimizer = self.make_optimizer()
        if not isinstance(self.optimizer, torch.optim.LBFGS):  # its history spans the old parameter set
            for p in self.model.parameters():  # the Linear layers keep their optimizer state
                if p in old_state:
                    self.optimizer.state[p] = old_state[p]
        return self._event("bn", "BN on" if on else "BN off", on=on)

    def _apply_average(self, on: bool, decay: float = 0.99) -> Event | None:
        if on == (self.average is not None) and (not on or self.average.decay == decay):
            return None
        self.average = WeightAverage(self.model, decay) if on else None   # it starts from the next step's weights
        self.cfg.average_decay = decay if on else None
        return self._event("average", f"averaging on (decay {decay:g})" if on else "averaging off", on=on, decay=decay)

    def _apply_augment(self, on: bool) -> Event | None:
        if on == (self.shift is not None):
            return None
        self.shift = PixelShift(self.data, seed=self.cfg.seed + 3, device=self.device) if on else None
        self.cfg.augment = on
        return self._event("augment", "pixel shifts on" if on else "pixel shifts off", on=on)

    def _apply_boundary(self, resolution: int) -> Boundary | None:
        if self.data.n_features != 2:
            return None
        from .boundary import predict_grid
        return Boundary(self.step_count, predict_grid(self.model, self.data, self.device, resolution))

    def _event(self, kind: str, label: str, **data: Any) -> Event:
        return Event(kind, self.step_count, label, data)

