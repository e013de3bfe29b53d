"""A run built in a worker process, off the GUI thread (the controller's "building" state)."""
from __future__ import annotations

import threading

from engine.train.config import RunConfig
from engine.errors import BabysitError
from engine.runs.history import History


class RunBuild:
    """One run built in a worker process, waited for on a thread of its own. The result is picked
    up by the controller's tick on the GUI thread; a cancelled build's run is stopped when it ends."""

    def __init__(self, cfg: RunConfig, spare, pace: float | None, then: str = "start"):
        self.cfg, self.spare, self.pace, self.then = cfg, spare, pace, then
        self.session = None
        self.history: History | None = None
        self.error: str | None = None
        self.cancelled = False
        self.thread = threading.Thread(target=self.run, name="babysit-build", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        try:
            cfg = self.cfg.copy().validate()
            worker = self.spare.take()
            self.spare.warm()    # the next run's worker: a fork of a process that has torch loaded
            self.session = worker.begin(cfg, pace=self.pace)
            self.history = History()   # its columns' allocation is ~10 ms the GUI thread need not wait for
        except BabysitError as exc:
            self.error = str(exc)
        except Exception as exc:   # a bug or an odd environment: still words, never a traceback
            self.error = f"could not set up the run: {type(exc).__name__}: {exc}"
        if self.cancelled and self.session is not None:
            self.session.stop(1.0)
