"""Benchmark 6: what the run store costs. Listing 500 runs; recording a run as it trains.

    python benchmarks/bench_store.py [--quick]

Listing: a store of 500 finished runs (each with its config and 200 steps of scalars), and
`RunStore.runs()` from a fresh connection as `babysit runs list` does; median of repeats.

Reopening: a run of 1,000,000 steps (100,000 in --quick) recorded through a RunWriter, a probe
record of 5 layers every 10 steps, an evaluation every 50; the seconds from opening the store to
every dashboard chart painted (measure_reopen says how), against the issue's 2 s.

Reading back (context for reopening a run, no target here): a run of N steps with a probe
record of 5 layers every 10 steps (bench_history's record), written through a RunWriter; the
time to read its step columns, its per-layer table and to fill a History from it.

Recording: the default run (RunConfig(): spiral, 2x64 ReLU, Adam, a probe every 10 steps)
trained by `session.step()` with its outbox drained after each step, as `babysit train` does,
with and without every message handed to a RunWriter, and without and with the decision
boundaries a recorded run draws (on the cadence of the default run's 3000 planned steps, the
densest a default run gets); blocks of steps interleaved (common.py).
Each block is timed in process CPU time, which counts the writer's own thread too (its inserts
and commits), not only the training thread's queue puts; a recorded block ends with
`writer.flush()`, so the writer's work on its messages falls inside it (one commit more per
block than training would make).
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time

import common  # noqa: F401  (puts the repository root on sys.path)
from bench_history import probe_template
from common import info_line, interleaved, median_ratio, result_line

from engine.train.config import RunConfig
from engine.runs.session import TrainingSession, leave_a_core_free
from engine.runs.store import RunStore


def fill_store(store: RunStore, runs: int) -> None:
    for i in range(runs):
        writer = store.create_run(RunConfig(seed=i).to_dict(), total_steps=200)
        for step in range(1, 201):
            writer.write("scalars", {"step": step, "epoch": 0, "loss": 1.0 / step, "data_loss": 1.0 / step,
                                     "reg_loss": 0.0, "train_acc": 0.9, "lr": 1e-3})
        writer.close("finished")


def measure_listing(directory: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        store = RunStore(directory)
        runs = store.runs()
        times.append(time.perf_counter() - t0)
        store.close()
        assert len(runs) == 500
    return times


def measure_reading(directory: str, steps: int) -> str:
    import pickle
    store = RunStore(directory)
    writer = store.create_run(RunConfig().to_dict())
    template = probe_template()
    for s in range(1, steps + 1):
        row = {"step": s, "epoch": s // 12, "loss": 1.0 / s, "data_loss": 1.0 / s, "reg_loss": 0.0,
               "train_acc": 0.9, "lr": 1e-3}
        writer.write("scalars", row)
        if s % 10 == 0:
            rec = pickle.loads(template)
            rec.update(row)
            writer.write("record", rec)
    writer.close("finished")
    took = []
    for read in (store.scalars, store.layer_table, store.history):
        t0 = time.perf_counter()
        read(writer.id)
        took.append(time.perf_counter() - t0)
    with sqlite3.connect(store.path) as conn:  # the WAL's pages into the file, to weigh the data alone
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = store.path.stat().st_size / 1e6
    return (f"{steps:,} steps, {steps // 10:,} probe records ({size:.0f} MB): step columns {took[0]:.2f} s, "
            f"layer table {took[1]:.2f} s, a History {took[2]:.1f} s")


def record_long_run(directory: str, steps: int) -> str:
    """A run of `steps` steps with a probe record (5 layers, histograms) every 10 steps and an
    evaluation every 50, written through a real RunWriter as a training loop hands it messages."""
    import pickle
    store = RunStore(directory)
    writer = store.create_run(RunConfig().to_dict(), total_steps=steps)
    template = probe_template()
    for s in range(1, steps + 1):
        loss = 2.3 / (1.0 + s * 1e-4)
        row = {"step": s, "epoch": s // 12, "loss": loss, "data_loss": loss, "reg_loss": 0.0,
               "train_acc": 1.0 - loss / 2.5, "lr": 1e-3 if s < steps // 2 else 1e-4}
        writer.write("scalars", row)
        if s % 10 == 0:
            rec = pickle.loads(template)
            rec.update(row)
            if s % 50 == 0:
                rec["val_loss"], rec["val_acc"] = loss * 1.1, 1.0 - loss / 2.4
            writer.write("record", rec)
        if s == steps // 2:
            writer.write("event", {"event": "lr", "step": s, "label": "lr 1e-4", "old": 1e-3, "new": 1e-4})
    writer.close("finished")
    assert writer.error is None, writer.error
    store.close()
    return writer.id


def measure_reopen(directory: str, run_id: str) -> tuple[float, str]:
    """Seconds from a fresh connection to every dashboard chart painted once, as Open does: the
    run read into a History (gui/runs/wiring.read_run), the real Dashboard (1400 x 900,
    offscreen) refreshed from it, the Training tab painted, then the Activations tab shown and
    painted."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import ensure_app
    from gui.plots.dashboard import Dashboard
    from gui.runs.wiring import read_run
    app = ensure_app()
    dash = Dashboard()
    dash.resize(1400, 900)
    dash.show()
    app.processEvents()
    t0 = time.perf_counter()
    with RunStore(directory) as store:
        history = read_run(store, run_id)
    t_read = time.perf_counter() - t0
    dash.refresh(history)
    dash.grab()
    dash.tabs.setCurrentWidget(dash.activations)
    dash.grab()
    took = time.perf_counter() - t0
    rows = len(history)
    dash.close()
    return took, f"{rows:,} rows; read into a History {t_read:.2f} s, charts {took - t_read:.2f} s"


