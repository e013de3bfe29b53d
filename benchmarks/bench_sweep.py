"""Benchmark 7: what running trials as a sweep costs against bare training loops in parallel.

    python benchmarks/bench_sweep.py [--quick] [--no-ray]

local  One trial per core (the engine benchmark's workload: 4 x 256 ReLU MLP on digits, batch 128,
       Adam), run as a sweep on the local backend, against the same number of bare PyTorch loops
       (bench_engine.BareLoop) in fresh worker processes of the same kind, each building its model and
       data and evaluating once at the end like a trial. Rate of a trial or loop = its steps / its
       own process CPU seconds (the machine is shared: waiting for a core is not the sweep's
       cost); the ratio is sum of trial rates / sum of loop rates, the median over rounds that
       alternate which goes first. Wall-clock steps/s of both are printed beside.
ray    A local Ray instance (its start time printed), warmed by one sweep; then tiny trials on it
       and on the local backend: overhead per trial = sweep wall time x workers / trials - the
       trials' own mean seconds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent import futures

import common  # noqa: F401  (puts the repository root on sys.path)
from common import BENCH_CONFIG, info_line, machine, result_line

os.environ.setdefault("BABYSIT_SWEEPS_DIR", tempfile.mkdtemp(prefix="babysit-bench-sweeps-"))

from engine.sweep.driver import Sweep  # noqa: E402
from engine.runs.worker import context  # noqa: E402
from engine.sweep.space import parse_spec  # noqa: E402

TARGET = 0.85


def bare_loop(steps: int) -> tuple[int, float, float]:
    """In a worker: build, train `steps` bare steps, evaluate once -> (steps, cpu s, wall s)."""
    import torch
    from bench_engine import BareLoop
    from engine.train.config import RunConfig
    from engine.train.data import build_dataset
    torch.set_num_threads(1)
    c0, w0 = time.process_time(), time.perf_counter()
    cfg = RunConfig(**dict(BENCH_CONFIG, steps=steps))
    loop = BareLoop(cfg, build_dataset(cfg))
    loop.run(steps)
    with torch.no_grad():
        loop.model.eval()
        loop.model(torch.as_tensor(build_dataset(cfg).X_val)).argmax(1)
    return steps, time.process_time() - c0, time.perf_counter() - w0


def sweep_spec(workers: int, steps: int, **top):
    base = {k: v for k, v in BENCH_CONFIG.items() if k not in ("steps", "eval_every")}
    lrs = [1e-3 * (1 + i / 100) for i in range(workers)]  # the same work, distinct trials
    return parse_spec({"base": base, "space": {"lr": {"values": lrs}}, "sampler": "grid",
                       "trials": workers, "steps": steps, **top})


def local_round(workers: int, steps: int, bare_first: bool) -> tuple[float, float, float, float]:
    """-> (sweep rate sum, bare rate sum, sweep wall steps/s, bare wall steps/s)."""
    def sweep():
        t0 = time.perf_counter()
        results = Sweep.create(sweep_spec(workers, steps)).run(workers=workers)
        assert all(r["status"] == "finished" for r in results), [r["message"] for r in results]
        wall = sum(r["steps"] for r in results) / (time.perf_counter() - t0)
        return sum(r["steps"] / r["cpu_seconds"] for r in results), wall

    def bare():  # in fresh processes, like the sweep's (the forkserver has loaded torch for both)
        t0 = time.perf_counter()
        with futures.ProcessPoolExecutor(workers, mp_context=context()) as pool:
            loops = list(pool.map(bare_loop, [steps] * workers))
        return sum(s / c for s, c, _ in loops), sum(s for s, _, _ in loops) / (time.perf_counter() - t0)

    if bare_first:
        (b, bw), (s, sw) = bare(), sweep()
    else:
        (s, sw), (b, bw) = sweep(), bare()
    return s, b, sw, bw


def ray_overhead(workers: int, trials: int) -> None:
    import ray
    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    print(info_line("ray start", f"{time.perf_counter() - t0:.1f} s for a local instance of {workers} CPUs"))
    try:
        Sweep.create(sweep_spec(trials, 20)).run(workers=workers, backend="ray")  # warm the workers
        for backend in ("local", "ray"):
            Sweep.create(sweep_spec(trials, 20)).run(workers=workers, backend=backend)  # warm
            t0 = time.perf_counter()
            results = Sweep.create(sweep_spec(trials, 20)).run(workers=workers, backend=backend)
            wall = time.perf_counter() - t0
            own = statistics.mean(r["seconds"] for r in results)
            per = wall * workers / trials - own
            print(info_line(f"{backend} overhead per trial", f"{per * 1000:.0f} ms ({trials} trials of 20 steps, "
                            f"{workers} workers, sweep {wall:.2f} s, a trial's own time {own * 1000:.0f} ms)"))
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args(argv)
    workers = os.cpu_count() or 1
    steps, rounds = (300, 1) if args.quick else (1500, 3)
    print(info_line("machine", machine()))
    Sweep.create(sweep_spec(workers, 20)).run(workers=workers)  # starts the forkserver
    rows = [local_round(workers, steps, bare_first=r % 2 == 1) for r in range(rounds)]
    ratio = statistics.median(s / b for s, b, _, _ in rows)
    print(result_line("sweep_local_vs_bare_parallel", ratio, f">= {TARGET}", ratio >= TARGET, unit="x",
                      note=f"{workers} trials x {steps} steps, median of {rounds}"))
    s, b, sw, bw = (statistics.median(x[i] for x in rows) for i in range(4))
    print(info_line("rates", f"trials {s:.0f} steps/CPU-s summed, bare loops {b:.0f}; wall clock: sweep "
                    f"{sw:.0f} steps/s, bare {bw:.0f} steps/s ({sw / bw:.3f}x)"))
    if not args.no_ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print(info_line("ray", "not installed (pip install 'babysit[ray]'): overhead not measured"))
        else:
            ray_overhead(workers, trials=4 * workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
