"""A run's decision boundaries recorded as it trains: when (engine/train/boundaries.py's Cadence), in
what order (engine/runs/recorder.py), how they are kept and read back (engine/runs/store.py)."""
import math
import sqlite3

import numpy as np
from engine.train.boundaries import CAP, EARLY, LEVELS, PLANNED, Cadence, pack_grid, pack_plane, unpack
from engine.train.boundary import RECORDED_RESOLUTION, predict_grid
from engine.train.config import RunConfig
from engine.messages import Boundary, Event, Scalars
from engine.lab.presets import load_preset
from engine.runs.recording import RecordedRun
from engine.runs.session import TrainingSession
from engine.runs.store import RunStore


def due_steps(cadence: Cadence, last: int) -> list[int]:
    return [s for s in range(1, last + 1) if cadence.due(s)]


# ----------------------------------------------------------------------------- the cadence
def test_a_short_run_gets_a_boundary_at_step_one_and_at_every_probe_step():
    assert due_steps(Cadence(300, 10, share=None), 300) == [1, *range(10, 301, 10)]


def test_a_run_of_any_planned_length_holds_about_planned_boundaries_at_probe_steps():
    for total, probe_every in ((3000, 10), (20_000, 7), (1_000_000, 10)):
        steps = due_steps(Cadence(total, probe_every, share=None), total)
        assert PLANNED * 0.6 <= len(steps) <= PLANNED + 1 < CAP
        assert steps[0] == 1 and all(s % probe_every == 0 for s in steps[1:])


def test_a_run_past_its_plan_spaces_its_boundaries_out():
    cadence = Cadence(1500, 10, share=None)   # planned: a boundary every 10 steps
    steps = due_steps(cadence, 15_000)       # ten times as long
    assert cadence.every > 10
    assert all(s % 20 == 0 for s in steps[CAP:]), "the spacing doubled once the count reached the cap"
    # each doubling of the spacing buys CAP more: the count grows with the log of the length
    assert len(steps) < 4 * CAP < 1500   # (as planned, 10 steps apart, it would be 1500)


def test_boundaries_keep_to_their_share_of_the_training_time_after_the_early_ones():
    now = [0.0]
    cadence = Cadence(3000, 10, share=0.02, clock=lambda: now[0])
    early = [1, *range(20, 20 * EARLY, 20)]
    for step in early:           # the start of training, at the spacing whatever they cost
        assert cadence.due(step)
        cadence.spent(1.0)
    assert cadence.every == 20 and cadence.due(20 * EARLY)
    cadence.spent(0.01)           # the next waits 0.01 / 0.02 = half a second of training
    now[0] += 0.4
    assert not cadence.due(20 * EARLY + 20)
    now[0] += 0.2
    assert cadence.due(20 * EARLY + 40)


# ----------------------------------------------------------------------------- as blobs
def test_blobs_give_back_the_classes_exactly_and_the_confidence_within_quantisation():
    rng = np.random.default_rng(0)
    for n_classes in (3, 300):
        classes = rng.integers(0, n_classes, (5, 7))
        conf = rng.random((5, 7))
        payload = {"x": list(np.linspace(0, 1, 7)), "y": list(np.linspace(-1, 1, 5)), "classes": classes,
                   "confidence": conf, "points": {"x": [0.5], "y": [0.25], "label": [1]}, "n_classes": n_classes}
        back = unpack(pack_plane(payload), pack_grid(payload), 42)
        assert back["step"] == 42 and back["n_classes"] == n_classes and back["points"] == payload["points"]
        assert back["x"] == payload["x"] and back["y"] == payload["y"]
        assert np.array_equal(back["classes"], classes)
        assert np.abs(np.array(back["confidence"]) - conf).max() <= 0.5 / LEVELS + 1e-6


# ----------------------------------------------------------------------------- a recorded run
def train_recorded(runs_dir, cfg: RunConfig, steps: int | None = None):
    """Train `cfg` for `steps` (its own length if None) with every message drained after each
    step, recorded; (session, record id, messages, the model's own boundary at each boundary
    message's step, read as the message came)."""
    session = TrainingSession(cfg, keep_history=False)
    rec = RecordedRun(session, runs_dir=runs_dir)
    got, expected = [], {}
    for _ in range(steps or session.total_steps):
        if session.step() is None:
            break
        for m in session.drain():
            got.append(m)
            if isinstance(m, Boundary):   # gathered one step at a time: the model is still that step's
                expected[m.step] = predict_grid(session.model, session.data, "cpu", RECORDED_RESOLUTION)
    rec.close()
    got += session.drain()
    return session, rec.id, got, expected


