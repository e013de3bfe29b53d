"""The recorder: what leaves a training step, in step order, to the run's sinks.

    recorder = make_recorder(trainer, sinks=[history.ingest, outbox.put])   # a run's, with its diagnostics
    recorder = Recorder(probe, make_diagnostics, sinks=[...])                # the parts, by hand
    recorder.add(step)        # a Trainer.Step: its scalars, then its record (probed/evaluated)
    recorder.event(event)     # a command applied, a failure: after every step added before it
    recorder.flush()          # write what waits
    recorder.end()            # the run ends: what waits, and the final weights' boundary

Order: a step's `Scalars`, then its `Record`, then what the diagnostics find in them, then its
`Boundary` (a run that records them: engine/train/boundary.py's RunBoundaries, on their cadence), then
the next step; an event comes after every step added before it; `end()` sends the final
weights' boundary after everything. The diagnostics are a subscriber
that sees each message in that order and answers with findings ("diagnosis" events).

Steps may wait, to be written together: with `gather` > 1 (the background loop, the command
line) up to `gather` steps wait, never longer than GATHER_SECONDS after the last write, nor while
their activations hold more than GATHER_BYTES; an evaluated step, an event and `flush()` write
them at once. The probe steps among them get their statistics in one pass (`Probe.finish`).
"""
from __future__ import annotations

import time
from typing import Callable

from ..train.diagnostics import Diagnostics
from ..train.boundary import RunBoundaries
from ..messages import Boundary, Event, Message, Record, Scalars
from ..train.probes import Probe
from ..train.trainer import Step, Trainer

GATHER = 32              # steps written in one pass by the background loop ...
GATHER_SECONDS = 1 / 60  # ... never held back longer than a frame of the window at 60 per second
GATHER_BYTES = 16 << 20  # ... nor while their activations take more memory than this


def make_recorder(trainer: Trainer, sinks: list[Callable[[Message], None]], *, gather: int = 1,
                  boundaries: bool = False) -> "Recorder":
    """A run's recorder: its trainer's probe, and diagnostics (engine/train/diagnostics.py) that watch the
    stream and add "diagnosis" events, made again for a fresh network (a re-init); with
    `boundaries`, its decision boundaries too (2-D data only). The session and a sweep's trial
    both record through one of these."""
    recorder = Recorder(trainer.probe, lambda: Diagnostics(trainer.cfg, trainer.data.n_classes), sinks)
    recorder.gather = gather
    if boundaries:
        recorder.draw_boundaries(trainer)
    return recorder


class Recorder:
    def __init__(self, probe: Probe, make_diagnostics: Callable[[], Diagnostics] | None,
                 sinks: list[Callable[[Message], None]]):
        self.probe = probe
        self.sinks = sinks
        self._make_diagnostics = make_diagnostics
        self.diagnostics = make_diagnostics() if make_diagnostics is not None else None
        self.gather = 1          # steps per write (see the module docstring)
        self.boundaries: RunBoundaries | None = None   # draws the run's own boundaries (draw_boundaries)
        self._waiting: list[Step] = []
        self._drawn: dict[int, Boundary] = {}   # the waiting steps' boundaries, by step
        self._changed = False    # the model changed since the last boundary drawn (a step, a command)
        self._diverged = False   # the last step diverged: its model has no boundary worth keeping
        self._bytes = 0          # the waiting probe steps' activations
        self._written_at = time.perf_counter()

    @property
    def pending(self) -> int:
        """Steps added and not yet written."""
        return len(self._waiting)

    def draw_boundaries(self, trainer: Trainer, planned_steps: int | None = None) -> None:
        """Record the run's decision boundaries from now on (2-D data; otherwise nothing)."""
        if self.boundaries is None and trainer.data.n_features == 2:
            self.boundaries = RunBoundaries(trainer, planned_steps)

    def add(self, step: Step) -> None:
        self._changed, self._diverged = True, False
        if self.boundaries is not None:   # drawn now, for the weights this step left; sent after it
            boundary = self.boundaries.due(step.scalars.step)
            if boundary is not None:
                self._drawn[step.scalars.step] = boundary
                self._changed = False
        self._waiting.append(step)
        self._bytes += step.snapshot.nbytes if step.snapshot is not None else 0
        if (len(self._waiting) >= self.gather or step.val is not None
                or time.perf_counter() - self._written_at >= GATHER_SECONDS
                or self._bytes > GATHER_BYTES):
            self.flush()

    def event(self, message: Message) -> None:
        """An event (or a boundary) after the steps added before it."""
        self.flush()
        if isinstance(message, Event):
            self._changed = True   # a command may have changed the model (a re-init, batch norm)
            if message.kind in ("diverged", "reinit"):
                self._diverged = message.kind == "diverged"
        self._send(message)

    def end(self) -> None:
        """The run ends (finished, stopped; from the thread that steps it): what waits, then the
        final weights' boundary unless the last one drawn is of them, or they diverged."""
        self.flush()
        if (self.boundaries is not None and self._changed and not self._diverged
                and self.boundaries.trainer.step_count > 0):
            self._send(self.boundaries.now())
            self._changed = False

    def announce(self, message: Message) -> None:
        """A state change, at once, from any thread: the sinks take it, the diagnostics do not."""
        for sink in self.sinks:
            sink(message)

    def flush(self) -> None:
        steps, self._waiting, self._bytes = self._waiting, [], 0
        self._written_at = time.perf_counter()
        if not steps:
            return
        snapshots = [s.snapshot for s in steps if s.snapshot is not None]
        layers = iter(self.probe.finish(snapshots) if snapshots else [])  # one pass for all of them
        for s in steps:
            messages: list[Message] = [s.scalars]
            if s.snapshot is not None or s.val is not None:
                val_loss, val_acc = s.val or (None, None)
                avg_loss, avg_acc = s.val_avg or (None, None)
                messages.append(Record(s.scalars, next(layers) if s.snapshot else [], val_loss, val_acc,
                                       avg_loss, avg_acc))
            self._send(*messages)
            if self._drawn:
                boundary = self._drawn.pop(s.scalars.step, None)
                if boundary is not None:
                    self._send(boundary)

    def _send(self, *messages: Message) -> None:
        """The messages, then what the diagnostics find in them."""
        findings = []
        for message in messages:
            for sink in self.sinks:
                sink(message)
            findings += self._diagnose(message)
        for finding in findings:
            for sink in self.sinks:
                sink(finding)

    def _diagnose(self, message: Message) -> list[Event]:
        if self.diagnostics is None:  # switched off (e.g. by the LR range test, whose loss must blow up)
            return []
        if isinstance(message, Scalars):
            found = self.diagnostics.observe(message.as_dict(), None)
        elif isinstance(message, Record):
            found = self.diagnostics.observe(None, message.as_dict())
        elif isinstance(message, Event) and message.kind == "reinit":
            self.diagnostics = self._make_diagnostics()  # a fresh network: its first loss, its own findings
            return []
        elif isinstance(message, Event) and message.kind == "diverged":
            found = self.diagnostics.observe(None, None, message.as_dict())
        else:
            return []
        return [Event("diagnosis", f["step"], f["code"], {k: v for k, v in f.items() if k != "step"})
                for f in found]
