"""engine.lab.presets: every preset loads and trains; the quick ones show their lecture outcome."""
import math
import tomllib

import numpy as np
import pytest

from engine.train.config import RunConfig
from engine.errors import ConfigError
from engine.lab.presets import PRESET_DIR, list_presets, load_preset
from engine.runs.session import TrainingSession

NAMES = [p.name for p in list_presets()]


def test_presets_listed_with_descriptions():
    presets = list_presets()
    assert len(presets) >= 8 and len(set(NAMES)) == len(NAMES) and NAMES == sorted(NAMES)
    for p in presets:
        assert p.path.parent == PRESET_DIR and p.path.stem == p.name
        assert len(p.description) > 80, p.name
        data = tomllib.loads(p.path.read_text(encoding="utf-8"))
        assert data["name"] == p.name
        assert set(data) - {"name", "description"} <= set(RunConfig.keys())
    for required in ("tanh_tiny_init", "tanh_large_init", "tanh_xavier", "relu_xavier", "relu_he", "zero_init",
                     "batchnorm_rescue", "lr_too_low", "lr_too_high", "overfit_tiny_subset",
                     "activation_sigmoid", "activation_tanh", "activation_relu",
                     "optim_sgd", "optim_momentum", "optim_adam"):
        assert required in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_preset_loads_and_trains_a_few_steps(name):
    cfg = load_preset(name)
    assert cfg == RunConfig.from_toml(PRESET_DIR / f"{name}.toml")   # the CLI's --config path
    s = TrainingSession(cfg, use_outbox=False)
    for _ in range(3):
        s.step()
    assert s.step_count >= 1 and len(s.history) == s.step_count


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError) as err:
        load_preset("tanh_tiny")
    assert "tanh_tiny" in str(err.value) and "tanh_tiny_init" in str(err.value) and "zero_init" in str(err.value)
    assert load_preset("zero_init.toml") == load_preset("zero_init")


def run(name, steps):
    s = TrainingSession(load_preset(name), use_outbox=False)
    s.diagnostics = None
    losses = []
    for _ in range(steps):
        sc = s.step()
        if sc is None:
            break
        losses.append(sc.loss)
    return s, losses


def first_layers(s):
    return s.history.snapshots[0]["layers"][:-1]


def test_one_broken_preset_file_does_not_stop_the_others(tmp_path):
    (tmp_path / "good.toml").write_text('name = "good"\ndescription = "fine"\ndepth = 3\n')
    (tmp_path / "zbad.toml").write_text("this is = = not toml")
    assert load_preset("good", tmp_path).depth == 3
    with pytest.raises(ConfigError, match="unknown preset 'nope'; available: good, zbad"):
        load_preset("nope", tmp_path)


def test_init_presets_show_the_lecture_figures_at_step_one():
    tiny, _ = run("tanh_tiny_init", 1)
    stds = [l["act_std"] for l in first_layers(tiny)]
    assert stds[-1] < 1e-5 * stds[0]                               # collapse toward 0
    large, _ = run("tanh_large_init", 1)
    assert min(l["sat_frac"] for l in first_layers(large)[1:]) > 0.5   # saturated from layer 2 on
    xavier, _ = run("tanh_xavier", 1)
    assert max(l["sat_frac"] for l in first_layers(xavier)) < 0.1
    assert first_layers(xavier)[-1]["act_std"] > 0.25 * first_layers(xavier)[0]["act_std"]   # 10 layers: 0.29
    rx, _ = run("relu_xavier", 1)
    rh, _ = run("relu_he", 1)
    shrink = lambda s: first_layers(s)[-1]["act_std"] / first_layers(s)[0]["act_std"]  # noqa: E731
    assert shrink(rx) < 0.05 and shrink(rh) > 0.4


def test_zero_init_never_breaks_symmetry_and_bn_rescues_the_tiny_init():
    zero, losses = run("zero_init", 100)
    assert all(l["unit_spread"] == 0.0 for l in s_layers(zero))
    assert np.mean(losses[-20:]) == pytest.approx(math.log(3), abs=0.01)
    _, tiny = run("tanh_tiny_init", 300)
    _, bn = run("batchnorm_rescue", 300)
    assert np.mean(tiny[-50:]) == pytest.approx(math.log(3), abs=0.01)    # stuck at ln 3
    assert np.mean(bn[-50:]) < 0.9                                          # learning


def s_layers(s):
    return s.history.latest_snapshot["layers"][:-1]


def test_learning_rate_presets():
    high, _ = run("lr_too_high", 50)
    assert high.state == "diverged" and high.step_count < 15
    low, losses = run("lr_too_low", 300)
    assert abs(np.mean(losses[-50:]) - np.mean(losses[:50])) / np.mean(losses[:50]) < 0.1
    assert np.mean(losses[-50:]) > 1.5


def test_overfit_tiny_subset_reaches_full_training_accuracy():
    s, losses = run("overfit_tiny_subset", 250)
    assert s.data.n_train == 20
    assert s.history.column("train_acc")[-20:].min() == 1.0 and np.mean(losses[-20:]) < 0.01
    val_loss = s.history.val_column("val_loss")
    assert val_loss[-1] > 1.3 * val_loss.min()      # memorising: validation loss climbs back


def test_comparison_presets_order_as_in_the_lecture():
    at = {name: np.mean(run(name, 200)[1][-50:]) for name in
          ("optim_sgd", "optim_momentum", "optim_adam", "activation_sigmoid", "activation_tanh", "activation_relu")}
    assert at["optim_sgd"] > at["optim_momentum"] > at["optim_adam"]
    assert at["activation_sigmoid"] > 5 * max(at["activation_tanh"], at["activation_relu"])
