"""A run in a process of its own: the window watches and steers it, training never shares its interpreter.

    spare = Spare(); spare.warm()            # a worker forked ahead of time, torch already loaded
    run = spare.take().begin(cfg)            # RemoteSession: built there (refusals come back in words)
    run.start(); run.set_lr(1e-2); run.pause(); run.single_step(); run.resume()
    for message in run.drain(): ...          # the run's messages (engine/messages.py), in order
    run.stop()                               # the run ends, recorded with its final weights; the process exits

Two pipes join the window and the worker. Commands go down the first and are answered at once:
checked there and queued to be applied between steps, exactly as in one process
(engine/session.py), or refused in words. The run's messages come up the second, in batches
as the recorder writes them. The worker records its own run in the run store (engine/recording.py's RecordedRun,
the same code `babysit train` uses), so what the window shows and what the store holds come
from one stream. A worker that dies (killed, out of memory, a crash inside torch) ends its
pipes: the window is told in words, keeps the curves it had, and the run is marked crashed.

Workers fork from a forkserver that has imported torch and the trainer once (engine/preload.py),
the same one the sweeps' local pool forks its trial workers from; a forked process shares
nothing with the window but the pipes.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

from .config import RunConfig
from .errors import BabysitError
from .messages import DIVERGED, ENDED_STATES, ERROR, FINISHED, IDLE, LIVE_STATES, Event, Scalars, StateChange
from .recording import RecordedRun

REPLY_SECONDS = 10.0     # the longest a command waits for its answer (the worker answers in milliseconds)
BUILD_SECONDS = 600.0    # building a run can take long (a big data file); Stop drops the build
DRAIN_SECONDS = 0.5      # drain() reads the pipe at most this long: a backlog arrives at once, a flood cannot hold the window
# the session's commands a worker takes by name (engine/session.py's TrainingSession)
SESSION_CALLS = frozenset({"set_lr", "reinit", "set_optimizer", "set_bn", "set_average", "set_augment",
                           "request_boundary", "start", "pause", "resume", "single_step", "set_pace"})
POLL_SECONDS = 0.1       # the worker's command loop looks at its run this often between commands


def context():
    """Processes fork from a forkserver that has loaded torch and the trainer once; forking the
    window itself is unsafe (its threads may hold locks). Spawn where there is no forkserver."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["engine.preload"])  # set once: the server starts on first use
    return ctx


