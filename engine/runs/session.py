"""A training session: a Trainer, a Recorder and a Runner put together.

    session = TrainingSession(cfg)        # builds data, model, optimizer; nothing runs yet
    session.step()                        # one optimizer step, synchronously (CLI, tests)
    session.start()                       # or: train in a background thread (the window)
    session.pause(); session.resume(); session.single_step(); session.stop()
    session.set_lr(1e-2); session.reinit("he_normal"); session.set_optimizer("adam"); session.set_bn(True)
    session.set_average(True, 0.99); session.set_augment(True)
    for message in session.drain(): ...   # what the run sent (engine/messages.py)

engine/train/trainer.py takes the steps and applies commands, engine/runs/recorder.py writes what leaves
each step, in order, to the sinks (the run's `history`, unless keep_history=False, and its
`outbox` queue, unless use_outbox=False), engine/runs/runner.py drives the steps from a thread.
Commands are checked in the caller's thread (refused in words) and applied between steps.
"""
from __future__ import annotations

import queue
from typing import Any

from ..train.config import RunConfig, canonical_init
from ..train.data import Dataset
from ..train.diagnostics import Diagnostics
from ..errors import BabysitError
from .history import History
from ..messages import DIVERGED, FINISHED, STOPPED, Event, Message, Scalars, StateChange
from .recorder import GATHER, make_recorder
from .runner import Runner
from ..train.trainer import Trainer, leave_a_core_free  # noqa: F401  (callers import it from here)


