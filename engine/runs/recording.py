"""The run store's writer: one run recorded as it trains, without slowing the training loop.

    writer = store.create_run(cfg.to_dict(), total_steps=n)    # engine/runs/store.py
    for message in session.drain(): writer.ingest(message)      # or writer.write(kind, payload)
    writer.save_weights(model.state_dict()); writer.close("finished")
    rec = RecordedRun(session); ...; rec.close()                # a session's whole record (train, the window's worker)

`write`/`ingest` only put the message on a queue; a thread of the writer's own wakes every
COMMIT_SECONDS, turns what arrived into rows and commits them, so a run
killed with `kill -9` loses at most the last half second. Every commit, and every
HEARTBEAT_SECONDS while nothing arrives (a paused run), stamps the run's heartbeat: a run whose
writer died is found as running with a stale heartbeat and reported "crashed".
"""
from __future__ import annotations

import math
import queue
import sqlite3
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BabysitError
from ..fileio import atomic_path, dumps
from .history import SCALAR_KEYS
from ..train.boundaries import pack_grid, pack_plane
from .layer_blobs import pack_layers
from ..messages import DIVERGED, ERROR, LIVE_STATES, Boundary, StateChange
from .store import RunStore
from .store_file import RunStoreError, connect

COMMIT_SECONDS = 0.5     # the writer commits what arrived this often (kill -9 loses at most this much)
HEARTBEAT_SECONDS = 2.0  # an idle writer (a paused run) still stamps its heartbeat this often
# the session's states as a run's status: paused or idle is still running; a failure is a crash
STATUS_OF_STATE = {"idle": "running", "running": "running", "paused": "running", "diverged": "diverged",
                   "finished": "finished", "stopped": "stopped", "error": "crashed"}
TRAIN_MEAN = 50  # the final train loss/accuracy is the mean of the last steps (one batch is noisy)
_KINDS = {"scalars": "scalars", "record": "record", "event": "event", "statechange": "state", "boundary": "boundary"}


def as_payload(message: Any) -> tuple[str | None, Any]:
    """(kind, payload) of a message: an outbox pair (kind, payload) as it is, a typed message
    (engine/messages.py: Scalars, Record, Event, StateChange, a recorded Boundary) as its JSON
    form. A kind the store does not keep (a boundary the window asked for) comes back as None."""
    if isinstance(message, tuple):
        return message
    if isinstance(message, Boundary) and not message.recorded:
        return None, None
    kind = _KINDS.get(type(message).__name__.lower())
    if hasattr(message, "as_dict"):
        return kind, message.as_dict()
    return kind, asdict(message) if is_dataclass(message) else message


@dataclass
class _Batch:
    """The rows of one commit."""
    steps: list[tuple] = field(default_factory=list)  # a step's SCALAR_KEYS, NaN for None
    val: list[tuple] = field(default_factory=list)
    records: list[tuple] = field(default_factory=list)
    histograms: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    planes: list[tuple] = field(default_factory=list)      # the run's boundary plane, with its first boundary
    boundaries: list[tuple] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)  # columns of the run's row to set
    flushed: list[threading.Event] = field(default_factory=list)  # flush() calls waiting for this commit
    n: int = 0


