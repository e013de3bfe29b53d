"""engine.train.diagnostics: every code fires on a crafted run (numbers fed straight to Diagnostics) and
on a short real run where one is cheap; healthy runs, crafted and real, stay silent."""
import math

import pytest

from engine.train import diagnostics_rules as R
from engine.train.config import RunConfig
from engine.train.diagnostics import Diagnostics, format_finding
from engine.lab.presets import load_preset
from engine.runs.session import TrainingSession

LN3 = math.log(3)


def layer(name, **kw):
    rec = {"name": name, "act_mean": 0.0, "act_std": 0.5, "sat_frac": None, "dead_frac": None,
           "dead_units": None, "unit_spread": 0.4, "update_ratio": 1e-3}
    rec.update(kw)
    return rec


def output_layer(**kw):
    rec = {"name": "output", "act_mean": None, "act_std": None, "sat_frac": None, "dead_frac": None,
           "dead_units": None, "unit_spread": None, "update_ratio": 1e-3}
    rec.update(kw)
    return rec


def healthy_layers(depth=3, **kw):
    return [layer(f"hidden{i + 1}", **kw) for i in range(depth)] + [output_layer()]


def feed(d, n, loss=lambda s: 1.1 * math.exp(-s / 300) + 0.05, acc=lambda s: min(0.99, 0.33 + s / 600),
         layers=lambda s: healthy_layers(), val=None, probe_every=10, eval_every=50, start=1):
    """Feed steps start..start+n-1 like the session does; returns every finding produced."""
    found = []
    for s in range(start, start + n):
        sc = {"step": s, "epoch": 0, "loss": loss(s), "data_loss": loss(s), "reg_loss": 0.0,
              "train_acc": acc(s), "lr": 1e-3}
        rec = None
        if s == 1 or s % probe_every == 0 or s % eval_every == 0:
            rec = dict(sc, layers=layers(s) if (s == 1 or s % probe_every == 0) else [])
            if s == 1 or s % eval_every == 0:
                v = val(s) if val else (acc(s) - 0.01, loss(s) + 0.02)
                rec["val_acc"], rec["val_loss"] = v
        found += d.observe(sc, rec)
    return found


def codes(found):
    return [f["code"] for f in found]


def diag(**cfg):
    return Diagnostics(RunConfig(**cfg), 3)


# ----------------------------------------------------------------------------- silence
def test_crafted_healthy_run_is_silent():
    assert feed(diag(), 3000) == []


@pytest.mark.parametrize("cfg", [dict(), dict(activation="tanh", depth=6, init="xavier", optimizer="momentum",
                                              lr=0.01)])
def test_real_healthy_runs_are_silent(cfg):
    s = TrainingSession(RunConfig(**cfg, steps=700), use_outbox=False)
    for _ in range(700):   # past the LR window, many probes and evaluations; underfitting: crafted test
        assert s.step() is not None
    assert [e for e in s.history.events if e["event"] == "diagnosis"] == []


# ----------------------------------------------------------------------------- each code
def test_initial_loss_with_small_init():
    d = diag(init="normal", init_std=0.01)
    found = feed(d, 1, loss=lambda s: 2.3)   # 2.3 = ln 10: as if the labels said 10 classes
    assert codes(found) == ["initial_loss"] and found[0]["severity"] == "warning"
    assert "1.099" in found[0]["message"] and "2.3" in found[0]["message"]
    assert feed(diag(init="normal", init_std=0.01), 1, loss=lambda s: 1.1) == []
    assert feed(diag(init="zeros"), 1, loss=lambda s: LN3) == []


def test_initial_loss_with_large_init_is_info_and_only_when_far():
    found = feed(diag(init="normal", init_std=1.0), 1, loss=lambda s: 7.7)
    assert codes(found) == ["initial_loss"] and found[0]["severity"] == "info"
    # He init gives O(1) logits: a first loss of 2.0 (1.8 x ln 3, measured on the spiral) is normal
    assert feed(diag(init="he_normal"), 1, loss=lambda s: 2.03) == []


def test_diverged_event_reported_once():
    d = diag(lr=10.0)
    ev = {"event": "diverged", "step": 7, "label": "diverged", "message": "loss became NaN at step 8"}
    found = d.observe(None, None, ev)
    assert codes(found) == ["diverged"] and found[0]["step"] == 7 and found[0]["severity"] == "error"
    assert "NaN" in found[0]["message"]
    assert d.observe(None, None, ev) == []