def measure_recording(directory: str, block: int, repeats: int) -> dict[str, list[float]]:
    store = RunStore(directory)
    plain = TrainingSession(RunConfig(steps=10_000_000))
    recorded = TrainingSession(RunConfig(steps=10_000_000))
    writer = store.create_run(recorded.cfg.to_dict())
    recorded.recorder.draw_boundaries(recorded.trainer, planned_steps=RunConfig().steps)
    # the boundaries keep to a share of their run's training time; the two runs take turns here,
    # so the recorded run's cadence reads a clock that runs during its own blocks only
    own = {"at": 0.0, "since": None}
    recorded.recorder.boundaries.cadence.clock = lambda: own["at"] + (time.perf_counter() - own["since"])

    def blocks(session, sink, flush):
        def run() -> float:
            if session is recorded:
                own["since"] = time.perf_counter()
            t0 = time.process_time()
            for _ in range(block):
                session.step()
                for message in session.drain():
                    sink(message)
            flush()  # the writer's work on this block's messages is charged to this block
            took = time.process_time() - t0
            if session is recorded:
                own["at"] += time.perf_counter() - own["since"]
            return block / took
        return run

    variants = {"plain": blocks(plain, lambda m: None, lambda: None),
                "recorded": blocks(recorded, writer.ingest, writer.flush)}
    for run in variants.values():  # warm up both
        run()
    rates = interleaved(variants, repeats)
    writer.close("stopped")
    assert writer.error is None, writer.error
    return rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    leave_a_core_free()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        fill_store(RunStore(d), 500)
        print(info_line("store", f"500 runs of 200 steps written in {time.perf_counter() - t0:.1f} s"))
        times = measure_listing(d, 5 if args.quick else 20)
        s = statistics.median(times)
        print(result_line("list_500_runs", s, "<= 0.3 s", s <= 0.3, unit="s", note=f"median; max {max(times):.3f} s"))
    with tempfile.TemporaryDirectory() as d:
        print(info_line("read back", measure_reading(d, 20_000 if args.quick else 200_000)))
    with tempfile.TemporaryDirectory() as d:
        steps = 100_000 if args.quick else 1_000_000
        t0 = time.perf_counter()
        run_id = record_long_run(d, steps)
        print(info_line("long run", f"{steps:,} steps recorded in {time.perf_counter() - t0:.0f} s"))
        runs = [measure_reopen(d, run_id) for _ in range(1 if args.quick else 3)]
        s, note = sorted(runs)[len(runs) // 2]
        name = "reopen_1M_steps" if steps == 1_000_000 else f"reopen_{steps // 1000}k_steps"
        print(result_line(name, s, "<= 2 s", s <= 2.0, unit="s", fmt=".2f",
                          note=f"median of {len(runs)}, first {runs[0][0]:.2f} s; {note}"))
    with tempfile.TemporaryDirectory() as d:
        rates = measure_recording(d, 300 if args.quick else 500, 8 if args.quick else 40)
        ratio = median_ratio(rates["recorded"], rates["plain"])
        print(result_line("recording_vs_not", ratio, ">= 0.97", ratio >= 0.97,
                          note=f"steps/s in process CPU time, median of {len(rates['plain'])}; plain "
                               f"{statistics.median(rates['plain']):.0f}, recorded {statistics.median(rates['recorded']):.0f}"))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip Qt's teardown at interpreter exit (it can crash after a measurement is done)
