"""A run in a worker process (engine/runs/worker.py): commands down, messages up, recorded by the worker."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from engine.train.config import RunConfig
from engine.errors import BabysitError
from engine.messages import ENDED_STATES, Event, LRFind, Scalars, StateChange
from engine.runs.store import RunStore
from engine.runs.worker import Worker

WAIT = 60.0


def wait_for(run, predicate, timeout: float = WAIT) -> list:
    """Drain the run until predicate(all messages so far) holds; the messages."""
    got: list = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got.extend(run.drain())
        if predicate(got):
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out; last messages: {got[-3:]}")


def steps_of(messages) -> list[int]:
    return [m.step for m in messages if isinstance(m, Scalars)]


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


def test_a_run_trains_takes_commands_and_is_recorded_as_it_was_seen(runs_dir):
    run = Worker().begin(RunConfig(steps=100_000, seed=3), runs_dir=runs_dir)
    assert run.run_id and run.pid != os.getpid() and run.data.n_features == 2
    run.start()
    seen = wait_for(run, lambda got: len(steps_of(got)) >= 50)
    run.set_lr(0.05)
    seen += wait_for(run, lambda got: any(isinstance(m, Event) and m.kind == "lr" for m in got))
    with pytest.raises(BabysitError, match="learning rate must be a positive number"):
        run.set_lr(-1.0)
    assert run.state == "running"           # a refused command leaves the run as it was
    run.stop()
    seen += run.drain()
    steps = steps_of(seen)
    assert steps == list(range(1, len(steps) + 1))      # every step, in order, none twice
    assert [m.state for m in seen if isinstance(m, StateChange)][-1] == "stopped"
    assert not run.alive and run.worker.process.exitcode == 0
    with RunStore(runs_dir) as store:
        info = store.resolve(run.run_id)
        assert info.status == "stopped" and info.steps == steps[-1]
        assert len(store.load_weights(info.id)) > 0
        lr_events = [e for e in store.events(info.id) if e.get("event") == "lr"]
        assert lr_events and lr_events[0]["new"] == pytest.approx(0.05)


def test_pause_and_single_step_take_exactly_one_step(runs_dir):
    run = Worker().begin(RunConfig(steps=1000), runs_dir=runs_dir)
    run.single_step()
    got = wait_for(run, lambda got: steps_of(got) == [1])
    run.single_step()
    got += wait_for(run, lambda got: steps_of(got) == [2])
    assert run.state == "paused" and steps_of(got) == [1, 2]
    run.stop()


def test_a_killed_worker_is_reported_and_its_run_is_marked_crashed(runs_dir):
    run = Worker().begin(RunConfig(steps=1_000_000), runs_dir=runs_dir)
    run.start()
    seen = wait_for(run, lambda got: len(steps_of(got)) >= 200)
    seen_a_while_ago = steps_of(seen)[-1]
    time.sleep(1.5)          # the writer commits every half second: these steps must be on disk
    os.kill(run.pid, signal.SIGKILL)
    seen += wait_for(run, lambda got: any(isinstance(m, StateChange) and m.state == "error" for m in got))
    error = [m for m in seen if isinstance(m, StateChange)][-1]
    assert "died" in error.error and "SIGKILL" in error.error
    assert run.state == "error" and not run.alive
    with pytest.raises(BabysitError, match="ended"):
        run.set_lr(0.1)
    with RunStore(runs_dir) as store:
        info = store.resolve(run.run_id)
        assert info.status == "crashed"
        recorded = len(store.steps(info.id))
    assert recorded >= seen_a_while_ago


def test_a_run_too_big_is_refused_in_words(runs_dir):
    with pytest.raises(BabysitError, match="needs about .* GB"):
        Worker().begin(RunConfig(depth=100, width=8192), runs_dir=runs_dir)


def test_a_run_that_finishes_is_closed_finished_with_its_weights(runs_dir, model_of):
    run = Worker().begin(RunConfig(steps=40), runs_dir=runs_dir)
    run.start()
    got = wait_for(run, lambda got: any(isinstance(m, StateChange) and m.state in ENDED_STATES for m in got))
    assert run.state == "finished" and steps_of(got)[-1] == 40
    model = model_of(run)                    # its weights, in a model of its shape
    assert sum(p.numel() for p in model.parameters()) > 0
    run.stop()
    with RunStore(runs_dir) as store:
        info = store.resolve(run.run_id)
        assert info.status == "finished" and info.steps == 40
        weights = store.load_weights(info.id)
    assert set(weights) == set(model.state_dict())


# ----------------------------------------------------------------------------- the lab's readings
def lr_find_end(run, timeout: float = WAIT):
    """Drain until the range test's "done" or "error"; (its step messages, that last message)."""
    got = wait_for(run, lambda got: any(isinstance(m, LRFind) and m.kind != "step" for m in got), timeout)
    lr = [m for m in got if isinstance(m, LRFind)]
    return [m for m in lr if m.kind == "step"], lr[-1]


