"""A run in a worker process (engine/worker.py): commands down, messages up, recorded by the worker."""
from __future__ import annotations

import os
import signal
import time

import pytest

from engine.config import RunConfig
from engine.errors import BabysitError
from engine.messages import ENDED_STATES, Event, Scalars, StateChange
from engine.store import RunStore
from engine.worker import Worker

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


def test_a_run_that_finishes_is_closed_finished_with_its_weights(runs_dir):
    run = Worker().begin(RunConfig(steps=40), runs_dir=runs_dir)
    run.start()
    got = wait_for(run, lambda got: any(isinstance(m, StateChange) and m.state in ENDED_STATES for m in got))
    assert run.state == "finished" and steps_of(got)[-1] == 40
    model = run.model                        # the lab panels read a copy of the model
    assert sum(p.numel() for p in model.parameters()) > 0
    run.stop()
    with RunStore(runs_dir) as store:
        info = store.resolve(run.run_id)
        assert info.status == "finished" and info.steps == 40
        weights = store.load_weights(info.id)
    assert set(weights) == set(model.state_dict())
