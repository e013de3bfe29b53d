"""Softmax up close: the notes' worked example, and one validation example through a live model's copy."""
import math

import numpy as np
import pytest
import torch

from engine.train.config import RunConfig
from engine.errors import ConfigError
from engine.runs.session import TrainingSession
from engine.lab.softmax import ExampleReader, format_softmax, raw_example, softmax_steps


def test_the_notes_worked_example():
    r = softmax_steps([5, 2, -1, 3], label=0)
    assert r["t"] == pytest.approx([math.exp(5), math.exp(2), math.exp(-1), math.exp(3)])
    assert r["sum_t"] == pytest.approx(176.3, abs=0.05)
    assert r["a"] == pytest.approx([0.842, 0.042, 0.002, 0.114], abs=5e-4)
    assert r["hard_max"] == [1, 0, 0, 0] and r["predicted"] == 0
    assert r["loss"] == pytest.approx(-math.log(r["a"][0]))
    table = format_softmax(r)
    assert "176.3" in table and "0.8420" in table and "loss -log a_y = 0.1719" in table


def test_large_logits_do_not_overflow_the_probabilities():
    r = softmax_steps([1000.0, 999.0], label=1)
    assert math.isinf(r["sum_t"])                     # the notes' e^z as written overflows ...
    assert r["a"] == pytest.approx([1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1))])   # ... softmax does not
    assert r["loss"] == pytest.approx(1 + math.log(1 + math.exp(-1)))
    assert "overflows" in format_softmax(r)


@pytest.mark.parametrize("logits,label,words", [([], None, "at least one"), ([1, float("nan")], None, "finite"),
                                                ([1, 2], 2, "from 0 to 1")])
def test_bad_logits_are_refused_in_words(logits, label, words):
    with pytest.raises(ConfigError, match=words):
        softmax_steps(logits, label=label)


@pytest.mark.parametrize("bn", [False, True])
def test_reader_matches_the_model_in_eval_mode_and_never_changes_it(bn):
    session = TrainingSession(RunConfig(dataset="digits", steps=30, bn=bn, dropout=0.2, batch_size=32),
                              keep_history=False, use_outbox=False)
    for _ in range(30):
        session.step()
    model = session.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reader = ExampleReader(session.data)
    got = reader.read(model, 3)
    assert model.training                                   # the live model stays in train mode
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(session.data.X_val[3:4]))[0]
    model.train()
    assert got["z"] == pytest.approx(logits.tolist(), rel=1e-5, abs=1e-6)
    assert got["label"] == int(session.data.y_val[3]) and got["index"] == 3
    assert got["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits[None].double(),
                                                                                torch.tensor([got["label"]]))))
    session.step()                                          # the weights move: the next read follows
    assert reader.read(model, 3)["z"] != got["z"]
    with pytest.raises(ConfigError, match="validation example"):
        reader.read(model, session.data.n_val)


def test_raw_example_undoes_the_preprocessing():
    from sklearn.datasets import load_digits
    session = TrainingSession(RunConfig(dataset="digits", preprocess="standardize"), keep_history=False, use_outbox=False)
    pixels = raw_example(session.data, 0)
    assert pixels.shape == (64,) and pixels.min() >= -1e-4 and pixels.max() <= 16 + 1e-4
    digits = load_digits().data
    assert np.abs(digits - pixels).sum(axis=1).min() < 1e-3    # one of the bundled images, exactly


def test_the_worked_example_matches_torch_on_the_same_numbers():
    rng = np.random.default_rng(0)
    for scale in (1.0, 30.0, 400.0):
        z = rng.normal(size=7) * scale
        r = softmax_steps(z.tolist(), label=2)
        zt = torch.as_tensor(z)
        assert r["a"] == pytest.approx(torch.softmax(zt, 0).tolist(), rel=1e-12, abs=1e-300)
        assert r["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(zt[None], torch.tensor([2]))),
                                          rel=1e-12)
        assert r["predicted"] == int(torch.argmax(zt))
