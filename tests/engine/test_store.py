"""The run store: a real run reads back equal, readers while a writer appends, kill -9, names."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.train.config import RunConfig
from engine.runs.history import History
from engine.runs.session import TrainingSession
from engine.runs.store import RunStore, RunStoreError

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(dataset="spiral", n_samples=300, depth=2, width=32, batch_size=32, probe_every=5, eval_every=25)


def wait_for(predicate, timeout=60.0, what="the condition"):
    """Poll until predicate() is truthy (a wait on the data, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def train_recorded(store, steps=120, lr_at=None, also=(), **kw):
    """A real short run, every outbox message handed to the writer as the CLI does (and to the
    histories `also`, as the window's own History takes them)."""
    session = TrainingSession(RunConfig(**{**SMALL, "steps": steps, **kw}))
    writer = store.create_run(session.cfg.to_dict(), total_steps=session.total_steps)
    for history in also:
        history.config, history.total_steps = session.cfg.to_dict(), session.total_steps
    while not session.finished:
        if session.step_count == lr_at:
            session.set_lr(session.cfg.lr / 10)
        session.step()
        for message in session.drain():
            writer.ingest(message)
            for history in also:
                history.ingest(message)
    writer.save_weights(session.model.state_dict())
    writer.close("finished")
    return session, writer


def test_a_real_run_reads_back_equal_to_what_the_session_kept(tmp_path):
    store = RunStore(tmp_path)
    few = History(max_snapshots=4)  # a window that keeps 4 snapshots with their histograms
    session, writer = train_recorded(store, lr_at=60, also=[few])
    assert writer.error is None
    live, back = session.history.to_json_obj(), store.history(writer.id, full=True).to_json_obj()
    np.testing.assert_equal(back, live)  # every scalar, validation row, probe row, snapshot and event
    np.testing.assert_equal(store.history(writer.id).to_json_obj(), live)  # sized as live
    thinned = store.history(writer.id, max_snapshots=4)
    np.testing.assert_equal(thinned.to_json_obj(), few.to_json_obj())
    assert [s["step"] for s in thinned.snapshots] == [s["step"] for s in few.snapshots] and len(few.snapshots) <= 4
    assert (thinned.version, thinned.last_step, thinned.latest_scalars) == (few.version, few.last_step, few.latest_scalars)
    assert any(e["event"] == "lr" for e in back["events"])
    assert back["snapshots"][-1]["layers"][0]["hist"]["counts"] == session.history.latest_snapshot["layers"][0]["hist"]["counts"]

    some = store.records(writer.id, 40, 60)  # a step range, as a scrubber asks for it
    assert [r["step"] for r in some] == [40, 45, 50, 55, 60]
    np.testing.assert_equal(some, [r for r in live["snapshots"] if 40 <= r["step"] <= 60])
    assert "val_loss" in some[2] and "val_loss" not in some[1]  # step 50 was evaluated

    run = store.resolve(writer.id)
    assert (run.status, run.steps, run.total_steps, run.dataset, run.model) == ("finished", 120, 120, "spiral", "2x32 relu")
    loss = session.history.column("loss").astype(np.float64)
    assert run.train_loss == pytest.approx(float(np.mean(store.scalars(run.id)["loss"][-50:])))
    assert run.train_loss == pytest.approx(float(loss[-50:].mean()), rel=1e-6)
    assert run.val_acc == pytest.approx(float(session.history.val_column("val_acc")[-1]), rel=1e-6)

    weights = store.load_weights(run.id)  # safetensors: no pickle
    for name, tensor in session.model.state_dict().items():
        assert torch.equal(weights[name], tensor)


def test_a_reader_follows_a_run_while_its_writer_appends(tmp_path):
    writer = RunStore(tmp_path).create_run(RunConfig().to_dict())
    reader = RunStore(tmp_path)  # another connection, as another process would open
    for step in range(1, 101):
        writer.write("scalars", {"step": step, "epoch": 0, "loss": 1.0 / step, "data_loss": 1.0 / step,
                                 "reg_loss": 0.0, "train_acc": 0.5, "lr": 0.1})
    wait_for(lambda: len(reader.scalars(writer.id)["step"]) == 100, what="the first 100 steps")
    assert reader.resolve(writer.id).status == "running"
    for step in range(101, 151):
        writer.write("scalars", {"step": step, "epoch": 0, "loss": 1.0 / step, "data_loss": 1.0 / step,
                                 "reg_loss": 0.0, "train_acc": 0.5, "lr": 0.1})
    wait_for(lambda: len(reader.scalars(writer.id)["step"]) == 150, what="the next 50 steps")
    np.testing.assert_array_equal(reader.scalars(writer.id)["loss"], 1.0 / np.arange(1, 151))
    writer.close()
    assert reader.resolve(writer.id).status == "stopped"  # closed without finishing


CHILD = textwrap.dedent("""
    import sys, time
    import torch
    torch.set_num_threads(1)
    from engine.train.config import RunConfig
    from engine.runs.session import TrainingSession
    from engine.runs.store import RunStore
    store = RunStore(sys.argv[1])
    session = TrainingSession(RunConfig(dataset="spiral", n_samples=300, depth=2, width=32, batch_size=32,
                                        probe_every=5, eval_every=25, steps=1_000_000))
    writer = store.create_run(session.cfg.to_dict())
    print(writer.id, flush=True)
    with open(sys.argv[2], "w") as log:
        while True:
            session.step()
            for message in session.drain():
                writer.ingest(message)
            # handed to the writer at this time (CLOCK_MONOTONIC is one clock for all processes)
            log.write(f"{session.step_count} {time.monotonic()!r} {session.last_finite_loss!r}\\n")
            log.flush()
""")


def test_a_writer_killed_with_sigkill_loses_at_most_the_last_second(tmp_path):
    log = tmp_path / "handed.txt"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "store"), str(log)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        run_id = child.stdout.readline().strip()
        store = RunStore(tmp_path / "store")
        def recorded_300_over_more_than_a_second():
            assert child.poll() is None, "the training process ended by itself"
            first = log.read_text().split(" ", 2) if log.exists() else []
            return (len(first) == 3 and float(first[1]) < time.monotonic() - 1.5
                    and len(store.scalars(run_id)["step"]) >= 300)
        wait_for(recorded_300_over_more_than_a_second, what="300 recorded steps, the first over 1.5 s ago")
        killed_at = time.monotonic()
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    handed = [line.split() for line in log.read_text().splitlines() if line.count(" ") == 2]
    kept = store.scalars(run_id)
    stored = dict(zip(kept["step"].astype(int).tolist(), kept["loss"].tolist()))
    older = [int(step) for step, at, _ in handed if float(at) < killed_at - 1.0]
    assert len(older) >= 1 and set(older) <= set(stored)  # all but the last second is there
    assert all(stored[int(step)] == float(loss) for step, _, loss in handed if int(step) in stored)
    assert len(store.records(run_id)) >= len(older) // 5  # the probe records too
    assert store.resolve(run_id).status == "running"  # a fresh heartbeat: not yet known to be dead
    stale = RunStore(tmp_path / "store", stale_after=1.0)
    wait_for(lambda: stale.resolve(run_id).status == "crashed", what="the stale heartbeat")
    with pytest.raises(RunStoreError, match="still being written"):
        store.delete(run_id)  # with the default patience it still looks alive
    stale.delete(run_id)
    assert stale.runs() == []