def test_a_spiral_run_records_its_boundaries_in_order_with_its_steps(tmp_path):
    session, run_id, got, expected = train_recorded(tmp_path, RunConfig(steps=250, n_samples=300, width=16))
    sent = [m for m in got if isinstance(m, Boundary)]
    assert all(m.recorded for m in sent)
    steps = [m.step for m in sent]
    assert steps[0] == 1 and steps[-1] == 250 and steps == sorted(set(steps))
    assert all(s % 10 == 0 for s in steps[1:-1])   # probe steps between the first and the final
    # each after its own step's scalars and before the next step's
    for m in sent[:-1]:
        at = got.index(m)
        before = [x.step for x in got[:at] if isinstance(x, Scalars)]
        after = [x.step for x in got[at:] if isinstance(x, Scalars)]
        assert before[-1] == m.step and (not after or after[0] == m.step + 1)
    with RunStore(tmp_path) as store:
        assert store.boundary_steps(run_id) == steps
        for step in (1, steps[len(steps) // 2]):
            back = store.boundary(run_id, step)
            want = expected[step]
            assert back["step"] == step and back["x"] == want["x"] and back["points"] == want["points"]
            assert back["classes"] == want["classes"]
            assert np.abs(np.array(back["confidence"]) - np.array(want["confidence"])).max() <= 0.5 / LEVELS + 1e-6
        final = store.boundary(run_id)   # the final weights' own, read here from the same model
        assert final["classes"] == predict_grid(session.model, session.data, "cpu", RECORDED_RESOLUTION)["classes"]
        assert store.boundary(run_id, steps[1] - 1)["step"] == 1   # the last at or before a step
        assert store.boundary(run_id, 0) is None


def test_a_run_stopped_between_probe_steps_records_its_final_weights(tmp_path):
    _session, run_id, got, _ = train_recorded(tmp_path, RunConfig(steps=1000, n_samples=300, width=16), steps=37)
    assert [m.step for m in got if isinstance(m, Boundary)][-1] == 37
    with RunStore(tmp_path) as store:
        assert store.boundary_steps(run_id)[-1] == 37
        store.delete(run_id)
        assert store.boundary_steps(run_id) == [] and store.boundary(run_id) is None


def test_no_boundary_for_a_diverged_model_nor_for_data_that_is_not_2d(tmp_path):
    cfg = load_preset("lr_too_high")
    _session, run_id, got, _ = train_recorded(tmp_path, cfg.copy(steps=2000))
    diverged = next(i for i, m in enumerate(got) if isinstance(m, Event) and m.kind == "diverged")
    assert not any(isinstance(m, Boundary) for m in got[diverged:])   # nothing for the blown-up weights
    _session, digits_id, got, _ = train_recorded(tmp_path, RunConfig(dataset="digits", steps=12))
    assert not any(isinstance(m, Boundary) for m in got)
    with RunStore(tmp_path) as store:
        assert store.boundary_steps(digits_id) == [] and store.boundary(digits_id) is None


def test_a_boundary_the_window_asks_for_is_sent_but_not_kept(tmp_path):
    session = TrainingSession(RunConfig(steps=100, n_samples=300, width=16), keep_history=False)
    rec = RecordedRun(session, runs_dir=tmp_path)
    for _ in range(15):
        session.step()
    session.request_boundary(20)
    session.step()                 # applied before the step: after step 15
    asked = [m for m in session.drain() if isinstance(m, Boundary) and not m.recorded]
    rec.close()
    assert [m.step for m in asked] == [15] and len(asked[0].grid["x"]) == 20
    with RunStore(tmp_path) as store:
        assert 15 not in store.boundary_steps(rec.id)


def test_a_store_from_before_boundaries_still_opens(tmp_path):
    with RunStore(tmp_path) as store:
        writer = store.create_run(RunConfig().to_dict(), total_steps=2)
        writer.write("scalars", {"step": 1, "epoch": 0, "loss": 1.0, "data_loss": 1.0, "reg_loss": 0.0,
                                 "train_acc": 0.5, "lr": 0.01})
        writer.close("finished")
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:   # as an older babysit left it
        conn.execute("DROP TABLE boundaries")
        conn.execute("DROP TABLE boundary_planes")
    with RunStore(tmp_path) as store:
        assert [r.id for r in store.runs()] == [writer.id]
        assert store.boundary_steps(writer.id) == [] and store.boundary(writer.id) is None
        assert math.isclose(store.scalars(writer.id)["loss"][0], 1.0)
        store.delete(writer.id)
        assert store.runs() == []
