"""Activation statistics against plain, one-layer-at-a-time reference computations."""
import numpy as np
import pytest
import torch

from engine.train import probes
from engine.train.probes import PCT_SAMPLE, PERCENTILES, snapshot_stats
from engine.train.thresholds import SATURATION


def layers_of(activation: str, shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    fn = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    # layers with different scales and shifts, so per-layer numbers differ from each other
    return [fn(torch.randn(*s, generator=g) * (0.5 + i) + 0.3 * i) for i, s in enumerate(shapes)]


def records(acts, activation, bins=40):
    names = [f"hidden{i + 1}" for i in range(len(acts))]
    return [layer.as_dict() for layer in snapshot_stats([acts], activation, bins, names)[0]]


def same_number_or_none(a, b, rel, abs):
    """Both None, or numbers within the tolerance (pytest.approx takes numbers only)."""
    return (a is None and b is None) or (a is not None and b is not None and a == pytest.approx(b, rel=rel, abs=abs))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("shapes", [[(128, 256)] * 4, [(64, 32), (64, 16), (64, 8)], [(3, 5)] * 2],
                         ids=["stacked", "ragged", "tiny"])
def test_moments_and_fractions_use_every_value(activation, shapes):
    acts = layers_of(activation, shapes)
    for rec, a in zip(records(acts, activation), acts):
        x = a.double()
        assert rec["act_mean"] == pytest.approx(x.mean().item(), rel=1e-5, abs=1e-6)
        assert rec["act_std"] == pytest.approx(x.std(correction=0).item(), rel=1e-5, abs=1e-6)
        assert rec["unit_spread"] == pytest.approx(x.std(1, correction=0).mean().item(), rel=1e-5, abs=1e-6)
        if activation in SATURATION:
            lo, hi = SATURATION[activation]
            assert rec["sat_frac"] == pytest.approx(((x < lo) | (x > hi)).double().mean().item(), rel=1e-6)
            assert rec["dead_frac"] is None and rec["dead_units"] is None
        else:
            assert rec["dead_frac"] == pytest.approx((x <= 0).double().mean().item(), rel=1e-6)
            assert rec["dead_units"] == pytest.approx((x <= 0).all(0).double().mean().item(), rel=1e-6)
            assert rec["sat_frac"] is None


def test_dead_units_counts_units_dead_for_the_whole_batch():
    a = torch.rand(128, 256) + 0.1
    a[:, :64] = 0.0         # a quarter of the units never fire
    a[5, 64:128] = 0.0      # these fire on all but one example: alive
    rec = records([a, a.clone()], "relu")[0]
    assert rec["dead_units"] == 0.25
    assert rec["dead_frac"] == pytest.approx((64 * 128 + 64) / a.numel())


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_percentiles_and_histogram_follow_the_distribution(activation):
    acts = layers_of(activation, [(128, 256)] * 3, seed=3)
    bins = 40
    for rec, a in zip(records(acts, activation, bins), acts):
        x = a.double().numpy().ravel()
        p = rec["pcts"]
        assert len(p) == len(PERCENTILES)
        assert p[0] == x.min() and p[-1] == x.max()  # the extremes are exact
        assert p == sorted(p)
        # the inner percentiles are those of the documented sample (the first examples of the
        # batch, every unit), and so close to the whole batch's: within a few standard errors of
        # a sample quantile
        k = -(-PCT_SAMPLE // a.shape[1])
        assert np.allclose(p[1:-1], np.percentile(a[:k].double().numpy().ravel(), PERCENTILES[1:-1]), rtol=1e-5,
                           atol=1e-6)
        assert np.allclose(p[1:-1], np.percentile(x, PERCENTILES[1:-1]), atol=0.15 * x.std())
        edges, counts = rec["hist"]["edges"], np.array(rec["hist"]["counts"])
        assert len(edges) == bins + 1 and len(counts) == bins
        if activation == "tanh":
            assert edges[0] == -1.0 and edges[-1] == 1.0  # a bounded activation keeps its range
        # the histogram's shape is the full data's shape (the fraction per bin, within 1 %)
        full, _ = np.histogram(x, bins=np.array(edges))
        assert np.abs(counts / counts.sum() - full / full.sum()).max() < 0.01


def test_histograms_of_layers_side_by_side_share_one_range():
    acts = layers_of("relu", [(128, 256)] * 3)
    recs = records(acts, "relu")
    lo = min(a.min().item() for a in acts)
    hi = max(a.max().item() for a in acts)
    for rec in recs:
        assert rec["hist"]["edges"][0] == pytest.approx(lo) and rec["hist"]["edges"][-1] == pytest.approx(hi)


def test_a_layer_of_equal_values_gets_a_nonempty_range():
    recs = records([torch.zeros(16, 8), torch.zeros(16, 8)], "relu")
    edges = recs[0]["hist"]["edges"]
    assert edges[-1] > edges[0]
    assert sum(recs[0]["hist"]["counts"]) > 0 and recs[0]["dead_frac"] == 1.0 and recs[0]["act_std"] == 0.0


@pytest.mark.parametrize("activation", ["relu", "elu", "leaky_relu", "tanh", "sigmoid"])
def test_every_sampled_value_lands_in_its_own_layers_histogram(activation):
    # values at the top edge belong to the last bin of their own layer; every value of the sample
    # is counted once, in its own layer
    g = torch.Generator().manual_seed(1)
    fn = {"relu": torch.relu, "elu": torch.nn.functional.elu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
          "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01)}[activation]
    acts = [fn(torch.randn(64, 128, generator=g) * (1 + i) - 1) for i in range(4)]
    top = max(a.max().item() for a in acts)
    acts[2][:3] = top  # the top edge, reached in a middle layer, several times
    recs = records(acts, activation)
    k = min(64, -(-probes.HIST_SAMPLE // 128))
    for rec, a in zip(recs, acts):
        counts = rec["hist"]["counts"]
        assert sum(counts) == k * 128  # the layer's whole sample, no more, no less
        expected, _ = np.histogram(a[:k].double().numpy().ravel(), bins=np.array(rec["hist"]["edges"]))
        assert np.abs(np.array(counts) - expected).sum() <= 0.002 * k * 128  # only rounding at bin edges moves
    if activation not in ("tanh", "sigmoid"):
        assert recs[2]["hist"]["counts"][-1] >= 3 * 128  # the top-edge values are in layer 3's last bin


def test_values_at_the_bottom_edge_stay_in_their_layer():
    # ELU outputs sit exactly at -1, the range's bottom: with the layer's slot offset added in
    # floats before truncating, lo * scale rounded such values to just under their layer's first
    # slot, into the top bin of the layer before (for 15 of these 80 ranges)
    wrong = []
    for hi in np.linspace(0.05, 4.0, 80).tolist():
        acts = [torch.full((4, 8), -1.0) for _ in range(4)]
        acts[0][0, 0] = hi
        firsts = [r["hist"]["counts"][0] for r in records(acts, "elu")]
        if firsts != [31, 32, 32, 32]:
            wrong.append((hi, firsts))
    assert not wrong


def test_statistics_accept_tensors_that_still_require_grad():
    a = torch.randn(16, 8, requires_grad=True)
    acts = [torch.relu(a), torch.relu(a * 2)]
    recs = records(acts, "relu")
    assert recs[0]["act_mean"] == pytest.approx(torch.relu(a).mean().item(), rel=1e-5)
    assert recs[1]["dead_frac"] == pytest.approx((a <= 0).double().mean().item())


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_snapshots_made_together_are_the_snapshots_made_one_by_one(activation):
    # probe steps' records are made several at a time, all their layers stacked: an epoch's short
    # last batch (its own group), and layers of very different ranges in different snapshots (each
    # snapshot keeps its own histogram range) must give exactly what each gives alone
    fn = {"relu": torch.relu, "tanh": torch.tanh, "elu": torch.nn.functional.elu}[activation]
    g = torch.Generator().manual_seed(7)
    snaps = [[fn(torch.randn(b, 64, generator=g) * scale + shift) for _ in range(3)]
             for b, scale, shift in [(48, 1.0, 0.0), (48, 9.0, 2.0), (13, 0.2, -1.0), (48, 0.01, 0.5)]]
    names = ["hidden1", "hidden2", "hidden3"]
    together = [[l.as_dict() for l in layers] for layers in snapshot_stats(snaps, activation, 20, names)]
    alone = [[l.as_dict() for l in snapshot_stats([acts], activation, 20, names)[0]] for acts in snaps]
    assert len(together) == len(alone) == 4
    for t, a in zip(together, alone):
        assert [r["name"] for r in t] == names
        for rt, ra in zip(t, a):
            assert rt["hist"]["counts"] == ra["hist"]["counts"]
            assert rt["hist"]["edges"] == pytest.approx(ra["hist"]["edges"], rel=1e-12, abs=1e-12)
            assert rt["pcts"] == pytest.approx(ra["pcts"], rel=1e-6, abs=1e-7)
            for key in ("act_mean", "act_std", "unit_spread", "dead_frac", "sat_frac", "dead_units"):
                assert same_number_or_none(rt[key], ra[key], rel=1e-6, abs=1e-9), key
    if activation != "tanh":  # each snapshot's histograms span its own layers' values
        assert together[1][0]["hist"]["edges"][-1] > 5 * together[0][0]["hist"]["edges"][-1]


def test_a_relu_layer_without_a_zero_gets_its_own_minimum():
    # a ReLU layer's minimum is read from its count of positive values (0 if any value is not
    # positive); a layer whose every value is positive must still get its true minimum
    g = torch.Generator().manual_seed(2)
    acts = [torch.rand(32, 16, generator=g) + 0.5, torch.relu(torch.randn(32, 16, generator=g))]
    recs = records(acts, "relu")
    assert recs[0]["pcts"][0] == acts[0].min().item() > 0.5
    assert recs[1]["pcts"][0] == 0.0
    lone = records([acts[0], acts[0] + 1.0], "relu")
    assert lone[0]["hist"]["edges"][0] == pytest.approx(acts[0].min().item())


def test_the_statistics_leave_the_activations_they_are_given_as_they_were():
    acts = layers_of("relu", [(32, 16)] * 3) + layers_of("relu", [(32, 8)])   # stacked, then one by one
    before = [a.clone() for a in acts]
    snapshot_stats([acts[:3], acts], "relu", 20, ["h1", "h2", "h3", "h4"][:3])
    snapshot_stats([acts], "relu", 20, ["h1", "h2", "h3", "h4"])
    assert all(torch.equal(a, b) for a, b in zip(acts, before))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_trainer_s_probe_steps_give_the_statistics_of_their_own_activations(activation):
    # the probe keeps each step's activations in reused slots until finish(): across short epoch
    # tails, finishes of 1 to 7 steps and the slots growing, each record must be that step's own
    from engine.train.config import RunConfig
    from engine.train.trainer import Trainer
    trainer = Trainer(RunConfig(dataset="spiral", n_samples=300, width=16, depth=3, batch_size=64,
                                activation=activation, probe_every=1, steps=100))
    assert trainer.n_train % trainer.batch_size   # an epoch ends on a short batch
    names = trainer.model.layer_names()[:-1]
    seen: list[torch.Tensor] = []   # each hidden layer's output, as its forward pass made it
    for module in trainer.model.acts:
        module.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    shapes_seen = set()
    for group in (1, 3, 7, 2, 5, 7, 1, 4):
        snaps, copies = [], []
        for _ in range(group):
            seen.clear()
            snaps.append(trainer.step().snapshot)
            copies.append(seen[:len(names)])   # a validation pass may follow: not a probe's
            shapes_seen.add(seen[0].shape[0])
        got = [[l.as_dict() for l in layers[:-1]] for layers in trainer.probe.finish(snaps)]
        want = [[l.as_dict() for l in layers] for layers in snapshot_stats(copies, activation, trainer.probe.bins, names)]
        for g, w in zip(got, want, strict=True):
            for rg, rw in zip(g, w, strict=True):
                assert rg["hist"]["counts"] == rw["hist"]["counts"]
                for key in ("act_mean", "act_std", "dead_frac", "sat_frac", "dead_units"):
                    assert same_number_or_none(rg[key], rw[key], rel=1e-6, abs=1e-9), key
    assert len(shapes_seen) == 2   # full batches and the short tail both went through
