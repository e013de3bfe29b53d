"""The runner: a background thread that takes steps, and the controls around it.

    runner = Runner(work)                 # work: what a step is (the TrainingSession)
    runner.submit("lr", value=1e-2)       # any thread; applied between steps
    runner.start(); runner.pause(); runner.resume(); runner.single_step(); runner.stop()
    runner.set_pace(10)                   # at most 10 steps a second (slow motion); None: flat out

Commands go through a thread-safe queue and are applied between steps, never inside one; while
paused they are applied at once (a new rate is marked, a boundary drawn for the paused weights).
The run's state (engine/messages.py) changes here, and each change is announced through `work`.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Protocol

from ..messages import DIVERGED, ERROR, FINISHED, IDLE, PAUSED, RUNNING, STOPPED, StateChange

WAIT_SECONDS = 0.25  # a paused loop looks at the stop flag at least this often


class Work(Protocol):
    finished: bool
    def step(self) -> None: ...                 # one step, with the commands queued before it
    def apply_commands(self) -> None: ...       # the queued commands, without a step
    def flush(self) -> None: ...                # write what the steps taken left waiting
    def pending(self) -> bool: ...              # steps taken and not written yet
    def loop_gathers(self, on: bool) -> None: ...  # the loop writes in batches while it runs
    def failed(self, exc: Exception) -> str: ...   # record a failure; its message
    def announce(self, change: StateChange) -> None: ...


class Runner:
    def __init__(self, work: Work):
        self.work = work
        self.state = IDLE
        self.error: str | None = None
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = False            # True while the loop thread is inside a step
        self._cond = threading.Condition()
        self._stop = False
        self._step_requests = 0
        self._thread: threading.Thread | None = None
        self.max_rate: float | None = None  # steps per second while running (None: as fast as it can)
        self._last_step = 0.0

    # ================================================================== any thread
    def submit(self, op: str, **kw: Any) -> None:
        self.commands.put((op, kw))
        with self._cond:
            self._cond.notify_all()

    def set_pace(self, steps_per_s: float | None) -> None:
        """Cap the steps taken per second while running, so a run lasts long enough to watch."""
        if steps_per_s is not None and not steps_per_s > 0:
            raise ValueError(f"a pace must be a positive number of steps per second (got {steps_per_s!r})")
        with self._cond:
            self.max_rate = steps_per_s
            self._cond.notify_all()  # a waiting loop takes its next step at the new pace

    def take_commands(self) -> list[tuple[str, dict]]:
        out = []
        while not self.commands.empty():
            out.append(self.commands.get_nowait())
        return out

    def set_state(self, state: str, error: str | None = None) -> None:
        with self._cond:  # an RLock: pause()/resume() check-and-set cannot interleave with this
            self.state, self.error = state, error
            self.work.announce(StateChange(state, error))

    def start(self) -> None:
        """Train in a background thread until the target, stop() or an error."""
        if self._thread is not None:
            return self.resume()
        self.set_state(RUNNING)
        self._spawn()

    def pause(self, wait: float = 0.0) -> None:
        """Pause between steps. With `wait`, also wait up to that many seconds for the step in
        flight to end and the steps taken to be written, so the caller may read the model."""
        with self._cond:
            if self.state == RUNNING:
                self.set_state(PAUSED)
            if wait > 0 and threading.current_thread() is not self._thread:
                self._cond.wait_for(lambda: not self.busy and not self.work.pending(), wait)

    def resume(self) -> None:
        if self._thread is None:  # never started: there is no loop to wake
            self.start()
            return
        with self._cond:
            if self.state in (PAUSED, DIVERGED, IDLE):
                self.set_state(RUNNING)
                self._cond.notify_all()

    def single_step(self) -> None:
        """While paused: take exactly one step."""
        with self._cond:
            if self.state == RUNNING:  # steps are being taken anyway; a request would fire after the next pause
                return
            if self._thread is None:
                self.set_state(PAUSED)
                self._spawn()
            self._step_requests += 1
            self._cond.notify_all()

    def stop(self, timeout: float | None = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not self.alive:
            self.work.flush()  # steps taken by direct step() calls: nothing taken is lost

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ================================================================== the loop thread
    def _spawn(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="babysit-training", daemon=True)
        self._thread.start()

    def _waiting(self) -> bool:
        return (not self._stop and self.state in (PAUSED, DIVERGED) and self._step_requests == 0
                and self.commands.empty())

    def _pace_left(self) -> float:
        """Seconds until the next step's turn under the pace (0: now)."""
        if self.max_rate is None or self.state != RUNNING or self._stop:
            return 0.0
        return self._last_step + 1 / self.max_rate - time.monotonic()

    def _next_move(self) -> str | None:
        """Wait while paused or ahead of the pace; then "step", "commands" (paused, with
        commands) or None (stop)."""
        with self._cond:
            while self._waiting() or self._pace_left() > 0:
                if not self._waiting() and not self.commands.empty():
                    break  # a knob turned in slow motion is applied now; the step keeps its turn
                if self.work.pending():
                    self.work.flush()        # every step taken is written before the loop waits
                    self._cond.notify_all()  # (pause(wait) waits for that)
                self._cond.wait(WAIT_SECONDS if self._waiting() else min(WAIT_SECONDS, self._pace_left()))
            if self._stop:
                return None
            if self.state == RUNNING and self._pace_left() <= 0:
                self._last_step = time.monotonic()
                move = "step"
            elif self.state != RUNNING and self._step_requests > 0:
                self._step_requests -= 1
                move = "step"
            else:
                move = "commands"
            # set under the lock: once pause() returns, a step is in flight (busy) or will not start
            self.busy = True
            return move

    def _loop(self) -> None:
        self.work.loop_gathers(True)
        try:
            while (move := self._next_move()) is not None:
                try:
                    if move == "commands":
                        self.work.apply_commands()
                    elif self.work.finished:
                        self.work.apply_commands()
                        self.work.flush()
                        self.set_state(FINISHED)
                        break
                    else:
                        self.work.step()
                finally:
                    with self._cond:
                        self.busy = False
                        self._cond.notify_all()
        except Exception as exc:  # shown to the user in words; the app lives on
            self.set_state(ERROR, self.work.failed(exc))
        finally:
            self.work.flush()
            self.work.loop_gathers(False)
            if self.state not in (FINISHED, ERROR):
                self.set_state(STOPPED, self.error)