# ====================================================================== the worker's side
def serve(commands, out) -> None:
    """The worker process: build one run when asked, answer commands, send the run's messages up.
    Leaves when the window says stop or its end of the pipes closes (the window ended)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl+C in a terminal reaches the group: the window stops us
    _Served(commands, out).loop()


class _Served:
    def __init__(self, commands, out):
        self.commands, self.out = commands, out
        self.session = None
        self.record: RecordedRun | None = None
        self.problems: list[str] = []
        self.sender: threading.Thread | None = None

    def loop(self) -> None:
        try:
            while True:
                if self.commands.poll(POLL_SECONDS):
                    op, kw = self.commands.recv()
                    if not self.answer(op, kw):
                        break
                self.close_record_when_ended()
        except (EOFError, OSError):   # the window is gone: end the run as stopped, recorded
            pass
        finally:
            self.shut()

    def answer(self, op: str, kw: dict) -> bool:
        """Handle one command and reply; False when the worker should leave."""
        try:
            reply = getattr(self, f"do_{op}")(**kw)
        except BabysitError as exc:
            self.commands.send(("refused", str(exc)))
            return op != "begin"
        except Exception as exc:  # a bug or an odd environment: still words for the window
            self.commands.send(("refused", f"{op} failed: {type(exc).__name__}: {exc}"))
            return op != "begin"
        self.commands.send(("ok", reply))
        return op != "stop"

    # ------------------------------------------------------------------ commands
    def do_begin(self, config: dict, runs_dir: str | None, record: bool, name: str | None,
                 pace: float | None, must_record: bool = False) -> dict:
        from .memory import check_fits
        from .session import TrainingSession, leave_a_core_free
        cfg = RunConfig.from_dict(config).validate()
        check_fits(cfg)
        leave_a_core_free()
        self.session = TrainingSession(cfg, keep_history=False)
        self.session.set_pace(pace)
        if record:
            try:
                self.record = RecordedRun(self.session, runs_dir=runs_dir, name=name)
            except BabysitError as exc:   # the store cannot be used: train anyway, and say so
                if must_record:
                    raise
                self.problems.append(f"this run is not recorded: {exc}")
        self.sender = threading.Thread(target=self.send_messages, name="babysit-send", daemon=True)
        self.sender.start()
        s, problems, self.problems = self.session, self.problems, []
        return {"config": s.cfg.to_dict(), "data": s.data, "total_steps": s.total_steps,
                "steps_per_epoch": s.steps_per_epoch, "device": str(s.device), "problems": problems,
                "run": None if self.record is None else {"id": self.record.id, "name": self.record.name,
                                                         "dir": str(self.record.dir)}}

    def do_call(self, name: str, args: tuple, kw: dict) -> str:
        """One of the session's own commands (engine/session.py), by name: checked there (refused in
        words) and applied between steps, exactly as in one process. The run's state after it."""
        if name not in SESSION_CALLS:
            raise BabysitError(f"a training process does not take '{name}'")
        getattr(self.session, name)(*args, **kw)
        return self.session.state

    def do_load_weights(self, weights: dict) -> None:
        import torch
        self.session.load_weights({k: torch.from_numpy(v) for k, v in weights.items()})

    def do_weights(self) -> dict:
        """The model as it is now (for the window's lab panels): its config and a copy of its weights."""
        state = {k: v.detach().cpu().numpy().copy() for k, v in self.session.model.state_dict().items()}
        return {"config": self.session.cfg.to_dict(), "weights": state}

    def do_steps_taken(self) -> int:
        return self.session.step_count

    def do_stop(self) -> dict:
        last = self.do_weights() if self.session is not None else None   # the window may still read it
        self.shut()          # everything is recorded and sent before the answer
        return {"problems": self.problems, "model": last}

    # ------------------------------------------------------------------ the run's end
    def close_record_when_ended(self) -> None:
        """A run that ended on its own (finished, failed) is closed in the store at once."""
        s = self.session
        if self.record is not None and not self.record.closed and s.state in ENDED_STATES and not s.alive:
            self._close_record()

    def _close_record(self) -> None:
        problem = self.record.close()
        if problem:
            self.problems.append(problem)

    def shut(self) -> None:
        """Stop the run, close its record, send every message still waiting, end the pipe."""
        s, self.session = self.session, None
        if s is None:
            return
        s.stop(None)
        if self.record is not None and not self.record.closed:
            self._close_record()
        s.outbox.put(None)    # the sender's last item
        if self.sender is not None:
            self.sender.join()
        try:
            self.out.close()
        except OSError:
            pass

    def send_messages(self) -> None:
        """The run's messages up the pipe, in batches of what has gathered (the sender's own thread:
        a window slow to read never holds a training step)."""
        outbox = self.session.outbox
        while True:
            batch = [outbox.get()]
            while True:
                try:
                    batch.append(outbox.get_nowait())
                except queue.Empty:
                    break
            last = batch[-1] is None
            batch = [m for m in batch if m is not None]
            try:
                if batch:
                    self.out.send(batch)
            except (OSError, EOFError, BrokenPipeError):
                return      # the window is gone; the loop notices too
            if last:
                return


