"""engine.lab.lrfind: the suggestion lands within a decade of a learning rate found by training a grid,
the sweep stops when the loss blows up, and a given model state is used and left untouched."""
import math

import numpy as np
import pytest
import torch

from engine.train.config import RunConfig
from engine.errors import ConfigError
from engine.lab.lrfind import lr_range_test, suggest_lr
from engine.runs.session import TrainingSession
from engine.train.trainer import Trainer


def loss_after(cfg, lr, steps):
    """Mean training loss over the last 50 of `steps` steps at a fixed LR (inf if it diverged)."""
    s = TrainingSession(cfg.copy(lr=lr, probe_every=10**9, eval_every=10**9), use_outbox=False)
    s.diagnostics = None
    losses = []
    for _ in range(steps):
        sc = s.step()
        if sc is None:
            return math.inf
        losses.append(sc.loss)
    return float(np.mean(losses[-50:]))


@pytest.mark.parametrize("optimizer,seed,grid", [
    ("adam", 0, [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]),
    ("sgd", 0, [1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0]),
    # a noisy sweep: its smoothed minimum sits early, at 0.2, and "minimum / 10" missed by 1.7 decades
    ("sgd", 2, [1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0]),
])
def test_suggestion_within_a_decade_of_the_grid_best(optimizer, seed, grid):
    cfg = RunConfig(optimizer=optimizer, seed=seed)   # the spiral default network
    scores = {lr: loss_after(cfg, lr, 200) for lr in grid}
    best = min(scores, key=scores.get)
    assert best not in (grid[0], grid[-1]), scores  # the grid brackets the optimum
    res = lr_range_test(cfg)
    assert res["stopped_early"]
    assert abs(math.log10(res["suggested_lr"] / best)) <= 1.0, (res["suggested_lr"], best, scores)


def test_result_shape_and_smoothing():
    res = lr_range_test(RunConfig(n_samples=300), steps=40, start=1e-5, end=1e-1)
    n = len(res["lrs"])
    assert n == len(res["losses"]) == len(res["raw_losses"]) == 40 and not res["stopped_early"]
    assert res["lrs"][0] == pytest.approx(1e-5) and res["lrs"][-1] == pytest.approx(1e-1)
    assert np.allclose(np.diff(np.log(res["lrs"])), math.log(1e4) / 39)   # exponential
    # bias-corrected EMA: the first smoothed value is the first raw loss; then a weighted average
    assert res["losses"][0] == pytest.approx(res["raw_losses"][0])
    avg = 0.0
    for i, raw in enumerate(res["raw_losses"]):
        avg = 0.95 * avg + 0.05 * raw
        assert res["losses"][i] == pytest.approx(avg / (1 - 0.95 ** (i + 1)))
    assert res["suggested_lr"] == pytest.approx(res["climb_lr"] / 10)


def test_stops_once_the_loss_blows_up():
    res = lr_range_test(RunConfig(optimizer="sgd", n_samples=300), start=1e-4, end=1e3, steps=60)
    assert res["stopped_early"] and len(res["lrs"]) < 60
    last = res["losses"][-1]
    assert last > 4.0 * min(res["losses"]) or len(res["raw_losses"]) < len(res["lrs"]) + 1


def test_live_model_is_used_and_left_exactly_as_it_was():
    cfg = RunConfig(n_samples=300, optimizer="sgd", lr=0.1)
    live = TrainingSession(cfg, use_outbox=False)
    for _ in range(30):
        live.step()
    before = {k: v.clone() for k, v in live.model.state_dict().items()}
    res = lr_range_test(cfg, dataset=live.data, model_state=live.model, steps=20, start=1e-3, end=10.0)
    after = live.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # the sweep started from the live weights: its first loss is theirs on the sweep's first batch
    fresh = Trainer(cfg, dataset=live.data)
    xb, yb = fresh.next_batch()
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(live.model(xb), yb).item()
        untrained = torch.nn.functional.cross_entropy(fresh.model(xb), yb).item()
    assert res["raw_losses"][0] == pytest.approx(expected, rel=1e-5)
    assert abs(expected - untrained) > 1e-3
    # a plain state_dict works the same way
    res2 = lr_range_test(cfg, dataset=live.data, model_state=before, steps=20, start=1e-3, end=10.0)
    assert res2["raw_losses"] == res["raw_losses"]