class RunWriter:
    """Records one run (made by RunStore.create_run)."""

    def __init__(self, store: RunStore, run_id: str):
        self.id = run_id
        self.dir, self._path = store.dir, store.path
        self.error: str | None = None  # the last failure to write, in words (a commit is retried)
        self._retrying = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._seq = 0                   # events in the order they came
        self._plane: tuple[int, int] | None = None   # the boundaries' grid (columns, rows), once stored
        self._status = "running"        # from the last state message
        self._losses: deque = deque(maxlen=TRAIN_MEAN)
        self._accs: deque = deque(maxlen=TRAIN_MEAN)
        self._closed = False
        self._final_status: str | None = None
        self._wake = threading.Event()  # close() and flush() wake the writer's thread at once
        self._thread = threading.Thread(target=self._run, name=f"babysit-store-{run_id}", daemon=True)
        self._thread.start()

    def write(self, kind: str, payload: Any) -> None:
        """A message as the session's outbox holds it: kind "scalars" | "record" | "event" | "state"."""
        self._queue.put((kind, payload))

    def ingest(self, message: Any) -> None:
        """A typed message (engine/messages.py) or an outbox pair."""
        kind, payload = as_payload(message)
        if kind is not None:
            self._queue.put((kind, payload))

    def save_weights(self, state_dict: dict) -> Path:
        """The weights as `weights/<run id>.safetensors` next to the database (written now, on the
        caller's thread: safetensors loads without pickle)."""
        from safetensors.torch import save_file
        rel = f"weights/{self.id}.safetensors"
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        with atomic_path(self.dir / rel) as tmp:
            save_file(tensors, str(tmp))
        self._queue.put(("weights", rel))
        return self.dir / rel

    def close(self, status: str | None = None) -> None:
        """Write what waits and end the run as `status`, else as the last state the run sent (a
        run closed while still running was stopped)."""
        if self._closed:
            return
        self._closed = True
        self._final_status = status
        self._wake.set()
        self._thread.join()

    def flush(self) -> None:
        """Commit what was written so far now, and return when it is on disk."""
        if self._closed or not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(("flush", done))
        self._wake.set()
        done.wait()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(None if exc_type is None else "stopped" if exc_type is KeyboardInterrupt else "crashed")

    # -------------------------------------------------------------------- the writer's thread
    def _run(self) -> None:
        try:
            conn = connect(self._path)
        except RunStoreError as exc:
            self.error = str(exc)
            return
        batch = _Batch()
        last_commit = time.monotonic()
        try:
            while True:
                # wakes on a clock, not per message: a wake-up per step would hand the interpreter
                # lock back and forth with the training thread (measured: ~10% of a step)
                self._wake.wait(COMMIT_SECONDS)
                self._wake.clear()
                closing = self._closed
                while True:
                    try:
                        kind, payload = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        self._take(batch, kind, payload)
                    except (KeyError, TypeError, ValueError) as exc:  # a malformed message: the others are kept
                        self.error = f"recording run {self.id}: a {kind!r} message was not kept ({type(exc).__name__}: {exc})"
                if closing:
                    batch.run["status"] = self._final_status or (
                        self._status if self._status != "running" else "stopped")
                    self._commit(conn, batch)
                    for done in batch.flushed:
                        done.set()
                    return
                if batch.n or batch.flushed or time.monotonic() - last_commit >= HEARTBEAT_SECONDS:
                    flushed = batch.flushed
                    if self._commit(conn, batch):
                        batch = _Batch()
                    last_commit = time.monotonic()
                    for done in flushed:  # (a failed commit is retried; the caller hears of it by `error`)
                        done.set()
        finally:
            conn.close()

    def _take(self, batch: _Batch, kind: str, payload: Any) -> None:
        """A message as rows of the batch."""
        run_id = self.id
        if kind == "scalars":
            step, loss = int(payload["step"]), float(payload["loss"])  # checked before anything is kept
            batch.steps.append(tuple(math.nan if (v := payload.get(k)) is None else v for k in SCALAR_KEYS))
            batch.run["steps"] = step
            self._losses.append(loss)
            if payload.get("train_acc") is not None:
                self._accs.append(payload["train_acc"])
        elif kind == "record":
            if "val_loss" in payload:  # an evaluated step: its validation numbers join its scalars row
                batch.val.append((run_id, payload["step"], payload["val_loss"], payload["val_acc"]))
                batch.run["val_loss"], batch.run["val_acc"] = payload["val_loss"], payload["val_acc"]
            if payload.get("layers"):
                names, stats, pcts, extra, edges, counts = pack_layers(payload["layers"])
                batch.records.append((run_id, int(payload["step"]), names, stats, pcts, extra))
                if counts is not None:
                    batch.histograms.append((run_id, int(payload["step"]), edges, counts))
        elif kind == "event":
            self._seq += 1
            batch.events.append((run_id, self._seq, payload.get("step"), payload.get("event"),
                                 payload.get("label"), dumps(payload)))
        elif kind == "state":
            state, error = (payload, None) if isinstance(payload, str) else (payload["state"], payload.get("error"))
            self._status = batch.run["status"] = STATUS_OF_STATE.get(state, "running")
            if error:
                batch.run["error"] = error
        elif kind == "boundary":
            grid = (len(payload["x"]), len(payload["y"]))
            if self._plane is None:
                batch.planes.append((run_id, pack_plane(payload)))
                self._plane = grid
            elif grid != self._plane:
                raise ValueError(f"its grid is {grid[0]} x {grid[1]}, the run's boundaries' {self._plane[0]} x {self._plane[1]}")
            batch.boundaries.append((run_id, int(payload["step"]), pack_grid(payload)))
        elif kind == "weights":
            batch.run["weights"] = payload
        elif kind == "flush":
            batch.flushed.append(payload)
            return
        else:
            return  # a kind the store does not keep
        batch.n += 1

    def _commit(self, conn: sqlite3.Connection, batch: _Batch) -> bool:
        """One transaction: the batch's rows, the run's summary columns and its heartbeat."""
        run = dict(batch.run, heartbeat=time.time())
        if self._losses:
            run["train_loss"] = float(np.mean(self._losses))
        if self._accs:
            run["train_acc"] = float(np.mean(self._accs))
        try:
            conn.execute("BEGIN IMMEDIATE")
            if batch.steps:  # the commit's steps as one blob (store.RunStore.steps)
                table = np.array(batch.steps, np.float64)
                conn.execute("INSERT OR REPLACE INTO steps (run, first, last, data) VALUES (?,?,?,?)",
                             (self.id, int(table[0, 0]), int(table[-1, 0]), table.tobytes()))
            conn.executemany("INSERT OR REPLACE INTO val (run, step, val_loss, val_acc) VALUES (?,?,?,?)", batch.val)
            conn.executemany("INSERT OR REPLACE INTO records (run, step, names, stats, pcts, extra)"
                             " VALUES (?,?,?,?,?,?)", batch.records)
            conn.executemany("INSERT OR REPLACE INTO histograms (run, step, edges, counts) VALUES (?,?,?,?)",
                             batch.histograms)
            conn.executemany("INSERT INTO events (run, seq, step, kind, label, data) VALUES (?,?,?,?,?,?)",
                             batch.events)
            conn.executemany("INSERT OR REPLACE INTO boundary_planes (run, plane) VALUES (?,?)", batch.planes)
            conn.executemany("INSERT OR REPLACE INTO boundaries (run, step, grid) VALUES (?,?,?)", batch.boundaries)
            conn.execute(f"UPDATE runs SET {', '.join(f'{k}=?' for k in run)} WHERE id=?", (*run.values(), self.id))
            conn.execute("COMMIT")
            if self._retrying:  # written after all; a lost message's error stays
                self.error, self._retrying = None, False
            return True
        except sqlite3.Error as exc:  # e.g. the disk is full, or another writer held the file too long
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.error, self._retrying = f"recording run {self.id} failed: {exc} (retrying)", True
            return False


