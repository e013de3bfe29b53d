"""A training session that trains step by step and can be driven from another thread.

    session = TrainingSession(cfg)        # builds data, model, optimizer; nothing runs yet
    session.step()                        # one optimizer step, synchronously (CLI, tests)
    session.start()                       # or: train in a background thread (the window)
    session.pause(); session.resume(); session.single_step(); session.stop()
    session.set_lr(1e-2); session.reinit("he_normal"); session.set_optimizer("adam"); session.set_bn(True)

Commands go through a thread-safe queue and are applied between steps, never inside one. Each
applied command is also recorded as an event {"event": ..., "step": ..., "label": ...} so a chart
can mark it. Everything the session produces goes one way, into `outbox` (a queue of
(kind, payload) with kind in "scalars" | "record" | "event" | "state") and into `history` (unless
`keep_history=False`: the window keeps its own, filled from the outbox, and the LR finder none).
Payloads are plain Python (floats, lists), never tensors.

Bookkeeping may be gathered: with `gather` > 1 (the background loop, `GATHER`) a step's scalars
go to the history, the outbox and the diagnostics in a batch of up to `gather` steps, at most
GATHER_SECONDS after the first of them, and always before any event, when the loop waits or
ends, and on `flush()`; their order is unchanged. On the CPU the train accuracy is counted then
too, for all of them in one call (until then a returned scalars dict has `train_acc` None).
Probe steps' records (coalesced snapshots) wait likewise, up to SNAPSHOT_GATHER, at most
SNAPSHOT_SECONDS (so the per-layer charts get news at least 10 times a second) and while their
activations take less than SNAPSHOT_BYTES; then all their statistics are computed in one pass
(`Probe.finish`: 8 at once cost ~40% of 8 one by one) and sent in step order, each after its
step's scalars, before any event. An evaluation step is written at once. Called directly,
`step()` writes its own at once (`gather` 1). Inside the training loop a cold Python line costs
~1 us: bookkeeping for 16 steps in one warm pass costs ~3 us a step, not ~30 (README
"Performance").

Steps are numbered from 1: step s is the s-th optimizer update, and its loss is the loss of the
batch it was computed on (so step 1's loss is the initial loss, ~ln C for small weights).
Same seed and same commands at the same steps give the same numbers.
"""
from __future__ import annotations

import itertools
import math
import os
import queue
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .config import INITS, MAX_STEPS, OPTIMIZERS, STD_INITS, RunConfig, canonical_init, format_lr
from .data import Dataset, build_dataset
from .diagnostics import Diagnostics
from .errors import ConfigError
from .history import History
from .model import MLP, SeededDropout, weight_penalty
from .optim import lr_factor, make_optimizer
from . import kernels, probes
from .probes import Probe

IDLE, RUNNING, PAUSED, DIVERGED, FINISHED, STOPPED, ERROR = (
    "idle", "running", "paused", "diverged", "finished", "stopped", "error")

GATHER = 16            # steps of bookkeeping written in one pass by the background loop
GATHER_SECONDS = 1 / 30  # ... and never held back longer than this, a frame of the window at 30 per second
# probe steps' records are made together, up to SNAPSHOT_GATHER of them, sent at least 10 times
# a second, and while the activations they wait with stay below SNAPSHOT_BYTES (the statistics'
# work buffers take twice that again)
SNAPSHOT_GATHER = 32
SNAPSHOT_SECONDS = 0.1
SNAPSHOT_BYTES = 16 << 20


def leave_a_core_free() -> int:
    """Cap torch's intra-op threads at (cores - 1). For these small MLPs extra threads only add
    barriers: on 2 cores, 2 threads gave 26 steps/s where 1 gave 1230 (digits, 2x64) when another
    process was busy. The window needs the free core for drawing. Process-wide; returns the count."""
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


