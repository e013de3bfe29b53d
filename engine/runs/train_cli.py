"""`babysit train`: a run trained headless in a worker process, as the window trains it, with a
progress bar on stderr, the --metrics-out stream, and a summary on stdout.

    python main.py train --dataset spiral --steps 400 --metrics-out run.jsonl

Called by engine/cli.py, which parses the flags (one per RunConfig setting).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

from ..cli import PROG, UsageError, config_from_args
from ..errors import BabysitError


def cmd_train(args: argparse.Namespace) -> int:
    """Train headless in a worker process (engine/runs/worker.py), as the window does: the run is
    built, recorded and trained there; its messages come up a pipe to the progress bar, the
    metrics file and the summary. A worker that dies (out of memory, killed) is said in words."""
    from .history import History
    from ..messages import DIVERGED, ERROR, Event, Scalars
    from .worker import Worker
    cfg = config_from_args(args)
    out = MetricsFile(args.metrics_out) if args.metrics_out else None  # checked before anything trains
    worker = Worker()
    try:
        # a name taken or a store that cannot be written is the user's to fix before training
        session = worker.begin(cfg, record=getattr(args, "record", True), runs_dir=args.runs_dir, name=args.name,
                               must_record=True)
    except BabysitError:
        worker.kill()
        if out is not None:
            out.close()
        raise
    if session.run is not None:
        print(f"run {session.run['id']} ({session.run['name']}), recorded in {session.run['dir']}", flush=True)
    for problem in session.problems:
        print(f"{PROG}: warning: {problem}", file=sys.stderr)
    history = History()
    bar = Progress(session.total_steps, enabled=not args.quiet)
    last_loss: list[float | None] = [None]

    def deliver(messages: list) -> None:
        if out is not None:
            out.write(messages)
        for m in messages:
            history.ingest(m)
            if isinstance(m, Scalars) and math.isfinite(m.loss):
                last_loss[0] = m.loss
            elif isinstance(m, Event) and m.kind == "diagnosis":
                bar.clear()
                print(_finding_line(m.as_dict()), file=sys.stderr)
        bar.update(session.step_count, last_loss[0])

    t0 = time.perf_counter()
    try:
        session.start()
        session.follow(deliver)
    except KeyboardInterrupt:
        bar.clear()
        print("interrupted: stopping (metrics so far are kept)", file=sys.stderr)
    except BabysitError as exc:   # the worker stopped answering: what it sent is still read below
        bar.clear()
        print(f"{PROG}: error: {exc}", file=sys.stderr)
    finally:
        elapsed = time.perf_counter() - t0
        failed = session.state if session.state in (DIVERGED, ERROR) else None   # stop() says "stopped"
        session.stop()   # recorded with its final weights; what it sent meanwhile waits for drain()
        deliver(session.drain())
        bar.clear()
        if out is not None:
            out.close()
    for problem in session.problems:
        print(f"{PROG}: warning: {problem}", file=sys.stderr)
    state = failed or session.state
    _summary(session, history, state, elapsed, args.metrics_out if out is None or out.error is None else None)
    if state == ERROR:   # e.g. the training process died: the steps it sent are summed up above
        print(f"{PROG}: error: {session.error}", file=sys.stderr)
    if out is not None and out.error is not None:
        print(f"{PROG}: error: {out.error}", file=sys.stderr)
        return 1
    return 1 if state in (DIVERGED, ERROR) else 0  # scripts can tell a failed run from a finished one


class MetricsFile:
    """The --metrics-out stream: one JSON line per record (probed or evaluated step) and event,
    flushed with each batch of messages (at most GATHER_SECONDS apart), so a killed run loses at
    most the last batch. A file that cannot be written is refused before anything trains."""

    def __init__(self, path: str):
        self.path = path
        self.error: str | None = None
        try:
            self.file = open(path, "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the metrics file {path}: {exc.strerror or exc}") from None
        try:
            os.write(self.file.fileno(), b"")  # a file that takes no bytes (/proc/version, /dev/full) says so now
        except OSError as exc:
            self._close_quietly()
            raise UsageError(f"cannot write the metrics file {path}: {exc.strerror or exc}") from None

    def write(self, messages: list) -> None:
        from ..fileio import dumps
        from ..messages import Event, Record
        lines = [dumps(m.as_dict()) + "\n" for m in messages if isinstance(m, (Record, Event))]
        if not lines or self.file is None:
            return
        try:
            self.file.write("".join(lines))
            self.file.flush()
        except OSError as exc:  # e.g. the disk filled up: training goes on, the summary is printed
            self.error = f"could not write the metrics file {self.path}: {exc.strerror or exc}; training went on without it"
            self._close_quietly()

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError as exc:
                self.error = f"could not write the metrics file {self.path}: {exc.strerror or exc}"
            self.file = None

    def _close_quietly(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        self.file = None


def _finding_line(event: dict) -> str:
    from ..train.diagnostics import format_finding
    return format_finding(event)


def _summary(session, h, state: str, elapsed: float, metrics_out: str | None) -> None:
    from ..messages import DIVERGED
    steps = session.step_count
    lines = [f"trained {steps} steps in {elapsed:.1f} s ({steps / max(elapsed, 1e-9):.0f} steps/s) "
             f"on {session.cfg.dataset} ({session.data.n_train} train / {session.data.n_val} val, "
             f"{session.data.n_classes} classes), device {session.device}"]
    if len(h):
        # one batch's loss is noisy (a short last batch of an epoch more so): the end of the run is
        # the mean of its last recorded steps
        loss, acc, at = h.column("loss"), h.column("train_acc"), h.column("step")
        k = min(50, len(loss))
        span = f"step {int(at[-1])}" if k == 1 else f"steps {int(at[-k])}-{int(at[-1])}"
        lines.append(f"loss {float(loss[0]):.4f} at step {int(at[0])} -> {float(loss[-k:].mean()):.4f} "
                     f"(mean of {span})   train acc {float(acc[-k:].mean()):.3f}")
    if len(h.val_column("step")):
        lines.append(f"val loss {float(h.val_column('val_loss')[-1]):.4f}   val acc {float(h.val_column('val_acc')[-1]):.3f}")
    if state == DIVERGED:
        lines.append(f"DIVERGED: {session.error}")
    if metrics_out:
        lines.append(f"metrics: {metrics_out}")
    print("\n".join(lines))


class Progress:
    """A one-line progress bar on stderr (plain periodic lines when stderr is not a terminal)."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.enabled = total, enabled
        self.tty = sys.stderr.isatty()
        self.t0 = self.last = time.perf_counter()
        self.shown = False
        self.next_pct = 10

    def update(self, step: int, loss: float | None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        pct = 100 * step / max(self.total, 1)
        rate = step / max(now - self.t0, 1e-9)
        loss_s = f"{loss:.4f}" if loss is not None else "-"
        if self.tty:
            if now - self.last < 0.1 and step < self.total:
                return
            filled = int(30 * step / max(self.total, 1))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {step}/{self.total} loss {loss_s} {rate:.0f} steps/s")
            sys.stderr.flush()
            self.shown = True
        elif pct >= self.next_pct or step == self.total:
            sys.stderr.write(f"step {step}/{self.total} ({pct:.0f}%) loss {loss_s} {rate:.0f} steps/s\n")
            self.next_pct = (int(pct) // 10 + 1) * 10
        self.last = now

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()
            self.shown = False