def fake_run(store, name=None, **config):
    writer = store.create_run({**RunConfig().to_dict(), **config}, name=name)
    writer.close("finished")
    return writer.id


def test_resolve_by_id_name_or_unique_prefix(tmp_path):
    store = RunStore(tmp_path)
    a = fake_run(store, "tanh_xavier")
    fake_run(store, "tanh_small")
    c = fake_run(store, "relu_he")
    assert store.resolve(a).name == "tanh_xavier"
    assert store.resolve(a[:5]).id == a  # ids are random: a clash of 5 characters is ~1e-7
    assert store.resolve("tanh_x").id == a
    assert store.resolve("relu").id == c
    with pytest.raises(RunStoreError, match="matches 2 runs"):
        store.resolve("tanh")
    with pytest.raises(RunStoreError, match="no run matches 'sigmoid'"):
        store.resolve("sigmoid")
    with pytest.raises(RunStoreError, match="no run matches"):
        store.resolve("%")  # a LIKE wildcard is a character here
    assert [r.name for r in store.runs()] == ["relu_he", "tanh_small", "tanh_xavier"]  # newest first


def test_rename_notes_delete(tmp_path):
    store = RunStore(tmp_path)
    a = fake_run(store, "first")
    fake_run(store, "second")
    assert store.rename("fir", "baseline").name == "baseline"
    with pytest.raises(RunStoreError, match="exists already"):
        store.rename("baseline", "second")
    store.set_notes("base", "lr too high after step 300")
    assert store.resolve(a).notes == "lr too high after step 300"
    assert store.delete("baseline").id == a
    assert [r.name for r in store.runs()] == ["second"]
    with pytest.raises(RunStoreError):
        store.resolve(a)


