"""Benchmark 5: from process start to the first paint of the main window.

    python benchmarks/bench_startup.py [--quick]

Spawns `python benchmarks/startup_probe.py` (which opens the window the way `python main.py`
does and exits on its first Paint event) and times the child from spawn to exit with the wall
clock. Offscreen Qt platform, an empty run store of its own (the runs browser lists the store as the
window opens: the machine's own store would make the result depend on how many runs it holds).
One untimed run first (disk cache), then the median of 7 (--quick: 2 runs, no warm-up).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import common
from common import info_line, result_line

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "startup_probe.py")
RUNS_DIR = tempfile.mkdtemp(prefix="babysit-bench-runs-")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run() -> tuple[float, float]:
    """Wall-clock and CPU seconds of one start, spawn to first paint."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", BABYSIT_RUNS_DIR=RUNS_DIR)
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, PROBE], cwd=str(common.ROOT), env=env, capture_output=True, text=True,
                       timeout=120)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"startup probe failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return wall, _children_cpu() - cpu0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if not args.quick:
        one_run()  # warm the disk cache
    runs = [one_run() for _ in range(2 if args.quick else 7)]
    walls = [w for w, _ in runs]
    s = statistics.median(walls)
    print(info_line("startup runs", ", ".join(f"{w:.2f}" for w in walls) + " s"))
    # the CPU the start took: what a busy shared machine moves least (wall = CPU + waiting for a core)
    print(info_line("startup CPU", ", ".join(f"{c:.2f}" for _, c in runs) + " s"))
    print(result_line("startup_to_first_paint", s, "<= 2 s", s <= 2.0, unit="s", fmt=".2f",
                      note="median, spawn to first paint of the main window"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
