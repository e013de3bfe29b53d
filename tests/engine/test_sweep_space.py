"""The sweep spec: scales sample where they should, the grid and random budgets differ as the lecture
says, mistakes are named in words, refining zooms around the top, the ensemble averages. No training."""
import math

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.sweep.ensemble import ensemble_top_k
from engine.sweep.search import dry_run
from engine.sweep.space import distinct_values, edge_warnings, parse_spec, refine

BASE = {"dataset": "spiral", "optimizer": "adam"}


def spec(space, **top):
    return parse_spec({"base": dict(BASE), "space": space, **top})


def test_log_scale_samples_uniform_in_log_space():
    s = spec({"lr": {"low": 1e-4, "high": 1.0, "scale": "log"}}, trials=800)
    r = np.log10([p["lr"] for p in dry_run(s)])
    assert r.min() >= -4 and r.max() <= 0
    # each decade gets about a quarter (a linear scale would put 90% in the top one)
    counts = np.histogram(r, bins=4, range=(-4, 0))[0] / len(r)
    assert np.all(np.abs(counts - 0.25) < 0.06), counts
    assert abs(r.mean() + 2) < 0.15


def test_linear_scale_samples_uniform_in_value():
    s = spec({"lr": {"low": 1e-4, "high": 1.0, "scale": "linear"}}, trials=400)
    lr = np.array([p["lr"] for p in dry_run(s)])
    assert np.mean(lr > 0.1) > 0.8


def test_one_minus_log_gives_each_decade_of_one_minus_beta_the_same_share():
    s = spec({"beta1": {"low": 0.9, "high": 0.999, "scale": "one_minus_log"}}, trials=800)
    beta = np.array([p["beta1"] for p in dry_run(s)])
    assert beta.min() >= 0.9 and beta.max() <= 0.999
    r = np.log10(1 - beta)
    assert np.all(np.abs(np.histogram(r, bins=4, range=(-3, -1))[0] / len(r) - 0.25) < 0.06)
    # 0.9 -> 0.99 as many as 0.99 -> 0.999
    assert abs(np.mean(beta < 0.99) - 0.5) < 0.06


def test_same_budget_grid_tries_five_lrs_random_tries_twenty_five():
    space = {"lr": {"low": 1e-4, "high": 1.0, "scale": "log"}, "momentum": {"low": 0.5, "high": 0.99}}
    grid = dry_run(spec(space, trials=25, sampler="grid"))
    rand = dry_run(spec(space, trials=25, sampler="random"))
    assert len(grid) == len(rand) == 25
    assert distinct_values(grid) == {"lr": 5, "momentum": 5}
    assert distinct_values(rand) == {"lr": 25, "momentum": 25}
    # the grid's lr values are evenly spaced on the log scale, ends included
    lrs = sorted({p["lr"] for p in grid})
    assert np.allclose(np.log10(lrs), [-4, -3, -2, -1, 0])


def test_values_and_choices_and_integer_keys():
    s = spec({"width": {"values": [16, 32]}, "activation": {"choices": ["relu", "tanh"]},
              "depth": {"low": 1, "high": 4}}, trials=40)
    trials = dry_run(s)
    assert {p["width"] for p in trials} == {16, 32}
    assert {p["activation"] for p in trials} == {"relu", "tanh"}
    assert all(isinstance(p["depth"], int) and 1 <= p["depth"] <= 4 for p in trials)
    assert s.trial_config(trials[0]).width == trials[0]["width"]


@pytest.mark.parametrize("data, words", [
    ({"space": {"lr": {"low": 1e-4, "high": 1}}, "trails": 3}, "unknown sweep key 'trails' (did you mean 'trials'?)"),
    ({"space": {"lrr": {"low": 1e-4, "high": 1}}}, "'lrr' is not a run setting (did you mean 'lr'?)"),
    ({"space": {"lr": {"low": 1.0, "high": 0.1}}}, "low must be below high"),
    ({"space": {"l2": {"low": 0.0, "high": 1.0, "scale": "log"}}}, "a log scale needs low > 0"),
    ({"space": {"beta1": {"low": 0.9, "high": 1.0, "scale": "one_minus_log"}}}, "0 <= low < high < 1"),
    ({"space": {"lr": {"low": 1e-4, "high": 1, "scale": "cubic"}}}, "scale must be one of log, linear, one_minus_log"),
    ({"space": {"lr": {"low": 1e-4}}}, "needs both low and high"),
    ({"space": {"width": {"choices": []}}}, "must be a non-empty list"),
    ({"space": {"lr": {"low": -1.0, "high": 1.0}}}, "space.lr: lr must be"),
    ({"space": {}}, "[space] is missing or empty"),
    ({"space": {"lr": {"low": 1e-4, "high": 1}}, "sampler": "bayes"}, "sampler must be one of random, grid, tpe"),
    ({"space": {"lr": {"low": 1e-4, "high": 1}}, "trials": 0}, "trials must be an integer >= 1"),
    ({"space": {"lr": {"low": 1e-4, "high": 1, "step": 2}}}, "unknown field 'step'"),
    ({"space": {"lr": {"low": 1e-4, "high": 1}}, "base": {"epochs": 3}}, "[base]: epochs is the sweep's to set"),
    ({"space": {"lr": {"low": 1e-4, "high": 1}}, "base": {"widht": 3}}, "unknown run setting 'widht' (did you mean 'width'?)"),
])
def test_mistakes_are_named_in_words(data, words):
    with pytest.raises(ConfigError) as exc:
        parse_spec(data)
    assert words in str(exc.value)