def test_default_names_are_unique_and_say_what_ran(tmp_path):
    store = RunStore(tmp_path)
    ids = [fake_run(store, dataset="digits", activation="tanh", optimizer="sgd") for _ in range(3)]
    assert sorted(store.resolve(i).name for i in ids) == ["digits-tanh-sgd-1", "digits-tanh-sgd-2", "digits-tanh-sgd-3"]


def test_the_store_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BABYSIT_RUNS_DIR", str(tmp_path / "mine"))
    assert RunStore().path == tmp_path / "mine" / "runs.sqlite"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "runs.sqlite").write_text("not a database " * 100)
    with pytest.raises(RunStoreError, match="cannot open the run store"):
        RunStore(tmp_path / "bad")


def test_a_run_ends_with_the_status_its_session_sent_or_how_its_writer_was_left(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(RuntimeError):
        with store.create_run({"dataset": "spiral"}, name="boom"):
            raise RuntimeError("torch fell over")
    with store.create_run({"dataset": "spiral"}, name="paused then stopped") as writer:
        for state in ("running", "paused", "stopped"):
            writer.write("state", state)
    with store.create_run({"dataset": "spiral"}, name="failed") as writer:
        writer.write("state", {"state": "error", "error": "training failed: RuntimeError: x"})
    statuses = {r.name: (r.status, r.error) for r in store.runs()}
    assert statuses == {"boom": ("crashed", None), "paused then stopped": ("stopped", None),
                        "failed": ("crashed", "training failed: RuntimeError: x")}


def test_a_malformed_message_is_named_and_the_others_are_kept(tmp_path):
    store = RunStore(tmp_path)
    with store.create_run({"dataset": "spiral"}) as writer:
        writer.write("scalars", {"epoch": 0, "loss": 1.0})  # no step
        writer.write("scalars", {"step": 1, "epoch": 0, "loss": 0.5, "data_loss": 0.5, "reg_loss": 0.0,
                                 "train_acc": None, "lr": 0.1})
    assert "a 'scalars' message was not kept (KeyError" in writer.error
    assert store.scalars(writer.id)["loss"].tolist() == [0.5]


def test_typed_messages_are_recorded_as_their_json_form(tmp_path):
    from engine.messages import Boundary, Event, LayerStats, Record, Scalars, StateChange
    store = RunStore(tmp_path)
    scalars = Scalars(step=1, epoch=0, loss=1.25, data_loss=1.25, reg_loss=0.0, train_acc=0.5, lr=0.1)
    layer = LayerStats("hidden1", act_mean=0.5, act_std=1.0, dead_frac=0.25, hist={"edges": [0.0, 1.0, 2.0], "counts": [3, 1]},
                       pcts=[0.0] * 9, weight_norm=2.0, grad_norm=0.1, update_ratio=1e-3)
    with store.create_run({"dataset": "spiral"}) as writer:
        for message in (StateChange("running"), scalars, Record(scalars, [layer], val_loss=1.5, val_acc=0.4),
                        Event("lr", 1, "lr 0.1 → 0.01", {"old": 0.1, "new": 0.01}), Boundary(1, {"grid": []}),
                        StateChange("diverged", "loss became NaN")):
            writer.ingest(message)
    run = store.resolve(writer.id)
    assert (run.status, run.error, run.steps, run.val_acc) == ("diverged", "loss became NaN", 1, 0.4)
    assert store.records(writer.id) == [Record(scalars, [layer], 1.5, 0.4).as_dict()]
    assert store.events(writer.id) == [{"event": "lr", "step": 1, "label": "lr 0.1 → 0.01", "old": 0.1, "new": 0.01}]


def test_flush_returns_when_what_was_written_is_readable(tmp_path):
    writer = RunStore(tmp_path).create_run({"dataset": "spiral"})
    reader = RunStore(tmp_path)
    writer.write("scalars", {"step": 1, "epoch": 0, "loss": 0.5, "data_loss": 0.5, "reg_loss": 0.0,
                             "train_acc": 0.5, "lr": 0.1})
    writer.flush()
    assert reader.scalars(writer.id)["loss"].tolist() == [0.5]
    writer.close()
    writer.flush()  # after close: nothing to wait for


def _open_store_at_once(folder: str, barrier, errors) -> None:
    from engine.runs.store import RunStore
    barrier.wait()
    try:
        RunStore(folder).close()
    except Exception as exc:  # the parent counts them
        errors.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks the openers")
def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path):
    """A sweep's first trials create the store together: none may be told it is locked."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    for attempt in range(20):
        barrier = ctx.Barrier(3)
        openers = [ctx.Process(target=_open_store_at_once, args=(str(tmp_path / str(attempt)), barrier, errors))
                   for _ in range(3)]
        for p in openers:
            p.start()
        for p in openers:
            p.join(30)
        assert [p.exitcode for p in openers] == [0, 0, 0]
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