def test_exploding_loss_needs_more_than_one_bad_batch():
    spike = feed(diag(), 60, loss=lambda s: 7.0 if s == 30 else 2.0)    # one batch at 3.5x
    assert "exploding_loss" not in codes(spike)
    rising = feed(diag(), 60, loss=lambda s: 2.0 if s < 30 else 7.0)
    assert codes(rising) == ["exploding_loss"]
    assert rising[0]["step"] in range(30, 40)


def flat(s):
    return 1.9 + 0.05 * math.sin(s)   # noisy but flat


def test_lr_too_low_on_flat_loss_with_tiny_updates():
    found = feed(diag(lr=1e-6), 400, loss=flat, acc=lambda s: 0.33,
                 layers=lambda s: healthy_layers(update_ratio=2e-7), val=lambda s: (0.33, 1.9))
    assert "lr_too_low" in codes(found)
    f = found[codes(found).index("lr_too_low")]
    assert f["step"] >= R.LR_LOW_WINDOW and "1e-06" in f["message"]


def test_flat_loss_with_moving_weights_or_near_zero_is_not_lr_too_low():
    plateau = feed(diag(), 400, loss=flat, acc=lambda s: 0.33, val=lambda s: (0.33, 1.9))
    assert "lr_too_low" not in codes(plateau)
    fitted = feed(diag(), 400, loss=lambda s: 0.01, layers=lambda s: healthy_layers(update_ratio=2e-7))
    assert "lr_too_low" not in codes(fitted)


def test_update_ratio_low_and_high():
    low = feed(diag(), 60, loss=flat, layers=lambda s: healthy_layers(update_ratio=1e-7))
    assert "update_ratio_low" in codes(low)
    assert low[codes(low).index("update_ratio_low")]["step"] == 10 * (R.UR_WINDOW - 1)  # probes 1, 10, .., 40
    high = feed(diag(), 60, layers=lambda s: healthy_layers(update_ratio=0.5))
    assert codes(high) == ["update_ratio_high"] and high[0]["layer"] == "hidden1"
    # a converged net's updates shrink: not a learning-rate problem
    assert feed(diag(), 60, loss=lambda s: 0.01, layers=lambda s: healthy_layers(update_ratio=1e-7)) == []


def test_probing_every_step_gives_the_findings_of_probing_every_10():
    # the probe windows span the same steps (1, 10, 20, ...) whatever the probe cadence: layer
    # values that are only bad between those steps are not seen, and the findings come at the
    # same steps
    def layers(s):
        return healthy_layers(update_ratio=1e-7 if s == 1 or s % 10 == 0 else 1e-3)
    every_10 = feed(diag(), 60, loss=flat, layers=layers)
    every_step = feed(diag(), 60, loss=flat, layers=layers, probe_every=1)
    assert codes(every_10) == ["update_ratio_low"]
    assert [(f["code"], f["step"]) for f in every_step] == [(f["code"], f["step"]) for f in every_10]


def test_dead_units_relu_only():
    dead = lambda s: [layer("hidden1", dead_units=0.1), layer("hidden2", dead_units=0.9), output_layer()]  # noqa: E731
    found = feed(diag(activation="relu"), 40, layers=dead)
    assert codes(found) == ["dead_units"] and found[0]["layer"] == "hidden2" and "90%" in found[0]["message"]
    assert feed(diag(activation="leaky_relu"), 40, layers=dead) == []
    assert feed(diag(activation="relu"), 40, layers=lambda s: healthy_layers(dead_units=0.45)) == []


def test_saturation_tanh_and_sigmoid_only():
    sat = lambda s: healthy_layers(sat_frac=0.7)  # noqa: E731
    assert codes(feed(diag(activation="tanh"), 20, layers=sat)) == ["saturation"]
    assert codes(feed(diag(activation="sigmoid"), 20, layers=sat)) == ["saturation"]
    assert feed(diag(activation="relu"), 20, layers=sat) == []
    assert feed(diag(activation="tanh"), 20, layers=lambda s: healthy_layers(sat_frac=0.05)) == []


def test_vanishing_activations():
    stds = [0.2, 0.01, 1e-4]
    def shrinking(s):
        return [layer(f"hidden{i + 1}", act_std=v, unit_spread=v) for i, v in enumerate(stds)] + [output_layer()]

    found = feed(diag(activation="tanh"), 1, layers=shrinking)
    assert codes(found) == ["vanishing_activations"] and found[0]["step"] == 1 and found[0]["layer"] == "hidden3"
    def xavier(s):
        return [layer(f"hidden{i + 1}", act_std=v) for i, v in enumerate([0.6, 0.4, 0.26])] + [output_layer()]

    assert feed(diag(activation="tanh"), 30, layers=xavier) == []