def test_spec_round_trips_through_toml(tmp_path):
    from engine.sweep.space import load_spec
    s = spec({"lr": {"low": 1e-4, "high": 0.1, "scale": "log"}, "beta1": {"low": 0.9, "high": 0.999,
              "scale": "one_minus_log"}, "width": {"values": [16, 32]}}, trials=7, halving=True)
    path = tmp_path / "s.toml"
    path.write_text(s.to_toml())
    again = load_spec(path)
    assert again.space == s.space and again.trials == 7 and again.halving and again.base == s.base


def test_refine_zooms_to_the_top_trials_on_their_scale():
    s = spec({"lr": {"low": 1e-5, "high": 1.0, "scale": "log"}, "activation": {"choices": ["relu", "tanh", "elu"]}})
    top = [{"lr": 1e-3, "activation": "relu"}, {"lr": 1e-2, "activation": "tanh"}]
    new = refine(s, top, widen=0.1)
    lr = new.space["lr"]
    # the top's range on the log scale (-3..-2), widened on each side by 5% of the old range (5 decades)
    assert math.isclose(math.log10(lr.low), -3.25) and math.isclose(math.log10(lr.high), -1.75)
    wide = refine(s, [{"lr": 1e-4, "activation": "relu"}, {"lr": 1e-1, "activation": "relu"}], widen=0.1)
    # or by a tenth of the top's own range (-4..-1), when that is more
    assert math.isclose(math.log10(wide.space["lr"].low), -4.3) and math.isclose(math.log10(wide.space["lr"].high), -0.7)
    assert new.space["activation"].choices == ("relu", "tanh")
    assert new.trials == s.trials and new.base == s.base


def test_refine_never_leaves_the_old_range():
    s = spec({"lr": {"low": 1e-4, "high": 1.0, "scale": "log"}})
    new = refine(s, [{"lr": 1e-4}, {"lr": 2e-4}])
    assert new.space["lr"].low == pytest.approx(1e-4) and new.space["lr"].high < 1e-3


def test_edge_warning_when_the_best_sits_on_a_range_end():
    s = spec({"lr": {"low": 1e-4, "high": 1.0, "scale": "log"}, "l2": {"low": 1e-5, "high": 1.0, "scale": "log"}})
    warnings = edge_warnings(s, {"lr": 0.9, "l2": 1e-3})
    assert len(warnings) == 1 and "lr" in warnings[0] and "high edge" in warnings[0]
    assert edge_warnings(s, {"lr": 1e-2, "l2": 1e-3}) == []
    # the window names whose range it is when the sweep's best is in an earlier stage
    named = edge_warnings(s, {"lr": 0.9, "l2": 1e-3}, who="stage 2's best trial (2-20)")
    assert named[0].startswith("stage 2's best trial (2-20)'s lr = 0.9 sits at the high edge")


def _trial(n, acc, probs, labels):
    return {"stage": 1, "trial": n, "status": "finished", "val_acc": acc, "val_loss": 1 - acc,
            "val_probs": probs, "val_labels": labels}


def test_ensemble_averages_the_top_k_softmax_outputs():
    labels = [0, 1, 2]
    # each of the two best gets two of the three right; their average gets all three
    a = _trial(0, 2 / 3, [[0.6, 0.4, 0.0], [0.1, 0.45, 0.45], [0.5, 0.0, 0.5]], labels)
    b = _trial(1, 2 / 3, [[0.3, 0.35, 0.35], [0.0, 0.6, 0.4], [0.0, 0.45, 0.55]], labels)
    c = _trial(2, 1 / 3, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], labels)
    out = ensemble_top_k([c, a, b], k=2)
    mean = (np.array(a["val_probs"]) + np.array(b["val_probs"])) / 2
    assert out["k"] == 2 and sorted(map(tuple, out["trials"])) == [(1, 0), (1, 1)]
    assert mean.argmax(1).tolist() == labels
    assert out["ensemble_acc"] == 1.0 and out["best_acc"] == pytest.approx(2 / 3)


def test_ensemble_refuses_different_validation_sets():
    a = _trial(0, 1.0, [[1.0, 0.0]], [0])
    b = _trial(1, 0.9, [[1.0, 0.0]], [1])
    with pytest.raises(ConfigError, match="different data"):
        ensemble_top_k([a, b], k=2)
