"""Cyclic garbage collection on the GUI thread only (the window and the app both switch it on).

Python's cyclic garbage collector runs in whichever thread happens to allocate when it is due:
the training thread, the LR finder's. A cycle holding Qt objects (a closed window's widgets)
collected there deletes them off the GUI thread, and Qt deadlocks with the GUI thread deleting
widgets too (seen: an LR finder sweep hung in a collection that reached a QMenu). So automatic
collection is switched off and done on a timer in the GUI thread (after pyqtgraph's
GarbageCollector).
"""
from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

_GC = None
FULL_COLLECTION_EVERY_S = 30.0  # a full collection walks every object (~0.1-0.2 s with torch loaded)


class _GuiThreadCollector(QObject):
    """Cyclic garbage collection on a timer in the GUI thread (see collect_garbage_on_the_gui_thread):
    generations 0 and 1 at the interpreter's own thresholds; a full collection at most every
    FULL_COLLECTION_EVERY_S (the interpreter's own rule, "when a quarter of the long-lived objects
    are new", cannot be read from Python; counting alone made a ~0.2 s full pass every few seconds)."""

    def __init__(self, interval_ms: int = 100):
        super().__init__(QApplication.instance())
        gc.disable()
        self._last_full = time.monotonic()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        (c0, c1, c2), (t0, t1, t2) = gc.get_count(), gc.get_threshold()
        if c0 <= t0:
            return
        generation = 0
        if c1 > t1:
            generation = 1
            if c2 > t2 and time.monotonic() - self._last_full >= FULL_COLLECTION_EVERY_S:
                generation = 2
                self._last_full = time.monotonic()
        gc.collect(generation)


def collect_garbage_on_the_gui_thread() -> None:
    """Switch automatic collection off and collect on a GUI-thread timer (see the module
    docstring). Idempotent; needs the QApplication."""
    global _GC
    if _GC is None:
        _GC = _GuiThreadCollector()
