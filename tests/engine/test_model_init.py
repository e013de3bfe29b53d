"""Init schemes give the std they promise; the MLP keeps its Linear weights across BN toggles."""
import math

import pytest
import torch

from engine.train.model import MLP, init_linear, init_std_for


@pytest.mark.parametrize("scheme,std_of", [
    ("normal", lambda n: 0.05),
    ("uniform", lambda n: 0.05),
    ("xavier_normal", lambda n: 1 / math.sqrt(n)),
    ("xavier_uniform", lambda n: 1 / math.sqrt(n)),
    ("he_normal", lambda n: math.sqrt(2 / n)),
    ("he_uniform", lambda n: math.sqrt(2 / n)),
])
@pytest.mark.parametrize("fan_in", [100, 400])
def test_init_std_matches_promise(scheme, std_of, fan_in):
    layer = torch.nn.Linear(fan_in, 300)
    init_linear(layer, scheme, init_std=0.05, generator=torch.Generator().manual_seed(1))
    expected = std_of(fan_in)
    assert init_std_for(scheme, fan_in, 0.05) == pytest.approx(expected)
    assert layer.weight.std().item() == pytest.approx(expected, rel=0.03)
    assert layer.weight.mean().item() == pytest.approx(0.0, abs=expected * 0.02)
    assert torch.count_nonzero(layer.bias) == 0


def test_uniform_schemes_are_uniform():
    layer = torch.nn.Linear(200, 200)
    init_linear(layer, "he_uniform", generator=torch.Generator().manual_seed(0))
    bound = math.sqrt(6 / 200)
    assert layer.weight.abs().max().item() <= bound
    assert layer.weight.abs().max().item() > 0.98 * bound


def test_zeros_and_orthogonal():
    layer = torch.nn.Linear(50, 80)
    init_linear(layer, "zeros")
    assert torch.count_nonzero(layer.weight) == 0
    for shape in [(80, 50), (50, 80), (64, 64)]:
        layer = torch.nn.Linear(shape[1], shape[0])
        init_linear(layer, "orthogonal", generator=torch.Generator().manual_seed(2))
        w = layer.weight.double()
        small = w @ w.T if shape[0] <= shape[1] else w.T @ w
        assert torch.allclose(small, torch.eye(min(shape), dtype=torch.float64), atol=1e-5)


def test_aliases_resolve():
    a, b = torch.nn.Linear(30, 30), torch.nn.Linear(30, 30)
    init_linear(a, "he", generator=torch.Generator().manual_seed(3))
    init_linear(b, "he_normal", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.weight, b.weight)


def test_bn_toggle_keeps_linear_weights_and_changes_forward():
    torch.manual_seed(0)
    m = MLP(5, 3, depth=3, width=16, activation="relu")
    before = [l.weight.detach().clone() for l in m.all_linears]
    x = torch.randn(32, 5)
    out_plain = m(x)
    m.set_bn(True)
    assert m.bn and len(m.bns) == 3
    out_bn = m(x)
    assert not torch.allclose(out_plain, out_bn)
    m.set_bn(False)
    assert not m.bn
    assert all(torch.equal(b, l.weight) for b, l in zip(before, m.all_linears))
    assert torch.allclose(m(x), out_plain)


@pytest.mark.parametrize("bins", [10, 40, 100])
def test_init_lab_sparkline_shows_every_bin_once(bins):
    from engine.lab.initlab import format_table
    counts = [0] * bins
    counts[-1] = 50   # a spike at the top edge only (tanh saturating at +1)
    counts[0] = 50
    layer = {"name": "hidden1", "act_mean": 0.0, "act_std": 1.0, "sat_frac": 0.5, "dead_frac": None,
             "hist": {"edges": [-1 + 2 * i / bins for i in range(bins + 1)], "counts": counts}}
    result = {"depth": 1, "width": 8, "activation": "tanh", "init": "normal", "init_std": 1.0, "bn": False,
              "n": 100, "layers": [layer]}
    spark = format_table(result).splitlines()[2].split("  ")[-1]
    assert len(spark) <= 20 and spark[0] == "█" and spark[-1] == "█"
    assert set(spark[1:-1]) <= {" "}


def test_initlab_zoom_histogram_spans_each_layers_own_data():
    import torch
    from engine.lab.initlab import run_initlab, zoom_histogram
    a = torch.tensor([[1e-7, 1.5e-7], [3.5e-7, 5e-7]])
    z = zoom_histogram(a, 4)
    assert z["edges"][0] == pytest.approx(1e-7) and z["edges"][-1] == pytest.approx(5e-7)
    assert z["counts"] == [2, 0, 1, 1]                 # bins of 1e-7: [1,2) [2,3) [3,4) [4,5]
    result = run_initlab(depth=4, width=50, n=60)
    for layer in result["layers"]:
        assert sum(layer["zoom"]["counts"]) == 60 * 50
        assert layer["zoom"]["edges"][-1] - layer["zoom"]["edges"][0] <= 2.0
