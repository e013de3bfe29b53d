"""The controller: owns the run (in a worker process) and the GUI-side history. No widgets.

    ctl = Controller()
    ctl.add_view(dashboard)          # anything with refresh(history) and reset()
    ctl.warm()                       # fork a worker ahead of time (after the window shows)
    ctl.start(cfg)                   # build the run in the worker ("building"), then train
    ctl.pause(); ctl.resume(); ctl.step(cfg); ctl.stop(); ctl.reset()
    ctl.build(cfg)                   # the same build, blocking (scripts)
    ctl.set_lr(1e-2); ctl.reinit("he_normal"); ctl.set_optimizer("sgd"); ctl.set_bn(True)

Every run trains in a worker process of its own (engine/runs/worker.py): the window never shares an
interpreter lock with training, and a worker that dies is reported while the window lives on.
Data flows one way: the worker sends its run's messages (engine/messages.py) up a pipe; a
QTimer (every TICK_MS) drains *all* of them into `history` (History.ingest) on the GUI thread, then refreshes each view
once if a frame is due. One tick is one delivery however many steps it carries, so the GUI
never sees one signal per training step; frames are paced by what drawing costs. Errors a user
can cause (a bad data file, a bad value) come back as `errorOccurred(message)`, never as a traceback.

The window's process never imports torch to start, train or draw a run (an import holds the
interpreter lock for seconds): torch lives in the workers.
"""
from __future__ import annotations

import time
import traceback
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from engine.train.config import RunConfig
from engine.errors import BabysitError
from engine.runs.history import History
from engine.runs.worker import Spare
from engine.messages import (DIVERGED, ENDED_STATES, ERROR, FINISHED, IDLE, LIVE_STATES, PAUSED,  # noqa: F401
                             RUNNING, STOPPED, Boundary, StateChange)

from .pacing import FramePacer
from .run_build import RunBuild

TICK_MS = 10             # drains at ~100 Hz: a frame is drawn on the first tick it is due (gui/pacing.py)

BUILDING = "building"   # the window's own state: a session is being built off the GUI thread

class View(Protocol):
    def refresh(self, history: History) -> Any: ...
    def reset(self) -> Any: ...


