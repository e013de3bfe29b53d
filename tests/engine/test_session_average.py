"""Weight averaging and pixel shifts switched on a live session (engine/runs/session.py commands):
the averaged weights' validation lands in the history beside the raw one, equal to the Records'."""
import math

import pytest

from engine.train.config import RunConfig
from engine.errors import ConfigError
from engine.messages import Event, Record
from engine.runs.session import TrainingSession

CFG = RunConfig(n_samples=200, width=8, steps=400, probe_every=5, eval_every=10)


def test_averaging_on_mid_run_fills_the_history_with_the_records_values():
    s = TrainingSession(CFG)
    for _ in range(30):
        s.step()
    s.set_average(True, 0.9)
    for _ in range(40):
        s.step()
    s.flush()
    messages = s.drain()
    events = [m for m in messages if isinstance(m, Event) and m.kind == "average"]
    assert len(events) == 1 and events[0].step == 30 and events[0].data["decay"] == 0.9
    records = [m for m in messages if isinstance(m, Record) and m.val_loss is not None]
    steps = s.history.val_column("step").tolist()
    loss_avg = s.history.val_column("val_loss_avg").tolist()
    acc_avg = s.history.val_column("val_acc_avg").tolist()
    assert [r.step for r in records] == steps
    for r, la, aa in zip(records, loss_avg, acc_avg):
        if r.step <= 30:   # before averaging: no second validation
            assert r.val_loss_avg is None and math.isnan(la) and math.isnan(aa)
        else:
            assert la == pytest.approx(r.val_loss_avg, rel=1e-6) and aa == pytest.approx(r.val_acc_avg, rel=1e-6)
    assert sum(r.val_loss_avg is not None for r in records) == 4   # steps 40, 50, 60, 70
    header = s.history.to_csv_text().splitlines()[0].split(",")
    assert {"val_loss_avg", "val_acc_avg"} <= set(header)
    assert "val_loss_avg" in s.history.to_json_obj()["val"]


def test_averaging_off_and_augment_are_commands_too():
    s = TrainingSession(CFG.copy(dataset="digits"))
    s.set_average(True)
    s.set_augment(True)
    s.step()
    assert s.cfg.average_decay == 0.99 and s.cfg.augment is True
    s.set_average(False)
    s.step()
    assert s.cfg.average_decay is None


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_set_average_refuses_a_decay_outside_0_1_in_words(decay):
    s = TrainingSession(CFG)
    with pytest.raises(ConfigError, match="decay must be between 0 and 1"):
        s.set_average(True, decay)


def test_augment_is_refused_in_words_for_points_on_a_plane():
    s = TrainingSession(CFG)   # the spiral: 2-D points, nothing to shift
    with pytest.raises(ConfigError):
        s.set_augment(True)