class TrainingSession:
    def __init__(self, cfg: RunConfig, dataset: Dataset | None = None, *, keep_history: bool = True,
                 use_outbox: bool = True):
        self.cfg = replace(cfg).validate()
        self.device = resolve_device(cfg.device)
        self.data = dataset if dataset is not None else build_dataset(self.cfg)
        # every random draw of a run has its own generator (init, batches, dropout): another
        # thread using torch's global RNG cannot change this run's numbers
        self._g_init = torch.Generator().manual_seed(cfg.seed)
        self._g_data = torch.Generator().manual_seed(cfg.seed + 1)
        self.model = MLP(self.data.n_features, self.data.n_classes, cfg.depth, cfg.width, cfg.activation,
                         bn=cfg.bn, dropout=cfg.dropout)
        self.model.reinit(cfg.init, cfg.init_std, self._g_init)
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
        self.total_steps = (math.ceil(cfg.epochs * self.steps_per_epoch) if cfg.epochs else cfg.steps)
        if self.total_steps > MAX_STEPS:  # epochs times the epoch's batches: known only with the data
            raise ConfigError(f"{cfg.epochs:g} epochs of {self.steps_per_epoch} batches are {self.total_steps:,} steps, "
                              f"more than the {MAX_STEPS:,} a run may take")
        self.optimizer = self._make_optimizer()
        self.probe = Probe(self.model, cfg.hist_bins)
        self._on_host = probes.on_host(self.device)  # read in place, no transfer (tests switch it off)
        self.history: History | None = History() if keep_history else None
        if self.history is not None:
            self.history.config = self.cfg.to_dict()
            self.history.total_steps = self.total_steps
        self.outbox: queue.SimpleQueue | None = queue.SimpleQueue() if use_outbox else None
        self.step_count = 0          # optimizer steps taken
        self.last_finite_loss: float | None = None
        self.state = IDLE
        self.error: str | None = None
        self._perm: torch.Tensor | None = None
        self._pos = 0
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._stop = False
        self._step_requests = 0
        self._thread: threading.Thread | None = None
        self.busy = False            # True while the loop thread is inside a step
        # diagnostics watch the stream and add "diagnosis" events (engine/diagnostics.py)
        self.diagnostics: Diagnostics | None = Diagnostics(self.cfg, self.data.n_classes)
        # switched off by a caller that only wants the optimizer steps (the LR range test)
        self.probing = True
        self.evaluating = True
        self.gather = 1  # steps of bookkeeping per batch (see the module docstring)
        self._gathered: list[tuple] = []  # steps not yet written: (scalars, logits kept or count, labels)
        self._gathered_since = 0.0
        self._snapshots_since = 0.0  # when the oldest probe step whose record waits (in the probe) began
        self._writing_scalars = False
        self._undiagnosed: list[dict] = []  # scalars written while records before them waited

    # ================================================================== commands (any thread)
    def set_lr(self, lr: float) -> None:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise ConfigError(f"learning rate must be a positive number (got {lr!r})")
        self.cfg.copy(lr=float(lr)).validate()  # the run's own limits, in words (e.g. lr <= 100)
        self._submit("lr", value=float(lr))

    def reinit(self, scheme: str, init_std: float | None = None) -> None:
        scheme = canonical_init(scheme)
        if scheme not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)} (got {scheme!r})")
        if init_std is not None:  # refused now, in words, not as an error on the training thread
            self.cfg.copy(init=scheme, init_std=init_std).validate()
        self._submit("reinit", scheme=scheme, init_std=init_std)

    def set_optimizer(self, name: str, **params: Any) -> None:
        if name not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {name!r})")
        self.cfg.copy(optimizer=name, **params).validate()  # reject bad parameters now, in words
        self._submit("optimizer", name=name, params=params)

    def set_bn(self, on: bool) -> None:
        if on and self.batch_size < 2:  # (batch_size is already at most n_train)
            raise ConfigError("batch norm needs batches of at least 2 examples")
        self._submit("bn", on=bool(on))

    def request_boundary(self, resolution: int = 80) -> None:
        """Ask for the predicted class over the input plane (2-D data only); it arrives in the
        outbox as ("boundary", dict) after the current step. Computed on the training thread,
        so the window never touches the model while it trains."""
        self._submit("boundary", resolution=int(resolution))

    def _submit(self, op: str, **kw: Any) -> None:
        self._commands.put((op, kw))
        with self._cond:
            self._cond.notify_all()

    def apply_commands(self) -> None:
        """Apply every queued command (called between steps by whoever runs the steps)."""
        if self._commands.empty():  # the common case, without raising and catching queue.Empty
            return
        # the steps before a command are written (and diagnosed) with the setup they ran with:
        # a re-init replaces the diagnostics, a new rate changes what findings say
        self.flush()
        while True:
            try:
                op, kw = self._commands.get_nowait()
            except queue.Empty:
                return
            getattr(self, f"_apply_{op}")(**kw)

    def _apply_lr(self, value: float) -> None:
        old = self.cfg.lr
        self.cfg.lr = value
        self._event("lr", f"lr {format_lr(old)} → {format_lr(value)}", old=old, new=value)

    def _apply_reinit(self, scheme: str, init_std: float | None) -> None:
        if init_std is not None:
            self.cfg.init_std = float(init_std)
        self.cfg.init = scheme
        self.model.reinit(scheme, self.cfg.init_std, self._g_init)
        self.optimizer = self._make_optimizer()  # old moments describe weights that are gone
        if self.diagnostics is not None:  # a fresh network: its first loss, its own findings
            self.diagnostics = Diagnostics(self.cfg, self.data.n_classes)
        label = f"re-init: {scheme}" + (f" (std {self.cfg.init_std:g})" if scheme in STD_INITS else "")
        self._event("reinit", label, scheme=scheme, init_std=self.cfg.init_std)

    def _apply_optimizer(self, name: str, params: dict) -> None:
        old = self.cfg.optimizer
        try:  # checked when asked for, against the setup of then; commands queued since may have changed it
            self.cfg.copy(optimizer=name, **params).validate()
        except ConfigError as exc:
            self._event("refused", f"optimizer {name} not applied", message=f"optimizer {name} not applied: {exc}")
            return
        for k, v in params.items():
            setattr(self.cfg, k, v)
        self.cfg.optimizer = name
        self.optimizer = self._make_optimizer()
        self._event("optimizer", f"optimizer: {name}", old=old, new=name, params=params)

    def _apply_bn(self, on: bool) -> None:
        if on == self.model.bn:
            return
        old_state = self.optimizer.state
        self.model.set_bn(on)
        self.cfg.bn = on
        self.optimizer = self._make_optimizer()
        for p in self.model.parameters():  # the Linear layers keep their optimizer state
            if p in old_state:
                self.optimizer.state[p] = old_state[p]
        self._event("bn", "BN on" if on else "BN off", on=on)

    def _apply_boundary(self, resolution: int) -> None:
        if self.data.n_features != 2:
            return
        from .boundary import predict_grid
        payload = predict_grid(self.model, self.data, self.device, resolution)
        payload["step"] = self.step_count
        self._emit("boundary", payload)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.cfg
        return make_optimizer(c.optimizer, self.model.parameters(), lr=c.lr, momentum=c.momentum,
                              beta1=c.beta1, beta2=c.beta2, eps=c.eps, rho=c.rho, weight_decay=c.weight_decay)

    def _event(self, kind: str, label: str, **extra: Any) -> dict:
        self.flush()  # the steps before it come first
        ev = {"event": kind, "step": self.step_count, "label": label, **extra}
        if self.history is not None:
            self.history.append_event(ev)
        self._emit("event", ev)
        return ev

    def _emit(self, kind: str, payload: Any) -> None:
        if self.outbox is not None:
            self.outbox.put((kind, payload))

    def _set_state(self, state: str) -> None:
        with self._cond:  # an RLock: pause()/resume() check-and-set cannot interleave with this
            self.state = state
            self._emit("state", state)

    # ================================================================== training
    @property
    def current_lr(self) -> float:
        c = self.cfg
        if c.schedule == "constant":
            return c.lr
        return c.lr * lr_factor(c.schedule, self.step_count, total_steps=self.total_steps, step_size=c.step_size,
                                gamma=c.gamma, warmup_steps=c.warmup_steps, min_ratio=min(1.0, c.min_lr / c.lr))

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        # a last batch of one example would make batch norm fail (no variance over one value):
        # with BN on, such a tail is skipped and the next epoch starts
        tail_of_one = self.model.bn and self.n_train - self._pos == 1
        if self._perm is None or self._pos >= self.n_train or tail_of_one:
            self._perm = torch.randperm(self.n_train, generator=self._g_data).to(self.device)
            self._pos = 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.X[idx], self.y[idx]

    def _read(self, tensors: list[torch.Tensor], logits: torch.Tensor, yb: torch.Tensor
              ) -> tuple[list[float], int | torch.Tensor]:
        """Scalars to Python numbers in one host sync per step (the divergence check needs the
        loss), and the number of correct predictions. On the CPU there is nothing to wait for:
        separate reads, and the logits are kept (detached), their argmax compared with the labels
        for all the gathered steps at once (`_count_right`): an argmax per step on logits that
        carry a graph cost ~2.5 % of the benchmark's step, one over 16 steps' logits a fraction
        of that. On a device the count rides along in the one transfer."""
        if self._on_host:
            return [t.item() for t in tensors], logits.detach()
        correct = (logits.argmax(1) == yb).sum()
        *values, right = torch.stack([t.detach() for t in tensors] + [correct.to(tensors[0].dtype)]).tolist()
        return values, int(right)

    def step(self) -> dict | None:
        """Apply queued commands, take one optimizer step, return its scalars (None if it diverged)."""
        # (inside the training loop every Python call costs ~1 us: the common cases are inlined)
        if not self._commands.empty():
            self.apply_commands()
        if not self.probe.attached:
            self.probe.attach()
        step = self.step_count + 1
        c = self.cfg
        probe_now = self.probing and (step == 1 or step % c.probe_every == 0)
        eval_now = self.evaluating and (step == 1 or step % c.eval_every == 0 or step == self.total_steps)
        if eval_now:  # the steps before it are written first, and their probes finished
            self.flush()
        began = time.perf_counter()  # a step slower than the limits is written at once
        lr = c.lr if c.schedule == "constant" else self.current_lr
        for group in self.optimizer.param_groups:
            if group["lr"] != lr:
                group["lr"] = lr
        xb, yb = self._next_batch()
        if probe_now:  # the probe is armed for this forward pass only (unprobed steps never touch it)
            logits = self.probe.forward(xb)
        else:
            logits = self.model(xb)
        data_loss = F.cross_entropy(logits, yb)
        if c.l2 > 0:
            reg_loss = 0.5 * c.l2 * weight_penalty(self.model)
            loss = data_loss + reg_loss
            (loss_v, data_v, reg_v), right = self._read([loss, data_loss, reg_loss], logits, yb)
        else:  # no penalty: the objective is the data loss itself (no zero tensor, no addition)
            loss = data_loss
            if self._on_host:  # _read's CPU case, inlined
                data_v, right = data_loss.item(), logits.detach()
            else:
                (data_v,), right = self._read([data_loss], logits, yb)
            loss_v, reg_v = data_v, 0.0
        if not math.isfinite(loss_v):
            self.probe.discard()
            self._diverged(step, loss_v)
            return None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if probe_now:
            self.probe.before_step()
        self.optimizer.step()
        self.step_count = step
        self.last_finite_loss = loss_v
        scalars = {"step": step, "epoch": (step - 1) // self.steps_per_epoch, "loss": loss_v,
                   "data_loss": data_v, "reg_loss": reg_v,
                   "train_acc": right / yb.shape[0] if isinstance(right, int) else None, "lr": lr}
        if probe_now:
            # its record waits, tagged with its scalars (_write_snapshots)
            self.probe.after_step(scalars, next_probed=self.probing and (step + 1) % c.probe_every == 0)
        if not eval_now:
            gathered = self._gathered
            gathered.append((scalars, right, yb))
            now = time.perf_counter()
            if len(gathered) == 1:
                self._gathered_since = began
            waiting = self.probe.pending
            if probe_now and waiting == 1:
                self._snapshots_since = began
            if waiting and (waiting >= SNAPSHOT_GATHER or self.gather == 1
                                    or now - self._snapshots_since >= SNAPSHOT_SECONDS
                                    or self.probe.pending_bytes > SNAPSHOT_BYTES):
                self.flush()
            elif len(gathered) >= self.gather or now - self._gathered_since >= GATHER_SECONDS:
                self._write_gathered()
            return scalars
        # an evaluation step is written at once, after the steps before it (written when it
        # began): scalars, record, then what the diagnostics find in both
        self._count_right([(scalars, right, yb)])
        self._write_scalars(scalars)
        history = self.history
        record = dict(scalars)
        if len(self.yv):
            record["val_loss"], record["val_acc"] = self.evaluate()
            if history is not None:
                history.append_val(step, record["val_loss"], record["val_acc"])
        record["layers"] = self.probe.finish()[0][1] if probe_now else []
        if record["layers"] and history is not None:
            history.append_snapshot(record)
        self._emit("record", record)
        self._diagnose(scalars, record)
        return scalars

    def flush(self) -> None:
        """Write everything gathered: the steps' scalars, then the waiting probe steps' records
        (training thread, or whoever runs the steps)."""
        self._write_gathered()
        self._write_snapshots()

    def _write_gathered(self) -> None:
        """Write the gathered steps' scalars to the history, the outbox and the diagnostics."""
        gathered = self._gathered
        if not gathered:
            return
        self._gathered = []  # first: a diagnosis event flushes, and finds nothing left to write
        self._count_right(gathered)
        # the diagnostics see steps in order: while probe steps' records wait, the scalars from the
        # first of them on wait too, and are diagnosed with the records (_write_snapshots)
        oldest = self.probe.oldest_tag
        wait_from = oldest["step"] if oldest is not None else math.inf
        self._writing_scalars = True  # ... nor records, whose steps' scalars may be further down the list
        try:
            for scalars, _, _ in gathered:
                self._write_scalars(scalars)
                if scalars["step"] >= wait_from:
                    self._undiagnosed.append(scalars)
                else:
                    self._diagnose(scalars, None)
        finally:
            self._writing_scalars = False

    def _write_snapshots(self) -> None:
        """The records of the waiting probe steps, made together (`Probe.finish`), after their
        scalars: to the history, the outbox and the diagnostics."""
        if not self.probe.pending or self._writing_scalars:
            return
        self._write_gathered()  # a record comes after its step's scalars
        history, emit = self.history, self._emit
        records = [dict(scalars, layers=layers) for scalars, layers in self.probe.finish()]
        for record in records:
            if history is not None:
                history.append_snapshot(record)
            emit("record", record)
        undiagnosed, self._undiagnosed = self._undiagnosed, []
        if self.diagnostics is not None:  # then what the diagnostics find in them, steps in order, in one call
            for finding in self.diagnostics.observe_steps(undiagnosed, records):
                self._event("diagnosis", f"{finding['code']}", **finding)

    def _write_scalars(self, scalars: dict) -> None:
        if self.history is not None:
            self.history.append_scalars(scalars)
        self._emit("scalars", scalars)

    @staticmethod
    def _count_right(gathered: list[tuple[dict, int | torch.Tensor, torch.Tensor]]) -> None:
        """Fill in the train accuracy of gathered steps whose logits were kept (CPU; on a device
        the count is already in): one argmax and comparison for all of them, the batches one
        after another (an epoch's last batch may be smaller), counted per batch. By a compiled
        loop where numba is there (numpy's argmax over rows of ~10 logits steps row by row: ~40 us
        for 16 batches inside the loop, the loop ~2), else in numpy, which reads the CPU tensors
        in place (its calls cost a few microseconds inside the loop where torch ops cost 10-30)."""
        todo = [(scalars, logits, yb) for scalars, logits, yb in gathered if isinstance(logits, torch.Tensor)]
        if not todo:
            return
        sizes = [len(yb) for _, _, yb in todo]
        logits = torch.cat([p for _, p, _ in todo]).numpy()
        labels = torch.cat([y for _, _, y in todo]).numpy()
        if kernels.ready() and logits.dtype == np.float32 and labels.dtype == np.int64:
            right = np.empty(len(sizes), np.int64)
            kernels.count_right(logits, labels, np.array(sizes, np.int64), right)
        else:
            starts = [0, *itertools.accumulate(sizes[:-1])]
            right = np.add.reduceat(logits.argmax(1) == labels, starts, dtype=np.int64)
        for (scalars, _, _), n, r in zip(todo, sizes, right.tolist()):
            scalars["train_acc"] = r / n

    def _diagnose(self, scalars: dict | None, record: dict | None, event: dict | None = None) -> None:
        if self.diagnostics is None:  # switched off (e.g. by the LR range test, whose loss must blow up)
            return
        for finding in self.diagnostics.observe(scalars, record, event):
            self._event("diagnosis", f"{finding['code']}", **finding)

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Validation loss and accuracy in eval mode (batch norm uses its running statistics)."""
        was_training = self.model.training
        self.model.eval()
        try:
            total, correct, n = 0.0, 0, len(self.yv)
            for i in range(0, n, 8192):
                logits = self.model(self.Xv[i:i + 8192])
                total += F.cross_entropy(logits, self.yv[i:i + 8192], reduction="sum").item()
                correct += (logits.argmax(1) == self.yv[i:i + 8192]).sum().item()
            return total / n, correct / n
        finally:
            self.model.train(was_training)

    def _diverged(self, step: int, loss: float) -> None:
        last = self.last_finite_loss
        msg = (f"loss became {'NaN' if math.isnan(loss) else 'infinite'} at step {step}"
               + (f" (last finite loss {last:.4g})" if last is not None else "")
               + ": the learning rate is probably too high")
        ev = self._event("diverged", "diverged", step=step, loss=None, last_finite_loss=last, message=msg)
        self.error = msg
        self._diagnose(None, None, ev)
        self._set_state(DIVERGED)

    @property
    def finished(self) -> bool:
        return self.step_count >= self.total_steps

    # ================================================================== driving from a thread
    def start(self) -> None:
        """Train in a background thread until the target, stop() or an error."""
        if self._thread is not None:
            return self.resume()
        self._set_state(RUNNING)
        self._spawn_loop()

    def pause(self, wait: float = 0.0) -> None:
        """Pause between steps. With `wait`, also wait up to that many seconds for the step in
        flight to end, so the caller may read the model (a step takes milliseconds)."""
        with self._cond:
            if self.state == RUNNING:
                self._set_state(PAUSED)
            if wait > 0 and threading.current_thread() is not self._thread:
                # the step in flight has ended and the steps taken are written (see _loop)
                self._cond.wait_for(lambda: not self.busy and not self._gathered and not self.probe.pending, wait)

    def resume(self) -> None:
        if self._thread is None:  # never started: there is no loop to wake
            self.start()
            return
        with self._cond:
            if self.state in (PAUSED, DIVERGED, IDLE):
                self.error = None
                self._set_state(RUNNING)
                self._cond.notify_all()

    def single_step(self) -> None:
        """While paused: take exactly one step."""
        with self._cond:
            if self.state == RUNNING:  # steps are being taken anyway; a request would fire after the next pause
                return
            if self._thread is None:
                self._set_state(PAUSED)
                self._spawn_loop()
            self._step_requests += 1
            self._cond.notify_all()

    def _spawn_loop(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="babysit-training", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not self.alive:  # a loop still inside a step detaches its probe itself when it ends
            self.flush()  # steps taken by direct step() calls: nothing taken is lost
            self.probe.detach()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _waiting(self) -> bool:
        return (not self._stop and self.state in (PAUSED, DIVERGED) and self._step_requests == 0
                and self._commands.empty())

    def _loop(self) -> None:
        self.gather = GATHER
        try:
            while True:
                with self._cond:
                    # paused: wait for a step request or a command. Commands sent while paused take
                    # effect now, not at the next step (a new rate is marked at once, a boundary is
                    # drawn for the paused weights), outside the lock like a step, and `busy` alike
                    if self._waiting():
                        self.flush()  # every step taken so far is written before the loop waits
                        self._cond.notify_all()  # (pause(wait) waits for that too)
                    while self._waiting():
                        self._cond.wait(0.25)
                    if self._stop:
                        break
                    take_step = self.state == RUNNING or self._step_requests > 0
                    if take_step and self.state != RUNNING:
                        self._step_requests -= 1
                    # set under the lock: once pause() returns, a step is either in flight
                    # (busy) or will not start
                    self.busy = True
                try:
                    if not take_step:
                        self.apply_commands()
                    elif self.finished:
                        self.apply_commands()
                        self.flush()
                        self._set_state(FINISHED)
                        break
                    else:
                        self.step()
                finally:
                    with self._cond:
                        self.busy = False
                        self._cond.notify_all()
        except Exception as exc:  # shown to the user in words; the app lives on
            self.error = f"training failed: {type(exc).__name__}: {exc}"
            self._event("error", "error", message=self.error)
            self._set_state(ERROR)
        finally:
            self.flush()
            self.gather = 1
            self.probe.detach()
            if self.state not in (FINISHED, ERROR):
                self._set_state(STOPPED)

    def drain(self, max_items: int | None = None) -> list[tuple[str, Any]]:
        """Everything in the outbox so far (the consumer's side of the queue)."""
        out = []
        if self.outbox is None:
            return out
        while max_items is None or len(out) < max_items:
            try:
                out.append(self.outbox.get_nowait())
            except queue.Empty:
                break
        return out