def test_the_lab_reads_the_model_in_the_worker_as_it_would_here(model_of):
    import torch
    from engine.lab.bnstats import read_test_time
    from engine.lab.softmax import ExampleReader
    run = Worker().begin(RunConfig(dataset="digits", bn=True, batch_size=32, steps=1000), record=False)
    for n in (1, 2, 3):
        run.single_step()
        wait_for(run, lambda got, n=n: n in steps_of(got))
    model, d = model_of(run), run.data                   # the same weights, read here (paused: they hold still)
    got = run.softmax_example(3)
    expected = ExampleReader(d).read(model, 3)
    assert got["index"] == 3 and got["label"] == expected["label"]
    assert got["z"] == pytest.approx(expected["z"], rel=1e-5, abs=1e-6)
    indices = list(range(10, 42))
    point = run.bn_test_time(indices, test_batch=None)
    here = read_test_time(model, torch.as_tensor(d.X_train[indices]), torch.as_tensor(d.X_val),
                          torch.as_tensor(d.y_val))
    assert point["modes"]["eval"] == pytest.approx(here["modes"]["eval"], rel=1e-5)
    assert point["layers"][0]["unit0_batch_mean"] == pytest.approx(here["layers"][0]["unit0_batch_mean"], rel=1e-4)
    assert "Expected more than 1 value per channel" in point["single"]
    with pytest.raises(BabysitError, match="validation example from 0"):
        run.softmax_example(d.n_val)
    weights = run.weights()
    assert {k: v.shape for k, v in weights.items()} == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    run.stop()
    with pytest.raises(BabysitError, match="ended"):       # the worker is gone: said in words
        run.softmax_example(3)
    assert all(np.array_equal(weights[k], v) for k, v in run.weights().items())   # the final weights stay


def test_the_lr_range_test_runs_in_a_worker_and_sends_its_steps_up():
    from engine.lab.lrfind import lr_range_test
    cfg = RunConfig(n_samples=300, optimizer="sgd")
    run = Worker().begin(cfg, record=False)
    run.lr_find(None, start=1e-4, end=10.0, steps=30)
    steps, end = lr_find_end(run)
    assert end.kind == "done" and run.state == "idle"     # the run itself never trained
    result = end.data
    assert [m.data["i"] for m in steps] == list(range(len(result["lrs"])))
    assert [m.data["lr"] for m in steps] == result["lrs"]
    here = lr_range_test(cfg, start=1e-4, end=10.0, steps=30)   # the same sweep in this process
    assert result["lrs"] == here["lrs"] and result["losses"] == pytest.approx(here["losses"], rel=1e-4)
    assert result["suggested_lr"] == pytest.approx(here["suggested_lr"], rel=1e-4)
    run.stop()
    assert run.worker.process.exitcode == 0


def test_the_lr_range_test_starts_from_given_weights_and_can_be_cancelled():
    trained = Worker().begin(RunConfig(n_samples=300, steps=300, seed=1), record=False)
    trained.start()
    wait_for(trained, lambda got: any(isinstance(m, StateChange) and m.state == "finished" for m in got))
    weights = trained.weights()
    trained.stop()
    run = Worker().begin(RunConfig(n_samples=300, seed=1), record=False)
    run.lr_find(weights, start=1e-6, end=1e-5, steps=5000)      # far too many steps to end on its own
    wait_for(run, lambda got: any(isinstance(m, LRFind) for m in got))
    with pytest.raises(BabysitError, match="already running"):
        run.lr_find(None, steps=10)
    run.lr_find_cancel()
    steps, end = lr_find_end(run)
    assert end.kind == "done" and end.data["cancelled"] and len(end.data["lrs"]) < 5000
    fresh = Worker().begin(RunConfig(n_samples=300, seed=1), record=False)
    fresh.lr_find(None, start=1e-6, end=1e-5, steps=5)
    _, fresh_end = lr_find_end(fresh)
    assert end.data["raw_losses"][0] < 0.5 * fresh_end.data["raw_losses"][0]   # the trained weights' loss
    wrong = {k: v[..., :1] for k, v in weights.items()}
    fresh.lr_find(wrong, steps=10)
    _, error = lr_find_end(fresh)
    assert error.kind == "error" and "does not fit" in error.data["message"]
    run.lr_find(None, start=1e-6, end=1e-5, steps=5000)
    wait_for(run, lambda got: any(isinstance(m, LRFind) for m in got))
    run.stop(1.0)                                               # stopped mid-sweep: the worker leaves
    assert run.worker.process.exitcode == 0
    fresh.stop()
