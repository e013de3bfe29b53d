"""Run every benchmark and print one line per result: `NAME: VALUE (target T) PASS|FAIL`.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --quick    # a smoke test (< 60 s): fewer, shorter repeats

Each benchmark runs in its own process (a Qt application, TensorBoard's writer and a million
history rows do not disturb each other). Ratios are measured side by side inside one process
with interleaved repeats and medians (see common.py). Exit code 0 whether targets pass or fail
(this is a measurement, not a test); non-zero when a benchmark crashed.

    bench_engine.py    1, 2  probe overhead vs a bare PyTorch loop; vs TensorBoard logging
    bench_window.py    3     timer lateness and redraws while training runs flat out
    bench_history.py   4     a million steps in the history store; loss chart redraw
    bench_startup.py   5     process start to first paint
    bench_store.py     6     listing 500 runs; reopening a million-step run; recording a run as it trains vs not
    bench_sweep.py     7     a sweep's trials vs bare loops in parallel processes; Ray's overhead per trial
    bench_sweep_window.py 8  the Sweep tab's redraws with 16 live trials
Extra arguments (e.g. --threads 2) are passed to bench_engine.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = ("bench_engine.py", "bench_history.py", "bench_startup.py", "bench_window.py", "bench_store.py",
              "bench_sweep.py", "bench_sweep_window.py")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    extra = [a for a in argv if a != "--quick"]
    crashed = []
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               PYTHONUNBUFFERED="1")
    t_all = time.perf_counter()
    for name in BENCHMARKS:
        cmd = [sys.executable, os.path.join(HERE, name)] + (["--quick"] if quick else [])
        if name == "bench_engine.py":
            cmd += extra
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=os.path.dirname(HERE), env=env, capture_output=True, text=True)
        for line in r.stdout.splitlines():
            print(line, flush=True)
        if r.returncode != 0:
            crashed.append(name)
            tail = "\n".join(r.stderr.strip().splitlines()[-15:])
            print(f"{name[:-3]}: CRASHED (exit {r.returncode})\n{tail}", flush=True)
        print(f"  ({name} took {time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"  (all benchmarks: {time.perf_counter() - t_all:.0f} s)")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
