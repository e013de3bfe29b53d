"""Shared pieces of the benchmarks: the reference workload, interleaved timing, result lines.

Every ratio is measured side by side in one process: the variants take turns running a block of
steps (the order rotates each repeat), each block is timed on its own, the ratio is taken within
a repeat (blocks that ran next to each other, so a noisy neighbour hits both), and the median over
repeats is reported. Absolute rates are printed only as context; the ratios are the results.
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The reference workload of the issue: a 4 x 256 ReLU MLP on sklearn's digits, batch 128, Adam.
# Validation is switched off in every loop (eval_every beyond the run): it is not probing, and the
# bare loop would otherwise have to do the same forward passes on the validation split.
BENCH_CONFIG = dict(dataset="digits", depth=4, width=256, activation="relu", batch_size=128,
                    optimizer="adam", lr=1e-3, seed=0, device="cpu", steps=100_000_000,
                    eval_every=100_000_000)


def result_line(name: str, value: float, target: str, ok: bool, unit: str = "", fmt: str = ".3f",
                note: str = "") -> str:
    unit = f" {unit}" if unit else ""
    note = f"  [{note}]" if note else ""
    return f"{name}: {value:{fmt}}{unit} (target {target}) {'PASS' if ok else 'FAIL'}{note}"


def info_line(name: str, text: str) -> str:
    return f"  {name}: {text}"


def interleaved(variants: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run each variant's block `repeats` times, rotating the order; each call returns a rate."""
    names = list(variants)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            out[n].append(variants[n]())
    return out


def median_ratio(num: list[float], den: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(num, den))


def thread_cpu_time() -> float:
    """CPU time of the calling thread. The engine loops do all their work on the calling thread,
    so on a machine shared with other busy processes this measures their steps without the time
    spent waiting for a core, which wall-clock time counts. Process CPU time would also count other
    threads of this process, e.g. TensorBoard's event-writer thread still draining its queue while
    the next loop's block is timed."""
    return time.thread_time()


def machine() -> str:
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads), {platform.system()}")
