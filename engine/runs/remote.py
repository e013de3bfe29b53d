"""The window's side of a run in a worker process (engine/runs/worker.py): its commands, its messages,
and the lab's readings of its model, none of which needs torch in the window.

    run = Worker().begin(cfg)                # a RemoteSession
    run.start(); run.set_lr(1e-2)            # checked in the worker, refused there in words
    run.drain()                              # the run's messages that have arrived, in order
    run.softmax_example(7)                   # engine/lab/softmax.py's reading, computed in the worker
    run.bn_test_time(indices, test_batch)    # engine/lab/bnstats.py's read_test_time, ditto
    run.weights()                            # the weights now, as numpy arrays
    run.lr_find(weights, steps=100)          # the LR range test (a worker begun for it, record=False):
                                             # LRFind messages come in drain()
    run.stop()                               # the run ends; its final weights stay readable here

Commands are answered at once over one duplex pipe; the run's messages come up a second one.
A worker that dies ends its pipes: drain() says so in words, and a recorded run is marked crashed.
"""
from __future__ import annotations

import signal
import time
from typing import Any, Callable

import numpy as np

from ..train.config import RunConfig
from ..errors import BabysitError
from ..messages import DIVERGED, ENDED_STATES, ERROR, FINISHED, IDLE, LIVE_STATES, Event, Scalars, StateChange

REPLY_SECONDS = 10.0     # the longest a command waits for its answer (the worker answers in milliseconds)
DRAIN_SECONDS = 0.5      # drain() reads the pipe at most this long: a backlog arrives at once, a flood cannot hold the window
RECORD_SECONDS = 5.0     # what stop() allows a recorded run beyond its timeout to close its record


def call(worker, op: str, kw: dict | None = None, timeout: float = REPLY_SECONDS) -> Any:
    """Send a command, wait for its answer. Refusals raise BabysitError in words."""
    try:
        worker._commands.send((op, kw or {}))
        if not worker._commands.poll(timeout):
            raise BabysitError(f"the training process did not answer '{op}' within {timeout:.0f} s")
        status, reply = worker._commands.recv()
    except (EOFError, OSError, BrokenPipeError):
        raise BabysitError(f"the training process has ended ({ended_how(worker.process)})") from None
    if status == "refused":
        raise BabysitError(reply)
    return reply


def ended_how(process) -> str:
    """How a worker process ended, in words."""
    process.join(1.0)
    code = process.exitcode
    if code is None:
        return "it is not answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {"SIGKILL": "killed (out of memory, or by hand)", "SIGSEGV": "a crash inside the process",
               "SIGABRT": "aborted", "SIGTERM": "terminated"}.get(name, "ended by a signal")
        return f"{why}: {name}"
    return f"exit code {code}"


# a knob's event -> the config keys it changed: the window's copy of the config follows the run's
_FOLLOW = {
    "lr": lambda d: {"lr": d["new"]},
    "reinit": lambda d: {"init": d["scheme"], "init_std": d["init_std"]},
    "optimizer": lambda d: {"optimizer": d["new"], **d["params"]},
    "bn": lambda d: {"bn": d["on"]},
    "augment": lambda d: {"augment": d["on"]},
    "average": lambda d: {"average_decay": d["decay"] if d["on"] else None},
}