class TrainingSession:
    def __init__(self, cfg: RunConfig, dataset: Dataset | None = None, *, keep_history: bool = True,
                 use_outbox: bool = True):
        self.trainer = Trainer(cfg, dataset)
        self.history: History | None = None
        self.outbox: queue.SimpleQueue | None = queue.SimpleQueue() if use_outbox else None
        sinks = []
        if keep_history:
            self.history = History()
            self.history.config = self.cfg.to_dict()
            self.history.total_steps = self.total_steps
            sinks.append(self.history.ingest)
        if self.outbox is not None:
            sinks.append(self.outbox.put)
        self.recorder = make_recorder(self.trainer, sinks)
        self.runner = Runner(self)

    # ================================================================== the run's parts
    cfg = property(lambda self: self.trainer.cfg)
    data = property(lambda self: self.trainer.data)
    model = property(lambda self: self.trainer.model)
    device = property(lambda self: self.trainer.device)
    step_count = property(lambda self: self.trainer.step_count)
    total_steps = property(lambda self: self.trainer.total_steps)
    steps_per_epoch = property(lambda self: self.trainer.steps_per_epoch)
    last_finite_loss = property(lambda self: self.trainer.last_finite_loss)
    state = property(lambda self: self.runner.state)
    error = property(lambda self: self.runner.error)
    alive = property(lambda self: self.runner.alive)
    busy = property(lambda self: self.runner.busy)

    @property
    def finished(self) -> bool:
        return self.trainer.finished

    @property
    def diagnostics(self) -> Diagnostics | None:
        return self.recorder.diagnostics

    @diagnostics.setter
    def diagnostics(self, value: Diagnostics | None) -> None:
        self.recorder.diagnostics = value

    @property
    def gather(self) -> int:
        """Steps written together (engine/runs/recorder.py); the background loop gathers GATHER."""
        return self.recorder.gather

    @gather.setter
    def gather(self, n: int) -> None:
        self.recorder.gather = n

    # ================================================================== commands (any thread)
    def set_lr(self, lr: float) -> None:
        self._submit("lr", value=lr)

    def reinit(self, scheme: str, init_std: float | None = None) -> None:
        self._submit("reinit", scheme=canonical_init(scheme), init_std=init_std)

    def set_optimizer(self, name: str, **params: Any) -> None:
        self._submit("optimizer", name=name, params=params)

    def set_bn(self, on: bool) -> None:
        self._submit("bn", on=bool(on))

    def load_weights(self, state_dict: dict) -> None:
        """Start from these weights (a recorded run's, to continue it): before the first step only,
        into a model of the same shape (a clear message otherwise)."""
        if self.step_count or self.runner.alive:
            raise BabysitError("weights can only be loaded before the run's first step")
        try:
            self.model.load_state_dict(state_dict)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1].strip()
            raise BabysitError(f"these weights do not fit this model ({first})") from None

    def set_average(self, on: bool, decay: float | None = None) -> None:
        """Validate an exponential moving average of the weights beside them (engine/train/averaging.py);
        decay None keeps the run's own, else 0.99."""
        if decay is None:
            decay = self.cfg.average_decay if self.cfg.average_decay is not None else 0.99
        self._submit("average", on=bool(on), decay=decay)

    def set_augment(self, on: bool) -> None:
        self._submit("augment", on=bool(on))

    def record_boundaries(self) -> None:
        """Send the run's own decision boundaries from now on (2-D data only): at step 1, on a
        cadence (engine/train/boundaries.py) and for the final weights when the run ends. A run
        recorded in the store and the window's runs do; they cost training a small share."""
        self.recorder.draw_boundaries(self.trainer)

    def request_boundary(self, resolution: int = 80) -> None:
        """Ask for the predicted class over the input plane (2-D data only); a `Boundary` arrives
        after the current step. Computed on the training thread: the window never touches the
        model while it trains."""
        self._submit("boundary", resolution=int(resolution))

    def _submit(self, op: str, **kw: Any) -> None:
        self.trainer.check(op, **kw)  # refused here, in words, not on the training thread
        if op == "lr":
            kw["value"] = float(kw["value"])
        self.runner.submit(op, **kw)

    def apply_commands(self) -> None:
        """Apply every queued command (between steps, by whoever runs the steps)."""
        commands = self.runner.take_commands()
        if not commands:
            return
        # the steps before a command are written (and diagnosed) with the setup they ran with
        self.recorder.flush()
        for op, kw in commands:
            message = self.trainer.apply(op, **kw)
            if message is not None:
                self.recorder.event(message)

    # ================================================================== steps
    def step(self) -> Scalars | None:
        """Apply queued commands, take one optimizer step, return its scalars (None if it diverged)."""
        self.apply_commands()
        result = self.trainer.step()
        if result.diverged:
            event = self.trainer.divergence(result.scalars.loss)
            self.recorder.event(event)
            self.runner.set_state(DIVERGED, event.data["message"])
            return None
        self.recorder.add(result)
        return result.scalars

    def flush(self) -> None:
        """Write the steps that wait to be written together (engine/runs/recorder.py)."""
        self.recorder.flush()

    def evaluate(self) -> tuple[float, float]:
        return self.trainer.evaluate()

    # ================================================================== driving from a thread
    def start(self) -> None:
        self.runner.start()

    def pause(self, wait: float = 0.0) -> None:
        self.runner.pause(wait)

    def resume(self) -> None:
        self.runner.resume()

    def single_step(self) -> None:
        self.runner.single_step()

    def stop(self, timeout: float | None = 5.0) -> None:
        self.runner.stop(timeout)

    def join(self, timeout: float | None = None) -> None:
        self.runner.join(timeout)

    def set_pace(self, steps_per_s: float | None) -> None:
        """At most this many steps a second while running (slow motion for teaching); None: flat out."""
        self.runner.set_pace(steps_per_s)

    def drain(self, max_items: int | None = None) -> list[Message]:
        """Everything in the outbox so far (the consumer's side of the queue)."""
        out: list[Message] = []
        while self.outbox is not None and (max_items is None or len(out) < max_items):
            try:
                out.append(self.outbox.get_nowait())
            except queue.Empty:
                break
        return out

    # ================================================================== the runner's side (Work)
    def pending(self) -> bool:
        return self.recorder.pending > 0

    def loop_gathers(self, on: bool) -> None:
        self.recorder.gather = GATHER if on else 1

    def failed(self, exc: Exception) -> str:
        message = f"training failed: {type(exc).__name__}: {exc}"
        self.recorder.event(Event("error", self.step_count, "error", {"message": message}))
        return message

    def announce(self, change: StateChange) -> None:
        if change.state in (FINISHED, STOPPED):   # the loop's thread, its last step taken
            self.recorder.end()
        self.recorder.announce(change)