class RecordedRun:
    """A session and its run in the run store: opened with the session, closed with its final
    weights and how it ended. `babysit train` and the window's worker both use it.

        rec = RecordedRun(session, runs_dir=None, name=None)   # every message the run sends is written
        rec.close()                                            # weights, then finished|diverged|stopped
    """

    def __init__(self, session, *, runs_dir: str | Path | None = None, name: str | None = None):
        self.session = session
        self.diverged = False   # the run diverged and was not resumed: it stays "diverged" when stopped
        with RunStore(runs_dir) as store:
            self.writer = store.create_run(session.cfg.to_dict(), name=name, total_steps=session.total_steps)
            info = store.resolve(self.writer.id)
        self.id, self.name, self.dir = info.id, info.name, store.dir
        session.recorder.sinks.append(self._ingest)  # on the training thread: it only queues
        session.record_boundaries()

    def _ingest(self, message: Any) -> None:
        if isinstance(message, StateChange) and message.state in (DIVERGED, *LIVE_STATES):
            self.diverged = message.state == DIVERGED
        self.writer.ingest(message)

    @property
    def closed(self) -> bool:
        return self.writer is None

    def close(self, crashed: str | None = None) -> str | None:
        """End the record (from the thread that owns the session, once no step runs); returns a
        problem in words (the weights or the store could not be written), else None. A run built
        but never stepped is not worth a row: it is deleted."""
        if self.writer is None:
            return None
        session = self.session
        if crashed is None and session.state != ERROR:
            session.recorder.end()   # the final weights' boundary, unless it was sent as the run ended
        writer, self.writer = self.writer, None
        try:
            session.recorder.sinks.remove(self._ingest)
        except ValueError:
            pass
        if crashed is not None:
            writer.write("state", {"state": ERROR, "error": crashed})
            writer.close("crashed")
            return writer.error
        if session.step_count == 0 and not self.diverged:
            writer.close("stopped")
            try:
                with RunStore(writer.dir) as store:
                    store.delete(writer.id)
            except BabysitError:
                pass
            return writer.error
        problem = None
        if session.state != ERROR:
            try:
                writer.save_weights(session.model.state_dict())
            except (OSError, RuntimeError) as exc:
                problem = f"the run's final weights were not saved: {exc}"
        status = ("crashed" if session.state == ERROR else "diverged" if self.diverged
                  else "finished" if session.finished else "stopped")
        writer.close(status)
        return writer.error or problem