def test_symmetry_needs_training_and_is_not_a_dead_relu_layer():
    same = lambda s: [layer("hidden1", act_mean=0.5, act_std=0.0, unit_spread=0.0), output_layer()]  # noqa: E731
    d = diag(activation="sigmoid", init="zeros")
    assert feed(d, 1, layers=same, loss=lambda s: LN3) == []          # one probe: not yet
    found = feed(d, 10, layers=same, loss=lambda s: LN3, start=2)
    assert codes(found) == ["symmetry"] and found[0]["severity"] == "error"
    def zero(s):
        return [layer("hidden1", act_mean=0.0, act_std=0.0, unit_spread=0.0, dead_units=1.0), output_layer()]

    assert "symmetry" not in codes(feed(diag(activation="relu", init="he_normal"), 30, layers=zero))
    assert "symmetry" in codes(feed(diag(activation="relu", init="zeros"), 30, layers=zero))


def test_overfitting_needs_a_gap_and_a_rising_validation_loss():
    val_rising = lambda s: (0.6, 0.5 + s / 400)   # noqa: E731
    found = feed(diag(), 400, acc=lambda s: 1.0, val=val_rising)
    assert codes(found) == ["overfitting"] and "60%" in found[0]["message"]
    # still learning: train leads validation, but the validation loss keeps falling (SGD on the spiral)
    assert feed(diag(), 400, acc=lambda s: 0.8, val=lambda s: (0.6, 1.0 - s / 1000)) == []


def test_underfitting_after_enough_steps():
    low = dict(acc=lambda s: 0.45, loss=lambda s: 1.0, val=lambda s: (0.44, 1.0))
    d = diag()
    assert "underfitting" not in codes(feed(d, R.UNDERFIT_MIN_STEPS - 10, **low))
    found = feed(d, 100, start=R.UNDERFIT_MIN_STEPS - 9, **low)
    assert codes(found) == ["underfitting"]
    assert feed(diag(), 1200, acc=lambda s: 0.9, loss=lambda s: 0.3, val=lambda s: (0.88, 0.32)) == []


# ----------------------------------------------------------------------------- shape of findings
def test_findings_shape_once_per_code_and_format():
    d = diag(activation="relu", init="normal", init_std=0.01)
    bad = lambda s: healthy_layers(dead_units=0.95, update_ratio=0.9)  # noqa: E731
    first = feed(d, 100, loss=lambda s: 2.5 if s == 1 else 1.0, layers=bad)
    assert sorted(codes(first)) == ["dead_units", "initial_loss", "update_ratio_high"]
    assert feed(d, 200, start=101, loss=lambda s: 1.0, layers=bad) == []   # each once
    for f in first:
        assert {"code", "step", "message", "idea", "try", "severity"} <= set(f)
        assert "event" not in f and "label" not in f
        assert f["severity"] in R.SEVERITIES and f["message"] and f["idea"] and f["try"]
    line = format_finding(first[0])
    assert line.startswith(f"step {first[0]['step']} ") and first[0]["code"] in line and "Try:" in line


# ----------------------------------------------------------------------------- real runs
def run(name, steps, **changes):
    s = TrainingSession(load_preset(name).copy(**changes), use_outbox=False)
    for _ in range(steps):
        if s.step() is None:
            break
    return {e["code"]: e for e in s.history.events if e["event"] == "diagnosis"}


def test_real_runs_fire_the_lecture_findings():
    assert {"vanishing_activations", "update_ratio_low"} <= set(run("tanh_tiny_init", 60))
    assert {"initial_loss", "saturation"} <= set(run("tanh_large_init", 10))
    assert set(run("zero_init", 30)) == {"symmetry"}
    high = run("lr_too_high", 20)
    assert set(high) == {"exploding_loss", "diverged"}
    assert high["diverged"]["label"] == "diverged"   # recorded by the session as an event
    assert "lr_too_low" in run("lr_too_low", 250)
    assert "overfitting" in run("overfit_tiny_subset", 200)
    assert "dead_units" in run("lr_too_high", 60, lr=3.0)


