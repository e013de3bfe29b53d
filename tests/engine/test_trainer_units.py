"""Trainer-side units of lecture 7, each on its own: weight averaging, batch-norm statistics and
train- vs eval-mode validation, pixel-shift augmentation."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.train.augment import PixelShift
from engine.train.averaging import WeightAverage
from engine.lab.bnstats import BatchStats, evaluate_modes, single_example_in_train_mode
from engine.train.config import RunConfig
from engine.train.data import build_dataset
from engine.errors import ConfigError
from engine.train.model import MLP
from engine.train.trainer import Trainer


def trainer_for(**kw):
    t = Trainer(RunConfig(**kw))
    t.probing = t.evaluating = False
    return t


# ----------------------------------------------------------------------------- Polyak averaging
def test_weight_average_is_the_hand_computed_exponential_average():
    model = MLP(2, 3, 1, 4, bn=True)
    avg = WeightAverage(model, decay=0.9)
    seen = []
    for k in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * (k + 1))
            model.bns[0].running_mean.add_(1.0)
        seen.append({n: t.clone() for n, t in model.state_dict().items()})
        avg.update(model)
    expected = seen[0]["linears.0.weight"]
    for later in seen[1:]:
        expected = 0.9 * expected + 0.1 * later["linears.0.weight"]
    state = avg.state_dict()
    assert torch.allclose(state["linears.0.weight"], expected)
    run_mean = 0.9 * (0.9 * seen[0]["bns.0.running_mean"] + 0.1 * seen[1]["bns.0.running_mean"]) + \
        0.1 * seen[2]["bns.0.running_mean"]
    assert torch.allclose(state["bns.0.running_mean"], run_mean)     # buffers are averaged too
    assert avg.updates == 3


def test_weight_average_starts_over_when_the_model_changes_shape():
    model = MLP(2, 3, 1, 4)
    avg = WeightAverage(model, decay=0.5)
    avg.update(model)
    avg.update(model)
    model.set_bn(True)
    avg.update(model)
    assert avg.restarts == 1 and avg.updates == 1 and "bns.0.weight" in avg.state_dict()
    with pytest.raises(ConfigError, match="decay"):
        WeightAverage(model, decay=1.0)
    with pytest.raises(ConfigError, match="no weights yet"):
        WeightAverage(model).evaluate(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))


def test_averaged_weights_validate_better_than_noisy_sgd_weights():
    s = trainer_for(dataset="spiral", optimizer="sgd", lr=1.0, batch_size=16, steps=600, seed=0)
    avg = WeightAverage(s.model, decay=0.98)
    for _ in range(600):
        s.step()
        avg.update(s.model)
    s.model.eval()
    with torch.no_grad():
        raw_loss = float(F.cross_entropy(s.model(s.Xv), s.yv))
    avg_loss, avg_acc = avg.evaluate(s.Xv, s.yv)
    assert avg_loss < 0.8 * raw_loss and avg_acc > 0.9


# ----------------------------------------------------------------------------- batch norm at test time
def test_batch_stats_read_the_batch_and_the_running_statistics_before_the_update():
    torch.manual_seed(0)
    model = MLP(3, 2, 2, 5, bn=True).train()
    xb = torch.randn(16, 3) * 2 + 1
    with BatchStats(model) as watch:
        model(xb)                                                 # not armed: nothing kept
        assert watch.read() == []
        h = model.linears[0](xb).detach()
        before_mean = model.bns[0].running_mean.clone()
        before_var = model.bns[0].running_var.clone()
        watch.arm()
        model(xb)
        rows = watch.read()
    assert [r["name"] for r in rows] == ["hidden1", "hidden2"]
    r = rows[0]
    assert r["batch_mean"] == pytest.approx(float(h.mean(0).mean()), rel=1e-5)
    assert r["unit0_batch_var"] == pytest.approx(float(h[:, 0].var(unbiased=False)), rel=1e-5)
    assert r["running_mean"] == pytest.approx(float(before_mean.mean()), abs=1e-7)
    gap = ((h.mean(0) - before_mean).abs() / torch.sqrt(before_var + 1e-5)).mean()
    assert r["mean_gap"] == pytest.approx(float(gap), rel=1e-5)
    assert r["var_ratio"] == pytest.approx(float((h.var(0, unbiased=False) / before_var).mean()), rel=1e-5)


def test_running_statistics_catch_up_with_the_batches_while_training():
    s = trainer_for(dataset="digits", preprocess="none", bn=True, batch_size=64, steps=300)   # pixels 0..16: far from 0 and 1
    watch = BatchStats(s.model)
    watch.arm()
    s.step()
    first = watch.read()[0]["mean_gap"]
    for _ in range(298):
        s.step()
    watch.arm()
    s.step()
    last = watch.read()[0]["mean_gap"]
    watch.close()
    assert first > 0.5 and last < 0.3 * first


def test_eval_mode_and_train_mode_validation():
    s = trainer_for(dataset="digits", bn=True, batch_size=32, steps=200)
    for _ in range(200):
        s.step()
    model = s.model
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    modes = evaluate_modes(model, s.Xv, s.yv)
    assert model.training and all(torch.equal(buffers[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        model.eval()
        eval_acc = float((model(s.Xv).argmax(1) == s.yv).float().mean())
        for bn in model.bns:
            bn.train()
        train_acc = float((model(s.Xv).argmax(1) == s.yv).float().mean())
        model.load_state_dict(buffers)
        model.train()
    assert modes["eval"][1] == pytest.approx(eval_acc) and modes["train"][1] == pytest.approx(train_acc)
    tiny = evaluate_modes(model, s.Xv, s.yv, batch_size=2)    # a test batch of two: its own statistics
    assert tiny["eval"] == modes["eval"] and tiny["train"][1] < modes["eval"][1] - 0.1
    assert "Expected more than 1 value per channel" in single_example_in_train_mode(model, s.Xv)


def test_without_batch_norm_both_modes_agree():
    model = MLP(2, 3, 1, 4)
    X, y = torch.randn(10, 2), torch.randint(0, 3, (10,))
    modes = evaluate_modes(model, X, y)
    assert modes["train"] == modes["eval"]
    assert "no batch norm" in single_example_in_train_mode(model, X)
    with BatchStats(model) as watch:
        watch.arm()
        model(X)
        assert watch.read() == []


# ----------------------------------------------------------------------------- pixel shifts
def raw_image(data, x):
    return (x * torch.as_tensor(data.std) + torch.as_tensor(data.mean)).view(-1, 8, 8)


def test_pixel_shift_moves_each_raw_image_by_its_own_shift():
    data = build_dataset(RunConfig(dataset="digits"))
    shift = PixelShift(data, seed=0)
    xb = torch.as_tensor(data.X_train[:3])
    moves = torch.tensor([[1, 0], [0, -1], [0, 0]])               # right; up; stay
    out = raw_image(data, shift(xb, moves))
    raw = raw_image(data, xb)
    right = torch.zeros(8, 8)
    right[:, 1:] = raw[0, :, :-1]
    up = torch.zeros(8, 8)
    up[:-1, :] = raw[1, 1:, :]
    assert torch.allclose(out[0], right, atol=1e-4) and torch.allclose(out[1], up, atol=1e-4)
    assert torch.allclose(out[2], raw[2], atol=1e-4)


def test_pixel_shifts_are_seeded_and_cover_the_nine_moves():
    data = build_dataset(RunConfig(dataset="digits"))
    a, b = PixelShift(data, seed=3), PixelShift(data, seed=3)
    moves = a.shifts(2000)
    assert torch.equal(moves, b.shifts(2000))
    assert {tuple(m) for m in moves.tolist()} == {(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    with pytest.raises(ConfigError, match="square images"):
        PixelShift(build_dataset(RunConfig(dataset="spiral")))


def test_pixel_shifts_narrow_the_train_validation_gap():
    data = build_dataset(RunConfig(dataset="digits", subset=200, preprocess="none"))
    X, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)
    Xv, yv = torch.as_tensor(data.X_val), torch.as_tensor(data.y_val)

    def gap(augment: bool, seed: int) -> float:
        model = MLP(64, 10, 1, 64)
        model.reinit("he_normal", generator=torch.Generator().manual_seed(seed))
        opt = torch.optim.SGD(model.parameters(), lr=0.003, momentum=0.9)
        batches, shift = torch.Generator().manual_seed(seed + 1), PixelShift(data, seed=seed)
        for _ in range(600):
            idx = torch.randint(0, len(y), (32,), generator=batches)
            xb = shift(X[idx]) if augment else X[idx]
            opt.zero_grad()
            F.cross_entropy(model(xb), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            return float((model(X).argmax(1) == y).float().mean() - (model(Xv).argmax(1) == yv).float().mean())
    for seed in (0, 1):
        assert gap(True, seed) < gap(False, seed) - 0.01


# ----------------------------------------------------------------------------- L-BFGS, full batch
def test_lbfgs_full_batch_beats_gradient_descent_at_equal_steps():
    from engine.train.lbfgs import full_batch_problem, lbfgs_step, make_lbfgs
    data = build_dataset(RunConfig(dataset="moons", n_samples=300))
    X, y = torch.as_tensor(data.X_train), torch.as_tensor(data.y_train)

    def trained(kind: str) -> tuple[float, list[float]]:
        model = MLP(2, 2, 1, 32, "tanh")
        model.reinit("xavier_normal", generator=torch.Generator().manual_seed(0))
        calls = []

        def objective():
            calls.append(1)
            return F.cross_entropy(model(X), y)
        if kind == "lbfgs":
            opt = make_lbfgs(model.parameters())
            returned = [lbfgs_step(opt, objective) for _ in range(40)]
        else:
            opt = torch.optim.SGD(model.parameters(), lr=0.5)
            returned = []
            for _ in range(40):
                opt.zero_grad()
                loss = objective()
                loss.backward()
                opt.step()
                returned.append(float(loss.detach()))
        with torch.no_grad():
            return float(F.cross_entropy(model(X), y)), returned, len(calls)
    lbfgs_loss, lbfgs_losses, lbfgs_calls = trained("lbfgs")
    sgd_loss, _, _ = trained("sgd")
    assert lbfgs_loss < 0.5 * sgd_loss
    assert lbfgs_losses[0] == pytest.approx(math.log(2), abs=0.2)   # the loss before the first step
    assert lbfgs_calls > 40                                             # the line search evaluates more than once
    assert full_batch_problem(32, 240) and "batch size 240" in full_batch_problem(32, 240)
    assert "dropout" in full_batch_problem(240, 240, dropout=0.5) and full_batch_problem(240, 240) is None


def test_read_test_time_uses_a_copy_of_the_live_model():
    from engine.lab.bnstats import read_test_time
    s = trainer_for(dataset="digits", bn=True, batch_size=32, steps=50)
    for _ in range(50):
        s.step()
    before = {k: v.clone() for k, v in s.model.state_dict().items()}
    snap = read_test_time(s.model, s.X[:64], s.Xv, s.yv)
    assert all(torch.equal(before[k], v) for k, v in s.model.state_dict().items()) and s.model.training
    assert snap["modes"] == evaluate_modes(s.model, s.Xv, s.yv)
    assert [r["name"] for r in snap["layers"]] == ["hidden1", "hidden2"]
    assert snap["layers"][0]["running_mean"] == pytest.approx(float(s.model.bns[0].running_mean.mean()), abs=1e-6)


def test_a_main_run_with_lbfgs_takes_the_whole_training_set():
    from engine.train.trainer import Trainer
    t = Trainer(RunConfig(dataset="spiral", n_samples=300, optimizer="lbfgs", lr=1.0, batch_size=10_000, steps=40))
    losses = [t.step().scalars.loss for _ in range(40)]
    assert losses[-1] < 0.3 * losses[0] and isinstance(t.optimizer, torch.optim.LBFGS)
    t.apply("bn", on=True)                        # a new parameter set: a fresh L-BFGS history
    assert math.isfinite(t.step().scalars.loss)
    with pytest.raises(ConfigError, match="whole training set as one batch"):
        Trainer(RunConfig(dataset="spiral", n_samples=300, optimizer="lbfgs", batch_size=64))
    minibatch = Trainer(RunConfig(dataset="spiral", n_samples=300, batch_size=64))
    with pytest.raises(ConfigError, match="batch size 240"):
        minibatch.check("optimizer", name="lbfgs", params={})


# ----------------------------------------------------------------------------- wired into the trainer
def test_the_trainers_weight_average_is_validated_and_recorded():
    from engine.runs.recorder import Recorder
    t = Trainer(RunConfig(dataset="spiral", n_samples=300, optimizer="sgd", lr=1.0, batch_size=16, steps=100,
                          eval_every=50))
    assert t.apply("average", on=True, decay=0.9).kind == "average"
    mirror = WeightAverage(t.model, decay=0.9)
    sent = []
    recorder = Recorder(t.probe, None, [sent.append])
    for _ in range(50):
        step = t.step()
        mirror.update(t.model)
        recorder.add(step)
    assert step.val_avg == pytest.approx(mirror.evaluate(t.Xv, t.yv)) and step.val_avg != step.val
    record = [m for m in sent if hasattr(m, "val_loss_avg") and m.val_loss is not None][-1].as_dict()
    assert (record["val_loss_avg"], record["val_acc_avg"]) == pytest.approx(step.val_avg)
    assert t.apply("average", on=False).kind == "average" and t.average is None
    with pytest.raises(ConfigError, match="decay"):
        t.check("average", on=True, decay=1.5)


def test_the_trainers_pixel_shifts_move_the_training_batches_only():
    cfg = RunConfig(dataset="digits", batch_size=32, steps=10)
    t, twin_run = Trainer(cfg), Trainer(cfg)                         # same seed: same weights, same batches
    assert t.apply("augment", on=True).kind == "augment" and t.apply("augment", on=True) is None
    first = t.step()
    xb, yb = twin_run.next_batch()
    shifted = PixelShift(twin_run.data, seed=cfg.seed + 3)(xb)      # the trainer's shifts, by hand
    with torch.no_grad():
        by_hand = float(F.cross_entropy(twin_run.model(shifted), yb))
        unshifted = float(F.cross_entropy(twin_run.model(xb), yb))
    assert first.scalars.loss == pytest.approx(by_hand, rel=1e-5) and by_hand != pytest.approx(unshifted, rel=1e-3)
    with pytest.raises(ConfigError, match="square images"):
        Trainer(RunConfig(dataset="spiral")).check("augment", on=True)


def test_the_config_switches_averaging_and_shifts_on_from_the_start():
    t = Trainer(RunConfig(dataset="digits", preprocess="none", augment=True, average_decay=0.95, steps=5))
    assert t.average is not None and t.average.decay == 0.95 and t.shift is not None
    t.apply("average", on=False)
    t.apply("augment", on=False)
    assert t.cfg.average_decay is None and t.cfg.augment is False      # the config says what the run does
    with pytest.raises(ConfigError, match="square images"):
        Trainer(RunConfig(dataset="spiral", augment=True))
    with pytest.raises(ConfigError, match="average_decay"):
        RunConfig(average_decay=1.0).validate()
