"""Where trials run: a pool of local worker processes, or Ray tasks. The driver sees the same thing.

    ex = LocalExecutor(workers=4)  |  RayExecutor(workers=4, address=None)
    ex.start()
    handle = ex.submit(task)                  # a trial (engine/sweep/trial.py's train_trial)
    for handle, result in ex.wait(handles, timeout=0.1): ...   # result: a dict, or the exception
    ex.channel.take()                         # progress and halving reports sent by the workers
    ex.stop(handles)                          # every running trial ends within 2 s
    ex.close()

Workers and driver share one `Channel` (messages up, halving verdicts and the stop flag down). It
is a plain object hosted where every worker can reach it: in a multiprocessing manager process
(local) or as a Ray actor. Workers look at the stop flag every PROGRESS_SECONDS; those still
running after `grace` are killed.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

from ..runs.worker import context
from .trial import train_trial

STOP_GRACE = 1.5  # seconds a stopped trial has to return before its worker is killed


class Channel:
    """Messages from workers to the driver, halving verdicts and the stop flag back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict] = []
        self._verdicts: dict[tuple, bool] = {}
        self._stop = False

    def send(self, messages: list[dict]) -> None:
        with self._lock:
            self._messages.extend(messages)

    def take(self) -> list[dict]:
        with self._lock:
            out, self._messages = self._messages, []
        return out

    def set_verdict(self, stage: int, trial: int, step: int, prune: bool) -> None:
        with self._lock:
            self._verdicts[(stage, trial, step)] = prune

    def verdict(self, stage: int, trial: int, step: int) -> bool | None:
        with self._lock:
            return self._verdicts.pop((stage, trial, step), None)

    def stop(self) -> None:
        self._stop = True

    def stopped(self) -> bool:
        return self._stop


def default_workers() -> int:
    return os.cpu_count() or 1


def _leave_with(driver: int) -> None:
    """A pool worker or the channel's process leaves with its driver, however that ends (a
    worker idle in the pool holds its own task pipe open and would wait forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group: the driver stops us in order
    if os.name == "nt":  # there os.kill(pid, 0) would end the driver, not look at it
        return

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(driver, 0)
            except ProcessLookupError:
                os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


class _Manager(BaseManager):
    pass


_Manager.register("Channel", Channel)


class LocalExecutor:
    """A pool of `workers` processes."""
    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or default_workers())
        self.channel: Any = None
        self._ctx = context()  # forks from the forkserver the window's runs fork from
        self._manager: _Manager | None = None
        self._pool: futures.ProcessPoolExecutor | None = None

    def start(self) -> None:
        self._manager = _Manager(ctx=self._ctx)
        self._manager.start(_leave_with, (os.getpid(),))
        self.channel = self._manager.Channel()
        self._pool = self._new_pool()

    def _new_pool(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=_leave_with,
                                           initargs=(os.getpid(),))

    def submit(self, task: dict) -> futures.Future:
        return self._pool.submit(train_trial, task, self.channel)

    def wait(self, handles, timeout: float) -> list[tuple[Any, Any]]:
        if not handles:
            return []
        done, _ = futures.wait(list(handles), timeout=timeout, return_when=futures.FIRST_COMPLETED)
        out, broken = [], False
        for f in done:
            exc = futures.CancelledError() if f.cancelled() else f.exception()
            out.append((f, exc if exc is not None else f.result()))
            broken |= isinstance(exc, BrokenProcessPool)
        if broken and self._pool is not None:  # a worker died (killed, out of memory): its pool is unusable, the sweep goes on
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return out

    def stop(self, handles) -> None:
        self.channel.stop()
        futures.wait(list(handles), timeout=STOP_GRACE)
        self._kill()

    def _kill(self) -> None:
        if self._pool is None:
            return
        # Python 3.14 has ProcessPoolExecutor.kill_workers(); before it, the pool's own table
        for p in list((self._pool._processes or {}).values()):  # noqa: SLF001
            if p.is_alive():
                p.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._manager is not None:
            self._manager.shutdown()
            self._manager = None


class RayChannel:
    """The driver's and the workers' handle on a Channel living in a Ray actor."""

    def __init__(self, actor):
        self.actor = actor

    def send(self, messages: list[dict]) -> None:
        self.actor.send.remote(messages)  # fire and forget: one caller's calls keep their order

    def _get(self, ref):
        import ray
        return ray.get(ref)

    def take(self) -> list[dict]:
        return self._get(self.actor.take.remote())

    def set_verdict(self, stage: int, trial: int, step: int, prune: bool) -> None:
        self._get(self.actor.set_verdict.remote(stage, trial, step, prune))

    def verdict(self, stage: int, trial: int, step: int) -> bool | None:
        return self._get(self.actor.verdict.remote(stage, trial, step))

    def stop(self) -> None:
        self._get(self.actor.stop.remote())

    def stopped(self) -> bool:
        return self._get(self.actor.stopped.remote())


class RayExecutor:
    """Trials as Ray tasks (one CPU each) on the cluster at `address`, or on a local Ray instance
    started for the sweep (and shut down after it) when no address is given and none is running."""
    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        self.workers = max(1, workers or default_workers())
        self.address = address
        self.channel: RayChannel | None = None
        self._owns = False

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            from ..errors import ConfigError
            raise ConfigError("the Ray backend needs Ray: pip install 'babysit[ray]'") from None
        if ray.is_initialized():  # the caller's own Ray (a notebook, a benchmark): used, left running
            pass
        elif self.address:
            # the cluster gets this copy of the engine package with each job
            engine_dir = str(Path(__file__).resolve().parents[1])
            ray.init(address=self.address, runtime_env={"py_modules": [engine_dir]},
                     log_to_driver=False, configure_logging=False)
        else:
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
            self._owns = True
        actor = ray.remote(num_cpus=0)(Channel).remote()
        self.channel = RayChannel(actor)
        self._remote = ray.remote(num_cpus=1, max_retries=0)(train_trial)

    def submit(self, task: dict):
        return self._remote.remote(task, self.channel)

    def wait(self, handles, timeout: float) -> list[tuple[Any, Any]]:
        import ray
        handles = list(handles)
        if not handles:
            return []
        ready, _ = ray.wait(handles, num_returns=1, timeout=timeout)
        if ready:  # and whatever else is done by now
            ready, _ = ray.wait(handles, num_returns=len(handles), timeout=0)
        out = []
        for ref in ready:
            try:
                out.append((ref, ray.get(ref)))
            except Exception as exc:  # the task's worker died
                out.append((ref, exc))
        return out

    def stop(self, handles) -> None:
        import ray
        handles = list(handles)
        self.channel.stop()
        if handles:
            _, left = ray.wait(handles, num_returns=len(handles), timeout=STOP_GRACE)
            for ref in left:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        import ray
        if self._owns and ray.is_initialized():
            ray.shutdown()
        self._owns = False


def make_executor(backend: str, workers: int | None, address: str | None = None):
    if backend == "ray":
        return RayExecutor(workers, address)
    if address:
        from ..errors import ConfigError
        raise ConfigError("--address is for the Ray backend (add --backend ray)")
    return LocalExecutor(workers)