class RemoteSession:
    """The window's handle on a run in a worker: the commands and drain() of engine/runs/session.py's
    TrainingSession, with what the window reads of it (state, steps, config, data) kept here,
    as of the messages drained so far."""

    def __init__(self, worker, built: dict):   # worker: engine.runs.worker.Worker
        self.worker = worker
        self.cfg = RunConfig.from_dict(built["config"])
        self.data = built["data"]
        self.total_steps = built["total_steps"]
        self.steps_per_epoch = built["steps_per_epoch"]
        self.device = built["device"]
        self.run = built["run"]             # {"id", "name", "dir"} in the run store, or None
        self.pid = worker.process.pid
        self.state = IDLE
        self.error: str | None = None
        self.step_count = 0
        self.ended = False                  # the pipe is closed: everything the run sent has arrived
        self.problems: list[str] = list(built["problems"])   # what the worker could not record, in words
        self._arrived: list = []           # read from the pipe, not drained yet
        self._last_model: dict | None = None   # the model the worker sent as it stopped

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else self.run["id"]

    @property
    def alive(self) -> bool:
        """The run is still going: it takes steps or waits for them (paused, diverged). An ended
        run's worker still answers for its model until stop()."""
        return not self.ended and self.state not in ENDED_STATES and self.worker.process.is_alive()

    @property
    def finished(self) -> bool:
        return self.state == FINISHED

    # ------------------------------------------------------------------ commands
    def _session(self, name: str, *args: Any, timeout: float = REPLY_SECONDS, **kw: Any) -> None:
        """Call the worker's session's own `name` (engine/runs/session.py: checked there, refused in words)."""
        self._note_state(call(self.worker, "call", {"name": name, "args": args, "kw": kw}, timeout))

    def set_lr(self, lr: float) -> None:
        self._session("set_lr", lr)

    def reinit(self, scheme: str, init_std: float | None = None) -> None:
        self._session("reinit", scheme, init_std)

    def set_optimizer(self, name: str, **params: Any) -> None:
        self._session("set_optimizer", name, **params)

    def set_bn(self, on: bool) -> None:
        self._session("set_bn", on)

    def set_average(self, on: bool, decay: float | None = None) -> None:
        self._session("set_average", on, decay)

    def set_augment(self, on: bool) -> None:
        self._session("set_augment", on)

    def request_boundary(self, resolution: int = 80) -> None:
        self._session("request_boundary", resolution)

    def start(self) -> None:
        self._session("start")

    def pause(self, wait: float = 0.0) -> None:
        self._session("pause", wait, timeout=REPLY_SECONDS + wait)

    def resume(self) -> None:
        self._session("resume")

    def single_step(self) -> None:
        self._session("single_step")

    def set_pace(self, steps_per_s: float | None) -> None:
        self._session("set_pace", steps_per_s)

    def load_weights(self, state_dict: dict) -> None:
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in state_dict.items()}
        call(self.worker, "load_weights", {"weights": weights})

    def steps_taken(self) -> int:
        """The steps the worker has taken by now (the newest may not have arrived here yet)."""
        return call(self.worker, "steps_taken")

    def _note_state(self, state: str) -> None:
        if state in LIVE_STATES or state == IDLE:
            self.state = state

    # ------------------------------------------------------------------ the lab's readings
    def weights(self) -> dict[str, np.ndarray]:
        """The model's weights now, as numpy arrays by state_dict name; after stop(), as at the end."""
        return self._model_now()["weights"]

    def _model_now(self) -> dict:
        return self._last_model if self._last_model is not None else call(self.worker, "weights")

    def softmax_example(self, index: int) -> dict:
        """engine/lab/softmax.py's reading of validation example `index` through the model now, made in
        the worker (its ExampleReader: a copy in eval mode, the run untouched)."""
        return self._read("softmax_example", {"index": int(index)})

    def bn_test_time(self, batch_indices, test_batch: int | None = None) -> dict:
        """engine/lab/bnstats.py's read_test_time on the model now, made in the worker, with these
        training examples as the batch."""
        return self._read("bn_test_time", {"batch_indices": [int(i) for i in batch_indices], "test_batch": test_batch})

    def _read(self, op: str, kw: dict) -> Any:
        if self._last_model is not None or not self.worker.process.is_alive():
            raise BabysitError("the run has ended and its training process with it: its model can no longer be read")
        return call(self.worker, op, kw)

    def lr_find(self, weights: dict[str, np.ndarray] | None = None, *, start: float = 1e-7, end: float = 10.0,
                steps: int = 100) -> None:
        """Start engine/lab/lrfind.py's range test in the worker (one begun for it with record=False and
        never started) from these weights (None: the run's initial ones). Its progress and its
        result arrive in drain() as LRFind messages."""
        call(self.worker, "lr_find", {"weights": weights, "start": start, "end": end, "steps": steps})

    def lr_find_cancel(self) -> None:
        """End a range test at its next step; its result so far arrives as usual."""
        call(self.worker, "lr_find_cancel")

    def stop(self, timeout: float | None = 5.0) -> None:
        """End the run: the worker stops it, records it with its weights, sends what is left and
        leaves. What it sends meanwhile is read here (a full pipe would hold the worker) and waits
        for drain()."""
        from multiprocessing.connection import wait
        process = self.worker.process
        if not process.is_alive():
            return
        closing = RECORD_SECONDS if self.run is not None else 0.0
        limit = time.monotonic() + (REPLY_SECONDS if timeout is None else max(timeout, 1.0) + closing)
        try:
            self.worker._commands.send(("stop", {}))
            while process.is_alive() and time.monotonic() < limit:
                ready = wait([self.worker._commands, self.worker._out, process.sentinel], 0.1)
                if self.worker._out in ready:
                    self._read_batch()
                if self.worker._commands in ready:
                    status, reply = self.worker._commands.recv()
                    self.problems.extend(reply["problems"] if status == "ok" else [reply])
                    if status == "ok" and reply["model"] is not None:
                        self._last_model = reply["model"]
        except (EOFError, OSError):
            pass     # it left: what it sent is in the pipe
        process.join(1.0)
        if process.is_alive():
            self.worker.kill()   # not leaving: it must not train on unseen

    # ------------------------------------------------------------------ messages
    def follow(self, deliver: Callable[[list], Any], until: Callable[[], bool] = lambda: False) -> None:
        """Hand each batch of messages to `deliver` as it arrives, while the run trains (not
        paused by a divergence) and `until()` is false: a headless reader's whole loop."""
        while self.alive and self.state != DIVERGED and not until():
            self.wait(0.1)
            deliver(self.drain())

    def wait(self, timeout: float) -> None:
        """Block until a message batch arrives, the worker ends, or `timeout` seconds pass."""
        from multiprocessing.connection import wait
        if not self.ended and not self._arrived:
            wait([self.worker._out, self.worker.process.sentinel], timeout)

    def drain(self, max_items: int | None = None) -> list:
        """The messages that have arrived (max_items is only a hint: whole batches are taken), read
        for at most DRAIN_SECONDS: a worker that sends as fast as it is read cannot hold the caller.
        A worker that died without ending its run adds an error state, and its run is marked crashed."""
        until = time.monotonic() + DRAIN_SECONDS
        while not self.ended and (max_items is None or len(self._arrived) < max_items) and time.monotonic() < until:
            if not self._read_batch():
                break
        if not self.ended and not self.worker.process.is_alive() and not self._read_batch():
            self._end()
        out, self._arrived = self._arrived, []
        for m in out:
            if isinstance(m, Scalars):
                self.step_count = m.step
            elif isinstance(m, StateChange):
                self.state = m.state
                if m.state in (ERROR, DIVERGED):
                    self.error = m.error
            elif isinstance(m, Event) and m.kind in _FOLLOW:
                self.cfg = self.cfg.copy(**_FOLLOW[m.kind](m.data))
        return out

    def _read_batch(self) -> bool:
        """Read one batch from the pipe if one is there; False when there was none."""
        try:
            if self.ended or not self.worker._out.poll():
                return False
            self._arrived.extend(self.worker._out.recv())
            return True
        except (EOFError, OSError):
            self._end()
            return False

    def _end(self) -> None:
        """The pipe has closed: everything the run sent has arrived."""
        self.ended = True
        last = next((m.state for m in reversed(self._arrived) if isinstance(m, StateChange)), self.state)
        if last not in ENDED_STATES:
            self._arrived.append(self._died())

    def _died(self) -> StateChange:
        message = f"the training process died ({ended_how(self.worker.process)}); the curves so far are kept"
        if self.run is not None:
            from .store import RunStore
            try:
                with RunStore(self.run["dir"]) as store:
                    store.set_status(self.run["id"], "crashed", message)
            except BabysitError as exc:
                self.problems.append(f"the run could not be marked crashed: {exc}")
        return StateChange(ERROR, message)