def test_model_state_with_batch_norm_switched_on_mid_run():
    cfg = RunConfig(n_samples=300)
    live = TrainingSession(cfg, use_outbox=False)
    live.set_bn(True)
    live.step()
    res = lr_range_test(live.cfg, dataset=live.data, model_state=live.model, steps=10)
    assert len(res["lrs"]) == 10


def test_progress_can_cancel():
    seen = []
    res = lr_range_test(RunConfig(n_samples=300), steps=50,
                        progress=lambda i, lr, loss: seen.append((i, lr, loss)) or i >= 9)
    assert res["cancelled"] and len(res["lrs"]) == 10 and len(seen) == 10
    assert seen[-1][1] == res["lrs"][-1]


def test_suggest_lr_on_a_synthetic_curve():
    lrs = list(np.logspace(-6, 1, 71))                     # 10 points per decade
    x = np.log10(lrs)
    # falls around 1e-3 (logistic), flat at 1.0 from 1e-2, climbs from 1e-1 (1 + (x+1)^2 * 3)
    losses = list(2.0 - 1.0 / (1 + np.exp(-(x + 3) * 3)) + np.where(x > -1, (x + 1) ** 2 * 3, 0))
    res = suggest_lr(lrs, losses)
    assert res["min_lr"] == pytest.approx(lrs[int(np.argmin(losses))])
    # 20% above the minimum (~1.0) at (x+1)^2*3 = 0.2, i.e. x = -0.74: the last point within is 10^-0.8
    assert res["climb_lr"] == pytest.approx(10 ** -0.8)
    assert res["suggested_lr"] == pytest.approx(10 ** -1.8)
    assert abs(math.log10(res["steepest_lr"]) - (-3)) <= 0.2   # the logistic's steepest point
    assert suggest_lr(lrs[:2], losses[:2])["suggested_lr"] is None
    rising = suggest_lr(lrs, list(np.linspace(1, 5, 71)))     # never fell: the range began too high
    assert rising["suggested_lr"] == lrs[0]
    # a trained net: at its minimum from the first rate, flat, then climbing from 1e-1
    flat = list(0.04 + np.where(x > -1, (x + 1) ** 2 * 3, 0))
    trained = suggest_lr(lrs, flat, margin=0.1)
    assert trained["min_lr"] == lrs[0] and trained["climb_lr"] > 1e-2
    assert trained["suggested_lr"] == pytest.approx(trained["climb_lr"] / 10)


@pytest.mark.parametrize("kw", [dict(start=1.0, end=0.1), dict(steps=2), dict(smooth=0.0)])
def test_bad_arguments_are_config_errors(kw):
    with pytest.raises(ConfigError):
        lr_range_test(RunConfig(n_samples=300), **kw)


def test_state_that_does_not_fit_is_a_config_error():
    other = TrainingSession(RunConfig(n_samples=300, width=16), use_outbox=False).model.state_dict()
    with pytest.raises(ConfigError, match="does not fit"):
        lr_range_test(RunConfig(n_samples=300), model_state=other, steps=10)


def test_the_sweep_takes_optimizer_steps_only(monkeypatch):
    # no probe, no validation pass, no history: the range test times and trains nothing else
    calls = {"probe": 0, "eval": 0}
    from engine.train import probes
    real_before, real_eval = probes.Probe.before_step, Trainer.evaluate

    def before(self):
        calls["probe"] += 1
        return real_before(self)

    def evaluate(self):
        calls["eval"] += 1
        return real_eval(self)
    monkeypatch.setattr(probes.Probe, "before_step", before)
    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    out = lr_range_test(RunConfig(dataset="spiral", n_samples=300), steps=20, start=1e-5, end=1e-2)
    assert len(out["lrs"]) == 20
    assert calls == {"probe": 0, "eval": 0}
