"""Benchmark 8: does the window draw a sweep of 16 live trials at 30 redraws a second or more?

    python benchmarks/bench_sweep_window.py [--quick]

The real MainWindow (offscreen Qt platform, 1400 x 900) shows its Sweep tab, Trials page. A
feeder thread plays the driver's part (engine/sweep/driver.py's on_message, from a thread of its
own) at a real run's rate: 16 trials at once, each sending a batch of its loss curve every 0.25 s
(trial.py's PROGRESS_SECONDS) and ending after TRIAL_S with a result, when the next trial starts;
a trial's curve has 200 points (trial.py's CURVE_POINTS). No training runs, so the window's own
cost is what is measured:

  redraws per s   paint events of the loss overlay's view (the chart every batch moves), per
                  second; the tab's draws and the scatter's paints are printed beside them
  timer lateness  a 10 ms Qt.PreciseTimer on the GUI thread meanwhile (p99, printed as context)
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time

import common  # noqa: F401
from common import info_line, result_line

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_TMP = tempfile.mkdtemp(prefix="babysit-bench-sweep-window-")
os.environ["BABYSIT_SETTINGS_DIR"] = os.path.join(_TMP, "settings")
os.environ["BABYSIT_SWEEPS_DIR"] = os.path.join(_TMP, "sweeps")
os.environ["BABYSIT_RUNS_DIR"] = os.path.join(_TMP, "runs")

LIVE = 16
PROGRESS_S = 0.25
CURVE_POINTS = 200
TRIAL_S = 2.0


class Feeder(threading.Thread):
    """16 synthetic trials, each a batch of its curve every PROGRESS_S, put where the driver's
    messages go (the tab's runner inbox)."""

    def __init__(self, put, spec, seconds: float):
        super().__init__(daemon=True)
        self.put, self.spec, self.seconds = put, spec, seconds
        self.rng = random.Random(0)
        self.number = 0
        self.sent = 0

    def _start_trial(self) -> dict:
        params = {k: p.from_axis(self.rng.uniform(*p.axis_range())) for k, p in self.spec.space.items()}
        t = {"trial": self.number, "params": params, "points": 0, "loss": 2.3, "steps": [], "losses": []}
        self.put({"kind": "trial_started", "stage": 1, "trial": self.number, "run": f"bench/1-{self.number}",
                  "params": params})
        self.number += 1
        return t

    def run(self) -> None:
        per_batch = int(CURVE_POINTS * PROGRESS_S / TRIAL_S)
        live = [self._start_trial() for _ in range(LIVE)]
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            time.sleep(PROGRESS_S / LIVE)   # the workers' batches arrive spread over the quarter second
            t = live.pop(0)
            steps = list(range(t["points"] * 2 + 1, (t["points"] + per_batch) * 2 + 1, 2))
            losses = []
            for _ in steps:
                t["loss"] *= self.rng.uniform(0.97, 1.01)
                losses.append(t["loss"])
            t["points"] += per_batch
            t["steps"] += steps
            t["losses"] += losses
            self.put({"kind": "progress", "stage": 1, "trial": t["trial"], "steps": steps, "losses": losses})
            self.sent += 1
            if t["points"] >= CURVE_POINTS:
                self.put({"kind": "trial_done", "result": {
                    "trial": t["trial"], "stage": 1, "run": f"bench/1-{t['trial']}", "params": t["params"],
                    "status": "finished", "message": "", "steps": steps[-1], "val_loss": t["loss"],
                    "val_acc": self.rng.uniform(0.5, 0.98), "curve": {"steps": t["steps"], "losses": t["losses"]},
                    "val_probs": None, "val_labels": None, "seconds": TRIAL_S}})
                t = self._start_trial()
            live.append(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    phase_s = 3.0 if args.quick else 10.0

    from PySide6.QtCore import QElapsedTimer, QEvent, QEventLoop, QObject, Qt, QTimer

    from engine.sweep.driver import Sweep
    from engine.sweep.space import load_spec
    from gui.app import ensure_app
    from gui.main_window import MainWindow

    ensure_app()
    win = MainWindow(restore=False, save_settings=False)
    win.resize(1400, 900)
    win.show()
    tab = win.sweep.tab
    win.tabs.setCurrentWidget(win.sweep.page)
    spec = load_spec(os.path.join(common.ROOT, "resources", "sweeps", "lr_reg_coarse_to_fine.toml"))
    sweep = Sweep.create(spec.copy(trials=1000))
    tab.open_sweep(sweep.id)   # an empty sweep: its spec gives the scatter its scales
    tab.views.setCurrentWidget(tab.live_page)

    class PaintCounter(QObject):
        def __init__(self):
            super().__init__()
            self.n = 0

        def eventFilter(self, obj, event):  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                self.n += 1
            return False

    def loop_for(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    warmup_s = 1.5
    feeder = Feeder(tab.runner.inbox.put, spec, warmup_s + phase_s + 1.0)
    feeder.start()
    loop_for(warmup_s)   # the first 16 curves made, the first frames painted

    curves, scatter = PaintCounter(), PaintCounter()
    tab.curves.view.viewport().installEventFilter(curves)
    tab.scatter.view.viewport().installEventFilter(scatter)
    ticks: list[float] = []
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(clock.nsecsElapsed() / 1e6))
    frames0, sent0 = tab.frames, feeder.sent
    clock.start()
    timer.start()
    t0, cpu0 = time.perf_counter(), time.thread_time()
    loop_for(phase_s)
    elapsed, busy = time.perf_counter() - t0, (time.thread_time() - cpu0) / (time.perf_counter() - t0)
    timer.stop()
    frames, sent = (tab.frames - frames0) / elapsed, (feeder.sent - sent0) / elapsed
    redraws = curves.n / elapsed
    late = sorted(max(0.0, b - a - 10.0) for a, b in zip(ticks, ticks[1:]))
    p99 = late[min(len(late) - 1, int(0.99 * len(late)))] if late else float("inf")
    print(info_line("sweep tab", f"{tab.data.running()} trials live, {len(tab.data.finished())} ended, "
                                 f"{sent:.0f} progress batches/s; {frames:.1f} draws/s, {redraws:.1f} loss-overlay "
                                 f"paints/s, {scatter.n / elapsed:.1f} scatter paints/s; 10 ms timer lateness "
                                 f"p99 {p99:.1f} ms over {len(late)} ticks; the GUI thread was on a core "
                                 f"{100 * busy:.0f}% of the time"))
    print(result_line("sweep_window_redraws_per_s", redraws, ">= 30", redraws >= 30, unit="/s", fmt=".1f",
                      note=f"{LIVE} live trials, a batch of each one's loss curve every {PROGRESS_S:g} s"))
    shutil.rmtree(_TMP, ignore_errors=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip Qt's teardown at interpreter exit
