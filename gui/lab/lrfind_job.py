"""The LR finder's sweep in a worker process of its own (engine/runs/worker.py): the window never loads torch.

    job = SweepJob(cfg, weights, {"start": 1e-7, "end": 10.0, "steps": 100}, spare=controller.spare)
    job.messages()     # GUI thread, from a timer: the engine.messages.LRFind messages that arrived
    job.stop()         # the sweep is cancelled and its worker leaves (killed if it does not)

Taking a worker (the first waits for its forkserver to import torch) and building the run there
(its data, its model) take seconds, so a thread of its own does both and then asks for the sweep;
the run itself is never started or recorded. A worker that cannot be had or built, a refusal, or a
worker that dies mid-sweep all end as words: `error`, or an LRFind "error" message.
"""
from __future__ import annotations

import threading

from engine.train.config import RunConfig
from engine.errors import BabysitError
from engine.messages import ERROR, LRFind, StateChange
from engine.runs.worker import Spare, Worker

STOP_SECONDS = 1.0   # what stop() waits for the worker to leave before it is killed


class SweepJob:
    def __init__(self, cfg: RunConfig, weights: dict | None, params: dict, spare: Spare | None = None):
        self.cfg, self.weights, self.params, self.spare = cfg, weights, params, spare
        self.error: str | None = None   # words: the sweep could not start
        self.process = None             # the worker's process, once there is one
        self._worker: Worker | None = None
        self._session = None            # engine.runs.remote.RemoteSession, once the sweep was asked for
        self._stopped = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._begin, name="babysit-lrfind", daemon=True)
        self.thread.start()

    @property
    def started(self) -> bool:
        """The worker is sweeping (or has swept): its messages are arriving."""
        return self._session is not None

    def _begin(self) -> None:
        try:
            worker = self.spare.take() if self.spare is not None else Worker()
            if self.spare is not None:
                self.spare.warm()        # the next run's worker
            with self._lock:
                if self._stopped:
                    worker.kill()
                    return
                self._worker, self.process = worker, worker.process
            session = worker.begin(self.cfg, record=False)
            worker.process.name = "babysit-lrfind"   # not a run that trains (begin named it one)
            session.lr_find(self.weights, **self.params)
        except BabysitError as exc:
            self.error = str(exc)
            return
        except Exception as exc:  # a bug or an odd environment: still words, never a traceback
            self.error = f"the LR range test could not start: {type(exc).__name__}: {exc}"
            return
        with self._lock:
            self._session = session
            stopped = self._stopped
        if stopped:                       # closed while the run was being built
            session.stop(STOP_SECONDS)

    def messages(self) -> list[LRFind]:
        """The sweep's messages that have arrived; a worker that died is one "error" message."""
        session = self._session
        if session is None:
            return []
        out = []
        for m in session.drain():
            if isinstance(m, LRFind):
                out.append(m)
            elif isinstance(m, StateChange) and m.state == ERROR:
                out.append(LRFind("error", {"message": f"the LR range test stopped: {m.error}"}))
        return out

    def stop(self) -> None:
        """Cancel the sweep and end its worker: it leaves within about STOP_SECONDS, or is killed."""
        with self._lock:
            self._stopped = True
            worker, session = self._worker, self._session
        if session is not None:
            session.stop(STOP_SECONDS)    # the worker cancels the sweep as it shuts
        elif worker is not None:
            worker.kill()                 # still building its run: nothing there to keep
        self.thread.join(STOP_SECONDS)
