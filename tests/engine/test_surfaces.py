"""The optimizer race on 2-D surfaces: what lecture 7's pictures show, asserted on real torch.optim runs."""
import math

import numpy as np
import pytest
import torch

from engine.errors import ConfigError
from engine.lab.surfaces import OPTIMIZERS, SURFACES, make_surface, parse_lrs, parse_point, race, run_one


def path(run):
    return np.asarray(run["path"])


def first_below(run, level=1e-3):
    return next((i for i, loss in enumerate(run["loss"]) if loss < level), math.inf)


# ----------------------------------------------------------------------------- the surfaces
def test_surfaces_and_their_gradients_match_hand_computed_values():
    p = torch.tensor([0.7, -0.4], dtype=torch.float64, requires_grad=True)
    x, y = 0.7, -0.4
    expected = {  # loss, d/dx, d/dy worked by hand
        "taco": (0.5 * (x * x / 50 + y * y), x / 50, y),
        "saddle": (x * x + (y * y - 1) ** 2 / 4, 2 * x, y * (y * y - 1)),
        "rosenbrock": ((1 - x) ** 2 + 100 * (y - x * x) ** 2, -2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)),
    }
    for name, (loss, gx, gy) in expected.items():
        s = make_surface(name, condition=50)
        value = s(p)
        (grad,) = torch.autograd.grad(value, p)
        assert float(value.detach()) == pytest.approx(loss) and grad.tolist() == pytest.approx([gx, gy]), name


