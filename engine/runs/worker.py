"""A run in a process of its own: the window watches and steers it, training never shares its interpreter.

    spare = Spare(); spare.warm()            # a worker forked ahead of time, torch already loaded
    run = spare.take().begin(cfg)            # engine/runs/remote.py's RemoteSession: built there (refusals in words)
    run.start(); run.set_lr(1e-2); run.pause(); run.single_step(); run.resume()
    for message in run.drain(): ...          # the run's messages (engine/messages.py), in order
    run.stop()                               # the run ends, recorded with its final weights; the process exits

Two pipes join the window and the worker. Commands go down the first and are answered at once:
checked there and queued to be applied between steps, exactly as in one process
(engine/runs/session.py), or refused in words. The run's messages come up the second, in batches
as the recorder writes them. The worker records its own run in the run store (engine/runs/recording.py's
RecordedRun, the same code `babysit train` uses), so what the window shows and what the store holds
come from one stream. The lab reads the model through the worker too (a validation example's
softmax, batch norm at test time; the LR range test runs in a worker of its own), so the window
needs no torch. A worker that dies (killed, out of memory, a crash inside torch) ends its pipes:
the window is told in words, keeps the curves it had, and the run is marked crashed.

Workers fork from a forkserver that has imported torch and the trainer once (engine/preload.py),
the same one the sweeps' local pool forks its trial workers from; a forked process shares
nothing with the window but the pipes.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..train.config import RunConfig
from ..errors import BabysitError
from ..messages import ENDED_STATES, LRFind
from .recording import RecordedRun
from .remote import RemoteSession, call

BUILD_SECONDS = 600.0    # building a run can take long (a big data file); Stop drops the build
# the session's commands a worker takes by name (engine/runs/session.py's TrainingSession)
SESSION_CALLS = frozenset({"set_lr", "reinit", "set_optimizer", "set_bn", "set_average", "set_augment",
                           "request_boundary", "start", "pause", "resume", "single_step", "set_pace"})
POLL_SECONDS = 0.1       # the worker's command loop looks at its run this often between commands
SWEEP_JOIN_SECONDS = 1.0  # a cancelled LR range test ends within a step: what the worker waits for it


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
        self.reader = None                              # engine/lab/softmax.py's ExampleReader, made on first use
        self.sweep: threading.Thread | None = None      # an LR range test on a thread of its own
        self.sweep_cancel = threading.Event()

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
        from ..train.memory import check_fits
        from .session import TrainingSession, leave_a_core_free
        cfg = RunConfig.from_dict(config).validate()
        check_fits(cfg)
        leave_a_core_free()
        self.session = TrainingSession(cfg, keep_history=False)
        self.session.set_pace(pace)
        self.session.record_boundaries()   # the window draws an ended run's from these: it has no torch
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
        """One of the session's own commands (engine/runs/session.py), by name: checked there (refused in
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

    # ------------------------------------------------------------------ the lab's readings (the window has no torch)
    def do_softmax_example(self, index: int) -> dict:
        """engine/lab/softmax.py's reading of validation example `index` through a copy of the model now."""
        from ..lab.softmax import ExampleReader
        if self.reader is None:
            self.reader = ExampleReader(self.session.data)
        with _read_again_next_time():
            return self.reader.read(self.session.model, int(index))

    def do_bn_test_time(self, batch_indices: list[int], test_batch: int | None) -> dict:
        """engine/lab/bnstats.py's read_test_time, with these training examples as the batch."""
        import torch
        from ..lab.bnstats import read_test_time
        d = self.session.data
        batch = torch.as_tensor(d.X_train[np.asarray(batch_indices, dtype=np.int64)])
        with _read_again_next_time():
            return read_test_time(self.session.model, batch, torch.as_tensor(d.X_val), torch.as_tensor(d.y_val),
                                  test_batch=test_batch)

    def do_lr_find(self, weights: dict | None, start: float, end: float, steps: int) -> None:
        """Start engine/lab/lrfind.py's range test on a thread here, from these weights (numpy arrays;
        None: the run's initial ones) on the run's data. Its steps and its end come up the message
        pipe as LRFind messages; the run itself is never started."""
        if self.sweep is not None and self.sweep.is_alive():
            raise BabysitError("an LR range test is already running in this process")
        self.sweep_cancel.clear()
        params = {"start": start, "end": end, "steps": steps}
        self.sweep = threading.Thread(target=self._sweep, args=(self.session, weights, params),
                                      name="babysit-lrfind", daemon=True)
        self.sweep.start()

    def do_lr_find_cancel(self) -> None:
        self.sweep_cancel.set()    # the sweep ends at its next step, with the result so far

    def _sweep(self, session, weights: dict | None, params: dict) -> None:
        import torch
        from ..lab.lrfind import lr_range_test

        def progress(i: int, lr: float, loss: float) -> bool:
            session.outbox.put(LRFind("step", {"i": i, "lr": lr, "loss": loss}))
            return self.sweep_cancel.is_set()
        state = None if weights is None else {k: torch.from_numpy(v) for k, v in weights.items()}
        try:
            done = LRFind("done", lr_range_test(session.cfg, session.data, model_state=state, progress=progress,
                                                **params))
        except BabysitError as exc:
            done = LRFind("error", {"message": str(exc)})
        except Exception as exc:  # a bug or an odd environment: still words for the window
            done = LRFind("error", {"message": f"the LR range test failed: {type(exc).__name__}: {exc}"})
        session.outbox.put(done)

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
        self.sweep_cancel.set()
        if self.sweep is not None:
            self.sweep.join(SWEEP_JOIN_SECONDS)   # its last message goes up before the pipe ends
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


@contextmanager
def _read_again_next_time():
    """A reading that met the model mid-change (batch norm switched between two of its lines) is
    refused in words: the next one is whole again."""
    try:
        yield
    except BabysitError:
        raise
    except (RuntimeError, KeyError, ValueError) as exc:
        raise BabysitError(f"could not read the model this time ({type(exc).__name__}); it is read again "
                           "on the next step") from None


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
        reply = call(self, "begin", kw, BUILD_SECONDS)
        self.process.name = "babysit-run"    # no longer a spare: it trains a run
        return RemoteSession(self, reply)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(2.0)


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
