"""Engine work on a background thread, its outcome handed back through a queue the GUI polls."""
from __future__ import annotations

import queue
from typing import Any, Callable

from engine.errors import BabysitError


def post_outcome(q: queue.SimpleQueue, what: str, fn: Callable[[], Any]) -> None:
    """Run fn (on the worker thread) and put ("done", its result) or ("error", a message in words)
    on q: the user's mistakes as the engine words them, anything else naming `what` failed."""
    try:
        q.put(("done", fn()))
    except BabysitError as exc:
        q.put(("error", str(exc)))
    except Exception as exc:  # shown in words; the window lives on
        q.put(("error", f"{what} failed: {type(exc).__name__}: {exc}"))
