"""engine.train.boundary.predict_grid: the grid covers the data in raw units, goes through the dataset's
preprocessing, runs the model in eval mode without gradients and restores its mode."""
import numpy as np
import pytest
import torch
from torch import nn

from engine.train.boundary import GRID_MARGIN, MAX_POINTS, predict_grid
from engine.train.config import RunConfig
from engine.train.data import build_dataset, split_dataset
from engine.errors import DataError
from engine.messages import Boundary
from engine.runs.session import TrainingSession


class SignOfFirstInput(nn.Module):
    """Class 1 where the (preprocessed) first feature is > 0, with a known confidence; records its
    mode and whether autograd was on at each call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        z = 3.0 * x[:, :1]
        return torch.cat([-z, z], dim=1)


def blob_dataset(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal([5.0, -2.0], [2.0, 0.5], size=(n, 2)).astype(np.float32)
    y = (X[:, 0] > 5.0).astype(np.int64)
    return split_dataset(X, y, 2, name="blobs", preprocess="standardize", seed=seed)


def test_grid_shape_range_and_points():
    data = blob_dataset()
    out = predict_grid(SignOfFirstInput(), data, "cpu", resolution=40)
    assert set(out) >= {"x", "y", "classes", "confidence", "points", "n_classes"}
    assert len(out["x"]) == len(out["y"]) == 40
    assert np.array(out["classes"]).shape == (40, 40) and np.array(out["confidence"]).shape == (40, 40)
    raw = data.raw_train
    x, y = np.array(out["x"]), np.array(out["y"])
    # covers the raw range with a margin on every side; square in data units
    assert x[0] < raw[:, 0].min() and x[-1] > raw[:, 0].max()
    assert y[0] < raw[:, 1].min() and y[-1] > raw[:, 1].max()
    assert x[-1] - x[0] == pytest.approx(y[-1] - y[0])
    side = max(np.ptp(raw[:, 0]), np.ptp(raw[:, 1]))
    assert x[-1] - x[0] == pytest.approx(side * (1 + 2 * GRID_MARGIN), rel=1e-6)
    pts = out["points"]
    assert len(pts["x"]) == len(pts["y"]) == len(pts["label"]) == data.n_train
    np.testing.assert_allclose(pts["x"], raw[:, 0], rtol=1e-6)
    assert pts["label"] == data.y_train.tolist()


def test_grid_goes_through_the_training_preprocessing():
    data = blob_dataset()
    out = predict_grid(SignOfFirstInput(), data, "cpu", resolution=60)
    classes, x = np.array(out["classes"]), np.array(out["x"])
    # the model splits at standardized x0 = 0, i.e. at the raw training mean, not at raw 0
    boundary = data.mean[0]
    assert (classes[:, x < boundary - 0.2] == 0).all() and (classes[:, x > boundary + 0.2] == 1).all()
    # rows follow y: every row identical for a model that ignores x1
    assert (classes == classes[0]).all()
    conf = np.array(out["confidence"])
    expected = torch.softmax(torch.tensor([[-3.0, 3.0]]) * float((x[-1] - data.mean[0]) / data.std[0]), 1).max()
    assert conf[0, -1] == pytest.approx(float(expected), rel=1e-5)
    assert ((conf >= 0.5 - 1e-6) & (conf <= 1.0)).all()


@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_no_grad_and_mode_restored(training):
    model = SignOfFirstInput().train(training)
    predict_grid(model, blob_dataset(), "cpu", resolution=10)
    assert model.calls == [(False, False)]
    assert model.training is training


def test_batch_norm_uses_running_statistics():
    s = TrainingSession(RunConfig(n_samples=300, bn=True), use_outbox=False)
    for _ in range(20):
        s.step()
    out = predict_grid(s.model, s.data, s.device, resolution=20)
    assert s.model.training
    grid = np.array([[gx, gy] for gy in out["y"] for gx in out["x"]])
    s.model.eval()
    with torch.no_grad():
        expected = s.model(torch.as_tensor(s.data.transform(grid))).argmax(1).numpy().reshape(20, 20)
    s.model.train()
    np.testing.assert_array_equal(np.array(out["classes"]), expected)
    assert set(np.unique(out["classes"])) <= {0, 1, 2}


def test_points_subsampled_to_the_limit():
    data = build_dataset(RunConfig(dataset="moons", n_samples=3000))
    out = predict_grid(SignOfFirstInput(), data, "cpu", resolution=8)
    assert len(out["points"]["x"]) == MAX_POINTS
    assert out["points"]["x"][0] == pytest.approx(float(data.raw_train[0, 0]))
    assert out["points"]["x"][-1] == pytest.approx(float(data.raw_train[-1, 0]))


def test_not_two_dimensional_is_a_data_error():
    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    data = split_dataset(X, (X[:, 0] > 0).astype(np.int64), 2)
    with pytest.raises(DataError, match="2-D"):
        predict_grid(SignOfFirstInput(), data, "cpu")


def test_session_request_boundary_reaches_the_outbox():
    s = TrainingSession(RunConfig(n_samples=300))
    s.step()
    s.request_boundary(resolution=16)
    s.step()
    payloads = [m for m in s.drain() if isinstance(m, Boundary)]
    assert len(payloads) == 1 and payloads[0].step == 1     # applied between steps 1 and 2
    assert np.array(payloads[0].grid["classes"]).shape == (16, 16)