class Controller(QObject):
    stateChanged = Signal(str)        # idle | building | running | paused | diverged | finished | stopped | error
    progressed = Signal(dict)         # once per delivery: step, epoch, total_steps, steps_per_s, lr
    errorOccurred = Signal(str)       # a message in words (building failed, training failed)
    sessionChanged = Signal(object)   # the new run (engine.runs.remote.RemoteSession), or None after reset
    otherReceived = Signal(str, object)  # requested items: ("boundary", engine.train.boundary's payload)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.session = None           # engine.runs.remote.RemoteSession | None
        self.spare = Spare()          # the next run's worker process, forked ahead of time
        self.history = History()
        self.views: list[View] = []
        self.state = IDLE
        self.error: str | None = None
        self._build: RunBuild | None = None   # a session being built off the GUI thread
        self.pace: float | None = None      # steps per second for every run (None: flat out)
        # per run (see _reset_counters): deliveries = ticks that carried data, frames = view
        # refreshes (<= deliveries: drawing is paced by `pacer`)
        self._reset_counters()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)

    # ------------------------------------------------------------------ views
    def add_view(self, view: View) -> None:
        """Register something to refresh once per frame (the dashboard, a lab panel)."""
        self.views.append(view)

    # ------------------------------------------------------------------ properties
    @property
    def step_count(self) -> int:
        return self.session.step_count if self.session is not None else 0

    @property
    def total_steps(self) -> int:
        return self.session.total_steps if self.session is not None else 0

    @property
    def live(self) -> bool:
        """A session exists and can still take commands."""
        return self.session is not None and self.state in LIVE_STATES

    # ------------------------------------------------------------------ run control
    @property
    def building(self) -> bool:
        """A run is being built off the GUI thread (Start or Step was pressed)."""
        return self._build is not None

    def build(self, cfg: RunConfig) -> bool:
        """Create the session for `cfg` here and now (blocking: for scripts; Start and Step build
        off the GUI thread). False (and errorOccurred) on failure."""
        if self.session is not None or self._build is not None:
            self.reset()
        job = RunBuild(cfg, self.spare, self.pace)
        job.run()
        return self._install(job)

    def start(self, cfg: RunConfig | None = None) -> bool:
        """Train: build a session from `cfg` off the GUI thread if there is none (state "building",
        then it starts), otherwise resume the paused one. False when there is nothing to start."""
        return self._go(cfg, "start")

    def step(self, cfg: RunConfig | None = None) -> bool:
        """Exactly one optimizer step (building the session, then stepping it paused, if there is none)."""
        return self._go(cfg, "step")

    def _go(self, cfg: RunConfig | None, then: str) -> bool:
        if self._build is not None:
            return True           # already on its way
        if self.session is None or self.state in ENDED_STATES:
            if cfg is None:
                return False
            if self.session is not None:
                self.reset()
            self._build = RunBuild(cfg, self.spare, self.pace, then)
            self._set_state(BUILDING)
            self._build.start()
            self.timer.start()    # tick() picks the session up when the build ends
            return True
        self._then(then)
        return True

    def _then(self, then: str) -> None:
        if then == "step":
            if self.state == RUNNING:
                self.session.pause()
            self.session.single_step()
        elif self.state in (PAUSED, DIVERGED):
            self.session.resume()
        elif self.state == IDLE:
            self.session.start()
        self._rate_mark = None
        self._sync_state()
        self.timer.start()

    def _finish_build(self) -> None:
        """On the GUI thread, once the build thread has ended: install its session and go on."""
        job, self._build = self._build, None
        if job.error is not None:
            self._set_state(IDLE)     # first: the error's words are the last thing the window shows
            self.timer.stop()
        if self._install(job):
            # the next turn of the event loop: installing and starting are two waits for the
            # worker's pipe and the views, a timer between them runs on time
            QTimer.singleShot(0, lambda: self._then(job.then) if self.session is job.session
                              and self.state == IDLE else None)

    def _cancel_build(self) -> None:
        """Stop, Reset or close during a build: its run (never started) is stopped when it is built."""
        job, self._build = self._build, None
        if job is not None:
            job.cancelled = True
            if not job.thread.is_alive() and job.session is not None:
                job.session.stop(1.0)   # built just now: the build's own check came before the flag
            self._set_state(IDLE)

    def add_findings(self, findings: list[dict], step: int = 0) -> None:
        """Findings made outside the run (a setting far out of range) as its "diagnosis" events."""
        for finding in findings:
            self.history.append_event({"event": "diagnosis", "label": finding["code"], **finding, "step": step})

    def _install(self, job: "RunBuild") -> bool:
        if job.error is not None:
            self._fail(job.error)
            return False
        session = job.session
        self.session = session
        self.history = job.history
        self.history.config = session.cfg.to_dict()
        self.history.total_steps = session.total_steps  # the charts' step axis stops there
        self.add_findings(session.cfg.warning_findings())   # e.g. lecture 6's lr 1e6: run, but say so
        self.error = None
        self._reset_counters()
        self._reset_views()
        self.sessionChanged.emit(session)
        self._set_state(IDLE)
        return True

    def pause(self, wait: float = 0.0) -> None:
        """Pause the run; with `wait`, until the step in flight has ended (see TrainingSession.pause)."""
        if self.session is not None and self.state == RUNNING:
            self.session.pause(wait)
            self._sync_state()

    def resume(self) -> None:
        if self.session is not None and self.state in (PAUSED, DIVERGED):
            self._rate_mark = None
            self.session.resume()
            self._sync_state()

    def toggle_pause(self) -> None:
        if self.state == RUNNING:
            self.pause()
        elif self.state in (PAUSED, DIVERGED):
            self.resume()

    def stop(self, timeout: float = 2.0) -> None:
        """End the run (its curves stay); joins the training thread. During a build: no run."""
        self._cancel_build()
        if self.session is None:
            return
        self.session.stop(timeout)
        self.tick()               # deliver what the thread produced before it ended
        if self.state in LIVE_STATES or self.state == IDLE:
            self._set_state(STOPPED)
        self.timer.stop()

    def reset(self) -> None:
        """Drop the session and its curves; back to a fresh setup."""
        self._cancel_build()
        if self.session is not None:
            self.session.stop(2.0)
            self.session = None
            self.sessionChanged.emit(None)
        self.timer.stop()
        self.history = History()
        self.error = None
        self._reset_counters()
        self._reset_views()
        self._set_state(IDLE)

    def show_history(self, history: History) -> None:
        """Show a recorded run (gui/runs): no session, every view drawn from `history` once."""
        self.reset()
        self.history = history
        self._draw(time.perf_counter())
        self.progressed.emit(self.progress())   # the status bar shows where the run ended

    def _reset_counters(self) -> None:
        self._failed_views: set[int] = set()
        self.deliveries = self.frames = 0
        self.steps_per_s = 0.0
        self._rate_mark: tuple[float, int] | None = None
        self._dirty = False            # data arrived that the views have not drawn yet
        self.pacer = FramePacer()

    def warm(self) -> None:
        """Fork the next run's worker now, so Start trains at once (the first takes seconds: its
        forkserver imports torch, in a process of its own)."""
        self.spare.warm()

    def shutdown(self, timeout: float = 1.5) -> None:
        """Window closing: stop the run (recorded as stopped) within about `timeout` seconds; a
        build in flight is dropped; the spare worker is ended."""
        self.timer.stop()
        job = self._build
        self._cancel_build()
        if job is not None:
            job.thread.join(timeout)
        if self.session is not None:
            self.session.stop(timeout)
        self.spare.close()

    # ------------------------------------------------------------------ live commands
    # each returns whether the run took the command (a refusal is shown through errorOccurred)
    def set_pace(self, steps_per_s: float | None) -> None:
        """At most this many steps a second, for this run and the next (None: flat out)."""
        self.pace = steps_per_s
        if self.session is not None:
            self.session.set_pace(steps_per_s)

    def set_lr(self, lr: float) -> bool:
        return self._command("set_lr", lr)

    def reinit(self, scheme: str, init_std: float | None = None) -> bool:
        return self._command("reinit", scheme, init_std)

    def set_optimizer(self, name: str, **params: Any) -> bool:
        return self._command("set_optimizer", name, **params)

    def set_bn(self, on: bool) -> bool:
        return self._command("set_bn", on)

    def set_average_decay(self, decay: float | None) -> bool:
        """Validate an average of the weights with this decay beside them; None: stop averaging."""
        return self._command("set_average", decay is not None, decay)

    def set_augment(self, on: bool) -> bool:
        return self._command("set_augment", on)

    def _command(self, name: str, *args: Any, **kw: Any) -> bool:
        if not self.live:
            self.errorOccurred.emit("no run is going: start one first")
            return False
        try:
            getattr(self.session, name)(*args, **kw)
        except BabysitError as exc:
            self.errorOccurred.emit(str(exc))
            return False
        return True

    # ------------------------------------------------------------------ the delivery
    def tick(self) -> int:
        """Drain the outbox into the history; refresh every view once if a frame is due.
        Returns the number of items drained."""
        if self._build is not None and not self._build.thread.is_alive():
            self._finish_build()
        if self.session is None:
            return 0
        now = time.perf_counter()
        items = self.session.drain()
        states: list[StateChange] = []
        for message in items:
            self.history.ingest(message)
            if isinstance(message, StateChange):
                states.append(message)
            elif isinstance(message, Boundary):   # asked for by the lab: passed on
                self.otherReceived.emit("boundary", message.as_dict())
        if items:
            self.deliveries += 1
            self._dirty = True
        self.pacer.settle(self.views, self.timer.interval() / 1000.0)
        ending = bool(states) and states[-1].state in ENDED_STATES + (PAUSED, DIVERGED)
        if self._dirty and (ending or self.pacer.due(now)):
            self._draw(now)
        if items:
            self._measure_rate()
            self.progressed.emit(self.progress())
        if states:   # only the newest: the ones before it are already history
            self._set_state(states[-1].state, states[-1].error)
        if self.state in ENDED_STATES and not self._dirty and not self.session.alive:
            self.timer.stop()
        return len(items)

    def _draw(self, now: float) -> None:
        t = time.perf_counter()
        for v in self.views:
            try:
                v.refresh(self.history)
            except Exception as exc:   # one broken chart must not stop the run or the other views
                self._view_failed(v, exc)
        self._dirty = False
        self.frames += 1
        self.pacer.drawn(now, time.perf_counter() - t)

    def progress(self) -> dict:
        s = self.session
        r = self.history.latest_scalars  # the newest row, also when decimation did not store it
        return {"step": int(r["step"]) if r else 0, "epoch": int(r["epoch"]) if r else 0,
                "total_steps": s.total_steps if s else self.history.total_steps or 0,
                "steps_per_epoch": s.steps_per_epoch if s else 0,
                "steps_per_s": self.steps_per_s, "lr": float(r["lr"]) if r else None}

    def _measure_rate(self) -> None:
        """Steps per second over the last ~second (a window, so one slow tick does not jump it)."""
        now, step = time.perf_counter(), max(self.history.last_step, 0)
        if self._rate_mark is None or self.state != RUNNING:
            self._rate_mark = (now, step)
            return
        t0, s0 = self._rate_mark
        if now - t0 >= 0.5:
            rate = (step - s0) / (now - t0)
            self.steps_per_s = rate if self.steps_per_s == 0 else 0.5 * self.steps_per_s + 0.5 * rate
            self._rate_mark = (now, step)

    def _reset_views(self) -> None:
        for v in self.views:
            try:
                v.reset()
            except Exception as exc:
                self._view_failed(v, exc)

    def _view_failed(self, view: View, exc: Exception) -> None:
        key = id(view)
        if key in self._failed_views:
            return
        self._failed_views.add(key)
        traceback.print_exc()          # for whoever maintains the view
        self.errorOccurred.emit(f"{type(view).__name__} could not draw ({type(exc).__name__}: {exc}); "
                                "training goes on")

    def _sync_state(self) -> None:
        """Show a state our own command just set at once (its queued copy arrives later, a no-op)."""
        if self.session is not None and self.session.state in LIVE_STATES:
            self._set_state(self.session.state)

    def _set_state(self, state: str, error: str | None = None) -> None:
        if state == self.state and state != ERROR:
            return
        self.state = state
        if state in (ERROR, DIVERGED):
            self.error = error if error is not None else getattr(self.session, "error", None)
            if state == ERROR:
                self.errorOccurred.emit(self.error or "training failed")
        if state in ENDED_STATES:
            self.steps_per_s = 0.0
        self.stateChanged.emit(state)

    def _fail(self, message: str) -> None:
        self.error = message
        self.errorOccurred.emit(message)
