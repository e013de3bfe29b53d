"""A sweep running on a thread of its own, its messages handed to the GUI thread through a queue.

    runner = SweepRunner()
    runner.start(sweep, workers=4)   # Sweep.run(on_message=...) blocks: it runs on the thread
    runner.take()                    # the GUI thread's timer drains the messages (plain dicts)
    runner.stop()                    # the engine ends every trial within 2 s
    runner.join(3.0)

The thread never touches a widget: the driver's messages go into the queue as they are, and a
failure of the sweep itself becomes one more message, {"kind": "error", "message": words}.
"""
from __future__ import annotations

import queue
import threading

from engine.errors import BabysitError


class SweepRunner:
    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.sweep = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, sweep, *, workers: int | None = None, trials: int | None = None,
              backend: str = "local") -> None:
        if self.running:
            raise RuntimeError("a sweep is already running")
        self.sweep = sweep

        def work() -> None:
            try:
                sweep.run(trials=trials, workers=workers, backend=backend, on_message=self.inbox.put)
            except BabysitError as exc:
                self.inbox.put({"kind": "error", "message": str(exc)})
            except Exception as exc:   # the sweep's own failure, said in words; the window goes on
                self.inbox.put({"kind": "error", "message": f"the sweep failed: {type(exc).__name__}: {exc}"})

        self.thread = threading.Thread(target=work, name=f"sweep {sweep.id}", daemon=True)
        self.thread.start()

    def take(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self.inbox.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        if self.running:
            self.sweep.stop()

    def join(self, timeout: float) -> bool:
        """True when no sweep thread is left."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running