# ====================================================================== the window's side
class Worker:
    """A worker process waiting for its run (forked now: blocks until the forkserver is up)."""

    def __init__(self):
        ctx = context()
        self._commands, theirs = ctx.Pipe(duplex=True)
        self._out, their_out = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=serve, args=(theirs, their_out), name="babysit-spare", daemon=True)
        self.process.start()
        theirs.close()        # ours closed: the worker sees EOF when this process ends
        their_out.close()

    def begin(self, cfg: RunConfig, *, record: bool = True, runs_dir: str | Path | None = None,
              name: str | None = None, pace: float | None = None, must_record: bool = False) -> "RemoteSession":
        """Build the run in the worker. BabysitError in words if it is refused (too big, bad data;
        with must_record, a store that cannot record it); the worker is then gone. Without
        must_record a run the store cannot take trains unrecorded, and `problems` says why."""
        if record and runs_dir is None:
            from .store import default_runs_dir    # the window's environment, not the forkserver's
            runs_dir = default_runs_dir()
        kw = {"config": cfg.to_dict(), "runs_dir": None if runs_dir is None else str(runs_dir),
              "record": record, "name": name, "pace": pace, "must_record": must_record}
        reply = _call(self, "begin", kw, BUILD_SECONDS)
        self.process.name = "babysit-run"    # no longer a spare: it trains a run
        return RemoteSession(self, reply)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(2.0)


def _call(worker: Worker, op: str, kw: dict | None = None, timeout: float = REPLY_SECONDS) -> Any:
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
    """The window's handle on a run in a worker: the commands and drain() of engine/session.py's
    TrainingSession, with what the window reads of it (state, steps, config, data) kept here,
    as of the messages drained so far."""

    def __init__(self, worker: Worker, built: dict):
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
        self._model = None
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
        """Call the worker's session's own `name` (engine/session.py: checked there, refused in words)."""
        self._note_state(_call(self.worker, "call", {"name": name, "args": args, "kw": kw}, timeout))

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
        _call(self.worker, "load_weights", {"weights": weights})

    def steps_taken(self) -> int:
        """The steps the worker has taken by now (the newest may not have arrived here yet)."""
        return _call(self.worker, "steps_taken")

    def _note_state(self, state: str) -> None:
        if state in LIVE_STATES or state == IDLE:
            self.state = state

    @property
    def model(self):
        """A copy of the run's model as it is now, on the CPU (for reading, never trained here);
        after stop(), as it was at the end."""
        got = self._last_model if self._last_model is not None else _call(self.worker, "weights")
        import torch
        from .model import MLP
        cfg = RunConfig.from_dict(got["config"])
        d = self.data
        if self._model is None or self._model.bn != cfg.bn:
            self._model = MLP(d.n_features, d.n_classes, cfg.depth, cfg.width, cfg.activation, bn=cfg.bn).eval()
        self._model.load_state_dict({k: torch.from_numpy(v) for k, v in got["weights"].items()})
        return self._model

    def stop(self, timeout: float | None = 5.0) -> None:
        """End the run: the worker stops it, records it with its weights, sends what is left and
        leaves. What it sends meanwhile is read here (a full pipe would hold the worker) and waits
        for drain()."""
        from multiprocessing.connection import wait
        process = self.worker.process
        if not process.is_alive():
            return
        limit = time.monotonic() + (REPLY_SECONDS if timeout is None else max(timeout, 1.0) + 5.0)
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


class Spare:
    """One worker forked ahead of time, so Start trains at once (the first fork waits for the
    forkserver to import torch; made on a thread of its own, the window never waits for it)."""

    def __init__(self):
        self._worker: Worker | None = None
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Start making a worker, unless one is ready or on its way."""
        with self._lock:
            if self._worker is not None or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._make, name="babysit-spare", daemon=True)
            self._thread.start()

    def _make(self) -> None:
        try:
            worker = Worker()
        except Exception as exc:  # e.g. no processes can be made here: said when Start is pressed
            self._error = f"could not start a training process: {type(exc).__name__}: {exc}"
            return
        with self._lock:
            self._worker = worker

    def take(self) -> Worker:
        """The spare worker (waiting for it if it is still being made); the next one is not made
        until warm() is called again."""
        self.warm()
        thread = self._thread
        if thread is not None:
            thread.join()
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None or not worker.process.is_alive():
            raise BabysitError(self._error or "the training process could not start")
        return worker

    def close(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