@pytest.mark.parametrize("name", SURFACES)
def test_grid_is_the_surface_evaluated_pointwise_and_its_minimum_is_zero(name):
    s = make_surface(name)
    xs, ys, z = s.grid(41)
    i, j = 7, 30
    assert z[i, j] == pytest.approx(float(s(torch.tensor([xs[j], ys[i]], dtype=torch.float64))))
    assert z.min() >= 0
    assert s.minima
    for minimum in s.minima:
        p = torch.tensor(minimum, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(s(p), p)
        assert float(s(p.detach())) == pytest.approx(0, abs=1e-12) and grad.abs().max() < 1e-12


def test_condition_number_is_the_ratio_of_the_curvatures():
    for kappa in (1, 10, 1000):
        s = make_surface("taco", condition=kappa)
        hessian = torch.autograd.functional.hessian(s, torch.zeros(2, dtype=torch.float64))
        eig = torch.linalg.eigvalsh(hessian)
        assert float(eig[-1] / eig[0]) == pytest.approx(kappa)


# ----------------------------------------------------------------------------- the lecture's pictures
def test_sgd_zigzags_across_the_taco_shell_and_creeps_along_it():
    s = make_surface("taco", condition=100)
    p = path(run_one(s, "sgd", 1.9, s.start, 50))
    dx, dy = np.diff(p[:, 0]), np.diff(p[:, 1])
    assert (np.sign(p[1:, 1]) != np.sign(p[:-1, 1])).all()      # y flips side every step: the zig-zag
    assert (dx > 0).all()                                          # x only creeps toward the minimum ...
    assert np.abs(dy[:10]).mean() > 5 * np.abs(dx[:10]).mean()    # ... in steps far smaller than the zig-zag's
    assert abs(p[-1, 0]) > 0.3 * abs(p[0, 0])                      # 50 steps leave a third of the way to go
    assert abs(p[-1, 1]) < 0.01 * abs(p[0, 1])                     # while the steep direction has settled


def test_momentum_overshoots_settles_and_gets_through_faster_than_any_stable_sgd():
    s = make_surface("taco", condition=100)
    mom = run_one(s, "momentum", 1.0, s.start, 300)
    p = path(mom)
    assert p[:, 0].max() > 0.05 * abs(p[0, 0])        # runs past the minimum along the valley ...
    assert np.abs(p[-1]).max() < 1e-4                   # ... and settles at it
    best_sgd = min(first_below(run_one(s, "sgd", lr, s.start, 300)) for lr in (0.5, 1.0, 1.5, 1.9))
    assert first_below(mom) < 0.5 * best_sgd            # SGD above lr 2 diverges across the shell


def test_at_the_saddle_sgd_stalls_on_the_ridge_while_momentum_escapes():
    s = make_surface("saddle")
    start = (-1.5, 1e-3)                                  # on the ridge y = 0, a hair off it
    sgd, mom = (run_one(s, name, 0.05, start, 60) for name in ("sgd", "momentum"))
    saddle_loss = float(s(torch.zeros(2, dtype=torch.float64)))
    assert sgd["loss"][-1] == pytest.approx(saddle_loss, abs=0.01) and abs(sgd["path"][-1][1]) < 0.05
    assert mom["loss"][-1] < 0.02 and abs(mom["path"][-1][1]) > 0.9


def test_adagrad_steps_shrink_as_its_sum_grows_rmsprops_do_not():
    s = make_surface("taco", condition=1e6)   # the gradient along x barely changes over these steps
    start = (s.start[0], 0.0)
    steps = {name: np.abs(np.diff(path(run_one(s, name, 0.1, start, 60))[:, 0])) for name in ("adagrad", "rmsprop")}
    ada, rms = steps["adagrad"], steps["rmsprop"]
    assert (np.diff(ada) < 0).all()
    assert ada[-1] == pytest.approx(ada[0] / math.sqrt(60), rel=0.02)   # lr * g / sqrt(60 g^2)
    assert rms[20:].max() / rms[20:].min() < 1.1 and rms[-1] == pytest.approx(0.1, rel=0.02)


@pytest.mark.parametrize("name", ["taco", "rosenbrock"])
def test_adams_first_steps_are_about_the_learning_rate(name):
    s = make_surface(name)
    for lr in (0.01, 0.003):
        moves = np.abs(np.diff(path(run_one(s, "adam", lr, s.start, 4)), axis=0))
        assert moves[0] == pytest.approx([lr, lr], rel=1e-4)    # bias correction: m/sqrt(v) = g/|g|
        assert moves == pytest.approx(np.full_like(moves, lr), rel=0.05)
    sgd = np.abs(np.diff(path(run_one(s, "sgd", 0.003, s.start, 1)), axis=0))[0]
    assert not sgd == pytest.approx([0.003, 0.003], rel=0.5)      # SGD's first step is lr * |g| instead


def test_lbfgs_with_a_closure_finds_rosenbrocks_minimum():
    s = make_surface("rosenbrock")
    run = run_one(s, "lbfgs", 1.0, s.start, 60)
    assert run["loss"][-1] < 1e-8 and run["path"][-1] == pytest.approx([1, 1], abs=1e-3)


# ----------------------------------------------------------------------------- noise, divergence, the race
def test_gradient_noise_is_seeded_and_adds_to_the_true_gradient():
    s = make_surface("taco", condition=10)
    a, b = (run_one(s, "sgd", 0.1, (1.0, 1.0), 5, noise=0.3, seed=4) for _ in range(2))
    assert a["path"] == b["path"]
    assert run_one(s, "sgd", 0.1, (1.0, 1.0), 5, noise=0.3, seed=5)["path"] != a["path"]
    xi = torch.randn(2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    true_grad = torch.tensor([1.0 / 10, 1.0], dtype=torch.float64)
    assert a["path"][1] == pytest.approx((torch.tensor([1.0, 1.0], dtype=torch.float64) - 0.1 * (true_grad + 0.3 * xi)).tolist())
    assert a["loss"][1] == pytest.approx(float(s(torch.tensor(a["path"][1], dtype=torch.float64))))


def test_a_diverging_run_ends_where_it_stops_being_finite():
    s = make_surface("rosenbrock")
    run = run_one(s, "sgd", 1.0, s.start, 50)
    assert run["diverged_at"] is not None and len(run["path"]) == run["diverged_at"] == len(run["loss"])
    assert all(map(math.isfinite, run["loss"]))


def test_race_starts_everyone_alike_with_their_own_learning_rate():
    s = make_surface("local_minimum")
    result = race(s, list(OPTIMIZERS), lrs={"sgd": 0.02}, start=(2.0, 1.0), steps=5)
    assert [r["optimizer"] for r in result["runs"]] == list(OPTIMIZERS)
    assert all(r["path"][0] == [2.0, 1.0] and len(r["path"]) == len(r["loss"]) == 6 for r in result["runs"])
    lrs = {r["optimizer"]: r["lr"] for r in result["runs"]}
    assert lrs["sgd"] == 0.02 and lrs["adam"] == s.lrs["adam"]


@pytest.mark.parametrize("kwargs,words", [
    (dict(optimizers=[]), "at least one optimizer"),
    (dict(optimizers=["sgd", "bogus"]), "unknown optimizer 'bogus'"),
    (dict(optimizers=["sgd", "sgd"]), "races once"),
    (dict(optimizers=["sgd"], lrs={"adam": 0.1}), "adam, which is not racing"),
    (dict(optimizers=["sgd"], lrs={"sgd": -1.0}), "must be > 0"),
    (dict(optimizers=["sgd"], steps=0), "steps must be between"),
    (dict(optimizers=["sgd"], noise=-0.1), "noise must be >= 0"),
])
def test_race_refuses_bad_input_in_words(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        race(make_surface("taco"), **kwargs)


def test_parsers_and_unknown_surfaces():
    assert parse_lrs("sgd=0.1, adam=5e-2") == {"sgd": 0.1, "adam": 0.05}
    assert parse_point("-1.5,0.25") == (-1.5, 0.25)
    for bad, fn in (("sgd", parse_lrs), ("sgd=x", parse_lrs), ("1", parse_point), ("1,nan", parse_point)):
        with pytest.raises(ConfigError):
            fn(bad)
    with pytest.raises(ConfigError, match="unknown surface"):
        make_surface("bowl")
    with pytest.raises(ConfigError, match="condition number"):
        make_surface("taco", condition=0.5)