def test_messages_give_the_learning_rate_in_use_and_the_loss_change_with_its_sign():
    # a schedule moves the rate off cfg.lr: the message must name the rate the steps used
    d = diag(lr=0.05, schedule="step", step_size=100, gamma=0.1)
    d.observe({"step": 1, "loss": 1.1, "train_acc": 0.3, "lr": 5e-5}, None)
    found = d.observe(None, None, {"event": "diverged", "step": 2, "message": "loss became NaN at step 2"})
    assert "learning rate 5e-05 now, 0.05 before the schedule" in found[0]["message"]
    assert "learning rate 0.05)" in diag(lr=0.05).observe(None, None, {"event": "diverged", "step": 2})[0]["message"]
    # a loss that fell a little is shown as a fall
    falling = feed(diag(lr=1e-6), 400, loss=lambda s: 1.9 - 1e-5 * s, acc=lambda s: 0.33,
                   layers=lambda s: healthy_layers(update_ratio=2e-7), val=lambda s: (0.33, 1.9))
    msg = falling[codes(falling).index("lr_too_low")]["message"]
    assert "%)" in msg and ", -0." in msg


def test_dead_units_is_not_reported_for_zeros_init():
    # every unit is 0 because all are the same (symmetry), not because they died
    zero = lambda s: [layer("hidden1", act_mean=0.0, act_std=0.0, unit_spread=0.0, dead_units=1.0), output_layer()]  # noqa: E731
    found = feed(diag(activation="relu", init="zeros"), 40, layers=zero)
    assert "dead_units" not in codes(found) and "symmetry" in codes(found)


def test_reinit_starts_the_diagnostics_over():
    s = TrainingSession(RunConfig(dataset="spiral", n_samples=300, depth=2, width=32, batch_size=32,
                                  activation="tanh", init="xavier_normal", optimizer="sgd", lr=0.01))
    for _ in range(30):
        s.step()
    before = s.diagnostics
    s.reinit("normal", 1.0)
    out = s.step()
    assert s.diagnostics is not before and s.diagnostics.first_loss == out.loss
    assert s.diagnostics.steps_seen == 1


# ----------------------------------------------------------------------------- the student's changes
def diagnoses(s):
    return [e for e in s.history.events if e["event"] == "diagnosis"]


def test_update_ratio_far_above_the_rule_after_raising_the_lr_is_found():
    s = TrainingSession(RunConfig(optimizer="sgd", lr=0.01, n_samples=300, steps=3000), use_outbox=False)
    for _ in range(200):
        s.step()
    assert diagnoses(s) == []
    s.set_lr(0.3)                                  # 30x: updates ~1e-2 of the weights, under the 1e-1 threshold
    for _ in range(300):
        assert s.step() is not None
    s.flush()
    found = {e["code"]: e for e in diagnoses(s)}
    assert "update_ratio_high" in found
    f = found["update_ratio_high"]
    assert 200 < f["step"] <= 320                   # 10 probes after the change
    assert "since the learning-rate change at step 200" in f["message"] and "learning rate 0.3" in f["message"]
    ratios = s.history.layer_column("update_ratio")[s.history.layer_column("step") > 200]
    assert (ratios[:10] > R.UPDATE_RATIO_AFTER_CHANGE).any()     # what the finding reports is in the data


def test_after_a_reinit_findings_count_from_it_and_no_underfitting_right_after():
    s = TrainingSession(RunConfig(n_samples=300, steps=3000), use_outbox=False)
    for _ in range(900):
        s.step()
    s.reinit("zeros")
    for _ in range(250):                           # step 1150: past UNDERFIT_MIN_STEPS counted from step 1
        assert s.step() is not None
    s.flush()
    found = {e["code"]: e for e in diagnoses(s)}
    assert "underfitting" not in found             # 250 steps since the re-init: too early to say
    assert "since the re-init at step 900" in found["symmetry"]["message"]
    assert found["symmetry"]["step"] > 900


def test_a_change_lets_the_learning_rate_findings_speak_again():
    d = diag(lr=1e-6)
    low = feed(d, 400, loss=lambda s: 1.9, acc=lambda s: 0.33,
               layers=lambda s: healthy_layers(update_ratio=2e-7), val=lambda s: (0.33, 1.9))
    assert "lr_too_low" in codes(low)
    d.cfg.lr = 1e-5                                # the student raises it (the session's cfg is live)
    again = feed(d, 400, start=401, loss=lambda s: 1.9, acc=lambda s: 0.33,
                 layers=lambda s: healthy_layers(update_ratio=2e-6), val=lambda s: (0.33, 1.9))
    assert "lr_too_low" in codes(again)
    assert "since the learning-rate change at step 400" in again[codes(again).index("lr_too_low")]["message"]
