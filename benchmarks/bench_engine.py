"""Benchmarks 1 and 2: what probing costs against a bare PyTorch loop and against TensorBoard.

    python benchmarks/bench_engine.py [--quick] [--threads N] [--device cpu|cuda]

Four loops train the same MLP (engine.train.model.MLP, 4 x 256 ReLU) on the same digits tensors with
the same batch sampling (a seeded randperm walked in slices), the same Adam and cross-entropy:

    bare     model(x) -> loss -> zero_grad -> backward -> step. No host sync, nothing recorded.
    engine   TrainingSession.step() as a run's worker calls it: commands, lr schedule, probes, the
             one host sync per step (loss and train accuracy, for divergence detection and the loss
             curve), diagnostics, outbox. Probes every 10 steps (the default) and on every step.
    tb       the bare loop plus what a TensorBoard user writes to log the same numbers at the same
             cadence: loss and train accuracy every step (add_scalar), and on probe steps an
             activation histogram (add_histogram, same bin count) plus mean/std/dead fraction per
             hidden layer and weight norm, grad norm and update ratio per Linear (add_scalar).

Overhead of a loop = bare steps/s / its steps/s - 1 (extra time per step, as a fraction).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time

import common  # noqa: F401  (puts the repository root on sys.path)
from common import BENCH_CONFIG, interleaved, median_ratio, result_line, info_line, machine, thread_cpu_time

import torch
import torch.nn.functional as F

from engine.train.config import RunConfig
from engine.train.data import build_dataset
from engine.runs.recorder import GATHER
from engine.runs.session import TrainingSession
from engine.train.trainer import Trainer


class BareLoop:
    """The limit: the plain PyTorch loop on the engine's own model, optimizer and tensors."""

    def __init__(self, cfg: RunConfig, dataset):
        s = Trainer(cfg, dataset)  # only to build the same objects
        self.model, self.optimizer, self.X, self.y = s.model, s.optimizer, s.X, s.y
        self.n_train, self.batch_size = s.n_train, s.batch_size
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.perm: torch.Tensor | None = None
        self.pos = 0
        self.step_count = 0

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.perm is None or self.pos >= self.n_train:
            self.perm = torch.randperm(self.n_train, generator=self.gen)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.X[idx], self.y[idx]

    def run(self, n: int) -> None:
        model, opt = self.model, self.optimizer
        for _ in range(n):
            xb, yb = self.batch()
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        self.step_count += n


class TensorBoardLoop(BareLoop):
    """The peer: the bare loop plus idiomatic SummaryWriter logging of the same statistics."""

    def __init__(self, cfg: RunConfig, dataset, logdir: str):
        super().__init__(cfg, dataset)
        from torch.utils.tensorboard import SummaryWriter
        before = set(threading.enumerate())
        self.writer = SummaryWriter(logdir)
        # the event-writer thread(s) SummaryWriter starts: their CPU time is TensorBoard's cost too
        self.writer_clocks = [time.pthread_getcpuclockid(t.ident) for t in set(threading.enumerate()) - before
                              if t.ident is not None]
        self._writer_cpu = self.writer_cpu_total()
        self.every = cfg.probe_every
        self.bins = cfg.hist_bins
        self.names = self.model.layer_names()
        self.acts: list[torch.Tensor | None] = [None] * len(self.model.acts)
        self.armed = False
        for i, act in enumerate(self.model.acts):
            act.register_forward_hook(self._hook(i))

    def _hook(self, i: int):
        def hook(module, inputs, output):
            if self.armed:
                self.acts[i] = output.detach()
        return hook

    def run(self, n: int) -> None:
        model, opt, w = self.model, self.optimizer, self.writer
        linears = model.all_linears
        for _ in range(n):
            step = self.step_count = self.step_count + 1
            log = step % self.every == 0
            xb, yb = self.batch()
            self.armed = log
            logits = model(xb)
            self.armed = False
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if log:
                before = [l.weight.detach().clone() for l in linears]
                grad_norms = [l.weight.grad.norm().item() for l in linears]
            opt.step()
            w.add_scalar("loss", loss.item(), step)
            w.add_scalar("train_acc", (logits.argmax(1) == yb).float().mean().item(), step)
            if log:
                with torch.no_grad():
                    for name, a in zip(self.names, self.acts):
                        w.add_histogram(f"{name}/activations", a, step, bins=self.bins)
                        w.add_scalar(f"{name}/act_mean", a.mean().item(), step)
                        w.add_scalar(f"{name}/act_std", a.std().item(), step)
                        w.add_scalar(f"{name}/dead_frac", (a <= 0).float().mean().item(), step)
                    for name, l, b, g in zip(self.names, linears, before, grad_norms):
                        wn = l.weight.norm().item()
                        w.add_scalar(f"{name}/weight_norm", wn, step)
                        w.add_scalar(f"{name}/grad_norm", g, step)
                        w.add_scalar(f"{name}/update_ratio", (l.weight - b).norm().item() / b.norm().item(), step)
                self.acts = [None] * len(self.acts)


    def writer_cpu_total(self) -> float:
        return sum(time.clock_gettime(c) for c in self.writer_clocks)

    def background_cpu(self) -> float:
        """CPU time the writer thread used since the last call: it serialises and writes what the
        loop logged, partly while other variants' blocks run, so it is charged to this loop."""
        now = self.writer_cpu_total()
        spent, self._writer_cpu = now - self._writer_cpu, now
        return spent


