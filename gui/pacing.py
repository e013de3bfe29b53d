"""Frame pacing: how often the controller redraws its views while a run delivers steps.

    pacer = FramePacer()
    if pacer.due(now): draw(); pacer.drawn(now, refresh_seconds)
    pacer.settle(views, tick_seconds)     # on the next tick, once Qt has repainted the views

A frame costs the views' refresh plus the repaint Qt does after it. Both are timed where they
run: the refresh by the caller, the repaint by the views themselves (`take_paint_seconds`).
Wall-clock gaps between ticks are not used: they also count the time the GUI thread waits for a
core, which is not drawing. The next frame waits cost / DRAW_SHARE after the last one began, so
drawing takes at most about that share of the GUI thread, and a frame cheaper than a tick or so
is drawn every tick.
"""
from __future__ import annotations

DRAW_SHARE = 0.7         # drawing may take this share of the GUI thread (training has a process and a core of its own)
MAX_FRAME_WAIT = 0.5     # ... but the charts move at least twice a second
MAX_FRAMES_PER_S = 40    # ... and at most this often: more costs training's core on a small machine, unseen


class FramePacer:
    def __init__(self):
        self.cost = 0.0              # what a frame took lately (seconds, smoothed)
        self._refresh = 0.0          # the last frame's refresh
        self._started: float | None = None   # when the last frame began, until it is settled
        self._next = 0.0

    def due(self, now: float) -> bool:
        return now >= self._next

    def drawn(self, started: float, refresh_seconds: float) -> None:
        self._started, self._refresh = started, refresh_seconds

    def settle(self, views, tick_seconds: float) -> None:
        """Add the views' repaint to the last frame's cost and set when the next one is due."""
        if self._started is None:
            return
        paint = 0.0
        for v in views:
            take = getattr(v, "take_paint_seconds", None)
            if take is not None:
                try:
                    paint += float(take())
                except Exception:   # pacing is a nicety: never let it break the delivery
                    pass
        cost = self._refresh + paint
        self.cost = cost if self.cost == 0 else 0.6 * self.cost + 0.4 * cost
        # half a tick of slack: a frame due just after this tick is drawn now, not a tick late
        wait = self.cost / DRAW_SHARE - 0.5 * tick_seconds
        self._next = self._started + min(MAX_FRAME_WAIT, max(1.0 / MAX_FRAMES_PER_S, wait))
        self._started = None