class EngineLoop:
    """The engine as a run's worker process trains it (engine/runs/worker.py): no History of its
    own (the window keeps that), steps written GATHER at a time (engine/runs/recorder.py), and all
    of them when the loop stops."""

    def __init__(self, cfg: RunConfig, dataset):
        self.session = TrainingSession(cfg, dataset, keep_history=False)
        self.session.gather = GATHER

    def run(self, n: int) -> None:
        step = self.session.step
        for _ in range(n):
            step()
        self.session.flush()


def rate_of(instances: list, n: int, sync=lambda: None):
    """A block of n steps -> (steps per CPU second, steps per wall-clock second). Successive
    blocks rotate through `instances` of the same loop: each instance has its own model, optimizer
    and buffers at their own addresses, and where those land in memory moves a loop's speed by a
    few percent for its whole life (two identical bare loops measured 3.21 and 3.31 ms/step), a
    bias that repeating one instance would never average out."""
    turn = [0]

    def block() -> tuple[float, float]:
        loop = instances[turn[0] % len(instances)]
        turn[0] += 1
        c0, w0 = thread_cpu_time(), time.perf_counter()
        loop.run(n)
        sync()  # a GPU's queued kernels belong to the block that queued them
        c1, w1 = thread_cpu_time(), time.perf_counter()
        if isinstance(loop, TensorBoardLoop):
            # SummaryWriter serialises and writes events on a background thread: waiting for it
            # here (untimed) keeps it from competing with the next block for the cores, and its
            # CPU time is charged to this block
            loop.writer.flush()
            c1 += loop.background_cpu()
        if isinstance(loop, EngineLoop):
            loop.session.drain()  # the window's side of the queue, not timed
        return n / (c1 - c0), n / (w1 - w0)
    return block


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few short repeats (smoke test)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: the loop thread's CPU time then measures all of a "
                         "step, and a busy neighbour cannot stall a parallel region; 0 = torch's default, "
                         "then compare the wall-clock ratios)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where the loops train; on cuda the ratios are of wall-clock time (the GPU works "
                         "while the loop's thread waits)")
    ap.add_argument("--tb-every-step", action="store_true", help="also time TensorBoard logging on every step")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # many short blocks rather than a few long ones: a 200-step block's ratio ranged 0.80-1.04 on a
    # shared 2-core machine, so the median of 21 moved by +-0.03 from run to run; the median of 210
    # 20-step blocks (the same steps in all) repeated within 0.01. Each block of 20 holds exactly
    # two probes at every 10 steps.
    block, repeats = (20, 25) if args.quick else (20, 210)

    base = RunConfig(**{**BENCH_CONFIG, "device": args.device})
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    dataset = build_dataset(base)
    logdir = tempfile.mkdtemp(prefix="babysit-bench-tb-")
    k = 1 if args.quick else 3  # instances of each loop, taking turns (see rate_of)
    loops = {
        "bare": [BareLoop(base, dataset) for _ in range(k)],
        "engine_p10": [EngineLoop(base.copy(probe_every=10), dataset) for _ in range(k)],
        "engine_p1": [EngineLoop(base.copy(probe_every=1), dataset) for _ in range(k)],
    }
    try:
        import tensorboard  # noqa: F401  (a benchmark-only extra: pip install -e ".[bench]")
        have_tb = True
    except ImportError:
        have_tb = False
    if have_tb:
        loops["tb_p10"] = [TensorBoardLoop(base.copy(probe_every=10), dataset, f"{logdir}/p10-{i}") for i in range(k)]
    if args.tb_every_step and have_tb:  # slow (TensorBoard at ~1/7 of the bare speed), so only on request
        loops["tb_p1"] = [TensorBoardLoop(base.copy(probe_every=1), dataset, f"{logdir}/p1-{i}") for i in range(k)]
    every = [loop for instances in loops.values() for loop in instances]
    for loop in every:  # warm up: allocator, Adam state, first (always probed) step
        loop.run(30)
        if isinstance(loop, TensorBoardLoop):
            loop.writer.flush()
            loop.background_cpu()  # the warm-up's writing is not charged to the first timed block
    both = interleaved({k: rate_of(v, block, sync) for k, v in loops.items()}, repeats)
    # on the CPU the loop thread's CPU time is the measure (see common.thread_cpu_time); wall-clock
    # ratios are printed for comparison. On a GPU the wall clock is the measure.
    wall = {k: [w for _, w in v] for k, v in both.items()}
    rates = {k: [c for c, _ in v] for k, v in both.items()} if args.device == "cpu" else wall
    for loop in every:
        if isinstance(loop, TensorBoardLoop):
            loop.writer.close()

    r10 = median_ratio(rates["engine_p10"], rates["bare"])
    r1 = median_ratio(rates["engine_p1"], rates["bare"])
    print(info_line("machine", machine()))
    print(info_line("workload", f"digits, MLP {base.depth}x{base.width} {base.activation}, batch {base.batch_size}, "
                                f"{base.optimizer}; {repeats} interleaved repeats of {block} steps, "
                                f"{k} instance(s) of each loop taking turns"))
    print(info_line("steps per CPU second (median)", ", ".join(f"{k} {statistics.median(v):.0f}"
                                                               for k, v in rates.items())))
    print(info_line("wall-clock ratios", f"every 10: {median_ratio(wall['engine_p10'], wall['bare']):.3f}, "
                                         f"every step: {median_ratio(wall['engine_p1'], wall['bare']):.3f}, "
                                         f"bare {statistics.median(wall['bare']):.0f} steps/s"))
    print(result_line("probe_overhead_every_10", r10, ">= 0.93", r10 >= 0.93, note="engine/bare steps/s"))
    print(result_line("probe_overhead_every_step", r1, ">= 0.70", r1 >= 0.70, note="engine/bare steps/s"))

    # overhead = extra time per step as a fraction of the bare step, per repeat, then the median
    if not have_tb:
        print("overhead_vs_tensorboard_every_10: SKIPPED (tensorboard is not installed: "
              "pip install -e \".[bench]\")")
        return 0
    ours = [b / e - 1 for b, e in zip(rates["bare"], rates["engine_p10"])]
    theirs = [b / t - 1 for b, t in zip(rates["bare"], rates["tb_p10"])]
    share = statistics.median(o / t for o, t in zip(ours, theirs))
    print(result_line("overhead_vs_tensorboard_every_10", share, "<= 0.333", share <= 1 / 3,
                      note=f"ours {statistics.median(ours):+.1%}, TensorBoard {statistics.median(theirs):+.1%} "
                           "over the bare loop"))
    if "tb_p1" in rates:
        ours1 = [b / e - 1 for b, e in zip(rates["bare"], rates["engine_p1"])]
        theirs1 = [b / t - 1 for b, t in zip(rates["bare"], rates["tb_p1"])]
        print(info_line("every step", f"ours {statistics.median(ours1):+.1%}, TensorBoard "
                                      f"{statistics.median(theirs1):+.1%} over the bare loop "
                                      f"(share {statistics.median(o / t for o, t in zip(ours1, theirs1)):.3f})"))

    # the app's default run: how often does training produce a new per-layer snapshot?
    default = RunConfig(device="cpu")
    loop = EngineLoop(default, None)
    loop.run(30)
    n = 200 if args.quick else 1000
    samples = [rate_of([loop], n)()[1] for _ in range(3)]  # wall clock: what the user sees
    per_s = statistics.median(samples) / default.probe_every
    print(result_line("snapshots_per_s_default_config", per_s, ">= 10", per_s >= 10, unit="/s", fmt=".0f",
                      note=f"{statistics.median(samples):.0f} steps/s / probe_every {default.probe_every}"))
    bench_per_s = statistics.median(rates["engine_p10"]) / 10
    print(info_line("snapshots/s on the benchmark model", f"{bench_per_s:.0f}/s at probe_every 10"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
