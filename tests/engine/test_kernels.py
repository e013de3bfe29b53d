"""The compiled loops (engine/kernels.py) against the tensor-op path and hand-computed numbers."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine import kernels, probes
from engine.probes import activation_stats, kernel_records, kernel_snapshot, stats_to_layers

# numba is a dependency: where it is installed, its kernels must pass their own first-call check
# (a kernel that failed it would silently hand every probe to the tensor-op path)
pytestmark = pytest.mark.skipif(kernels.numba is None, reason="numba is not installed")


def test_the_kernels_pass_their_first_call_check():
    assert kernels.ready()

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "elu": F.elu,
               "leaky_relu": lambda t: F.leaky_relu(t, 0.01), "gelu": F.gelu}
KEYS = ("act_mean", "act_std", "unit_spread", "dead_frac", "sat_frac", "dead_units")


def layers(activation, shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    fn = ACTIVATIONS[activation]
    return [fn(torch.randn(*s, generator=g) * (0.5 + i) + 0.3 * i - 0.5) for i, s in enumerate(shapes)]


def by_kernels(snaps, activation, bins=40):
    names = [f"hidden{i + 1}" for i in range(len(snaps[0]))]
    raws = [kernel_snapshot(acts, activation, bins) for acts in snaps]
    assert all(r is not None for r in raws)
    return kernel_records(raws, names, bins)


def by_tensor_ops(acts, activation, bins=40):
    names = [f"hidden{i + 1}" for i in range(len(acts))]
    return stats_to_layers(activation_stats(acts, activation, bins), names, bins)


def assert_same_records(got, want):
    assert [r["name"] for r in got] == [r["name"] for r in want]
    for g, w in zip(got, want):
        assert g["hist"]["counts"] == w["hist"]["counts"]  # every value in the same bin
        assert all(isinstance(c, int) for c in g["hist"]["counts"])
        assert g["hist"]["edges"] == pytest.approx(w["hist"]["edges"], rel=1e-12, abs=1e-12)
        assert g["pcts"] == pytest.approx(w["pcts"], rel=1e-6, abs=1e-7)
        for key in KEYS:
            assert (g[key] is None) == (w[key] is None), key
            if w[key] is not None:
                assert g[key] == pytest.approx(w[key], rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(128, 256), (13, 64), (3, 5)], ids=["batch", "short", "tiny"])
def test_kernel_records_are_the_tensor_op_records(activation, shape):
    acts = layers(activation, [shape] * 4)
    assert_same_records(by_kernels([acts], activation)[0], by_tensor_ops(acts, activation))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_kernel_numbers_are_the_hand_computed_ones(activation):
    acts = layers(activation, [(128, 256)] * 3, seed=4)
    for rec, a in zip(by_kernels([acts], activation)[0], acts):
        x = a.double()
        assert rec["act_mean"] == pytest.approx(x.mean().item(), rel=1e-6, abs=1e-9)
        assert rec["act_std"] == pytest.approx(x.std(correction=0).item(), rel=1e-5)
        assert rec["unit_spread"] == pytest.approx(x.std(1, correction=0).mean().item(), rel=1e-5)
        assert rec["pcts"][0] == x.min().item() and rec["pcts"][-1] == x.max().item()
        if activation == "relu":
            assert rec["dead_frac"] == (x <= 0).double().mean().item()
            assert rec["dead_units"] == (x <= 0).all(0).double().mean().item()
        else:
            lo, hi = probes.SATURATION[activation]
            assert rec["sat_frac"] == ((x < lo) | (x > hi)).double().mean().item()


def test_a_collapsed_sigmoid_layer_keeps_its_tiny_spread():
    # sigmoid after a tiny init: every value ~0.5, spread ~1e-5. Two-pass moments keep it; a
    # one-pass sum of squares would lose it to cancellation
    g = torch.Generator().manual_seed(3)
    a = torch.sigmoid(torch.randn(128, 256, generator=g) * 4e-5)
    rec = by_kernels([[a, a.clone()]], "sigmoid")[0][0]
    assert rec["act_std"] == pytest.approx(a.double().std(correction=0).item(), rel=1e-3)
    assert 0 < rec["act_std"] < 2e-5


def test_snapshots_finished_together_are_the_snapshots_finished_alone():
    # an epoch's short last batch (its own group) and snapshots of very different ranges
    g = torch.Generator().manual_seed(7)
    snaps = [[F.elu(torch.randn(b, 64, generator=g) * scale + shift) for _ in range(3)]
             for b, scale, shift in [(48, 1.0, 0.0), (48, 9.0, 2.0), (13, 0.2, -1.0), (48, 0.01, 0.5)]]
    together = by_kernels(snaps, "elu", bins=20)
    for t, acts in zip(together, snaps):
        assert_same_records(t, by_tensor_ops(acts, "elu", bins=20))
    assert together[1][0]["hist"]["edges"][-1] > 5 * together[0][0]["hist"]["edges"][-1]


def test_layers_the_kernels_do_not_take_go_to_the_tensor_ops():
    a = torch.rand(16, 8)
    assert kernel_snapshot([a, torch.rand(16, 4)], "relu", 10) is None          # ragged widths
    assert kernel_snapshot([a, torch.rand(8, 16).T], "relu", 10) is None        # not contiguous
    assert kernel_snapshot([a, a.double()], "relu", 10) is None                  # not float32
    assert kernel_snapshot([a, a.clone().requires_grad_()], "relu", 10) is None  # still in a graph
    assert kernel_snapshot([a, a.clone()], "relu", 10) is not None


def test_a_histogram_never_writes_outside_its_row():
    bins = 8
    a = np.array([[np.nan, -np.inf, np.inf, -5.0, 0.0, 0.5, 1.0, 7.0]], np.float32)
    slab = np.zeros(3 * (bins + 1), np.int64)
    row = slab[bins + 1:2 * (bins + 1)]  # guarded by the rows before and after it
    kernels.histogram(a, 1, np.float32(0.0), np.float32(bins), row, np.empty(8, np.int32))
    assert slab[:bins + 1].sum() == 0 and slab[2 * (bins + 1):].sum() == 0
    assert row.sum() == a.size
    assert row[0] == 4  # NaN, -inf, -5 and 0 at the bottom
    assert row[4] == 1 and row[bins] == 3  # 0.5 in the middle; 1.0 (the top edge), 7 and inf clamped to it


def test_the_weight_passes_measure_what_torch_measures():
    g = torch.Generator().manual_seed(0)
    w, grad = torch.randn(256, 64, generator=g), torch.randn(256, 64, generator=g)
    flat, copy, out = w.numpy().reshape(-1), np.empty(w.numel(), np.float32), np.empty((3, 1))
    kernels.weight_before(flat, grad.numpy().reshape(-1), copy, out, 0)
    before = w.clone()
    assert np.array_equal(copy, before.numpy().reshape(-1))
    w -= 1e-3 * torch.randn(256, 64, generator=g)  # an update, in place
    kernels.weight_change(flat, copy, out, 0, False, np.empty(1))
    assert out[0, 0] == pytest.approx(grad.double().norm().item(), rel=1e-12)
    assert out[1, 0] == pytest.approx(before.double().norm().item(), rel=1e-12)
    assert out[2, 0] == pytest.approx((w.double() - before.double()).norm().item(), rel=1e-9)
    nxt, prev = np.empty(1), copy.copy()
    w -= 1e-3
    kernels.weight_change(flat, copy, out, 0, True, nxt)  # the change, and a copy for the next step
    assert out[2, 0] == pytest.approx(np.linalg.norm(flat.astype(np.float64) - prev), rel=1e-9)
    assert np.array_equal(copy, flat) and nxt[0] == pytest.approx(w.double().norm().item(), rel=1e-12)
    kernels.grad_norm(grad.numpy().reshape(-1), out, 0)
    assert out[0, 0] == pytest.approx(grad.double().norm().item(), rel=1e-12)


def test_counting_right_answers_breaks_ties_as_argmax_does():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(40, 10, generator=g)
    logits[:8] = 0.0  # a zeros init: every class ties, argmax says class 0
    logits[8:12, 3] = logits[8:12, 5] = 9.0  # a tie between two classes: the first wins
    labels = torch.randint(0, 10, (40,), generator=g)
    labels[:4] = 0
    labels[8:10] = 5
    sizes = np.array([17, 23], np.int64)
    right = np.empty(2, np.int64)
    kernels.count_right(logits.numpy(), labels.numpy(), sizes, right)
    hits = (logits.argmax(1) == labels).numpy()
    assert right.tolist() == [int(hits[:17].sum()), int(hits[17:].sum())]
    assert right[0] >= 4


def test_without_the_kernels_a_session_gives_the_same_records(monkeypatch):
    from engine.config import RunConfig
    from engine.session import TrainingSession

    def run():
        s = TrainingSession(RunConfig(dataset="blobs", n_samples=300, depth=3, width=32, batch_size=64,
                                      steps=30, probe_every=1, eval_every=1000, seed=0))
        s.gather = 16
        for _ in range(30):
            s.step()
        s.flush()
        return s.history.snapshots, list(s.history.column("train_acc"))

    fast, fast_acc = run()
    monkeypatch.setattr(kernels, "_checked", False)  # as where numba is missing
    assert not kernels.ready()
    slow, slow_acc = run()
    assert fast_acc == slow_acc
    assert [r["step"] for r in fast] == [r["step"] for r in slow] == list(range(1, 31))
    for rf, rs in zip(fast, slow):
        for lf, ls in zip(rf["layers"], rs["layers"]):
            for key in ("weight_norm", "grad_norm", "update_ratio"):
                assert lf[key] == pytest.approx(ls[key], rel=1e-5), key
            if ls["hist"] is not None:
                assert lf["hist"]["counts"] == ls["hist"]["counts"]
                for key in KEYS:
                    assert (lf[key] is None) == (ls[key] is None)
                    if ls[key] is not None:
                        assert lf[key] == pytest.approx(ls[key], rel=1e-5, abs=1e-7), key


def test_a_weight_copy_kept_for_the_next_probe_step_is_not_used_after_a_reinit():
    # probing every step, the pass after an update copies the weights for the next probe step;
    # a re-init in between writes to the weights (their version counters move): the next update
    # ratio must measure the step from the re-initialised weights, not from the old copy
    from engine.model import MLP
    torch.manual_seed(0)
    model = MLP(8, 3, depth=2, width=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    probe = probes.Probe(model).attach()
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))

    def probed_step():
        loss = F.cross_entropy(probe.forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        probe.before_step()
        start = [l.weight.detach().clone() for l in model.all_linears]
        opt.step()
        probe.after_step(None, next_probed=True)
        return start

    probed_step()
    probe.finish()  # the first step's record; its pass after the update kept a copy for the next
    with torch.no_grad():
        model.reinit("he_normal", generator=torch.Generator().manual_seed(5))
    start = probed_step()
    (_, layers), = probe.finish()
    for rec, l, w0 in zip(layers, model.all_linears, start):
        assert rec["weight_norm"] == pytest.approx(w0.double().norm().item(), rel=1e-6)
        change = (l.weight.detach().double() - w0.double()).norm().item()
        assert rec["update_ratio"] == pytest.approx(change / w0.double().norm().item(), rel=1e-5)


@pytest.mark.parametrize("K", [1, 3, 8, 9, 32])
def test_histogram_edges_are_linspace_values_for_few_and_many_snapshots(K):
    # a few snapshots' edges are made in plain floats, many in numpy: the same values either way
    rng = np.random.default_rng(K)
    lo = rng.normal(size=K) * 3
    hi = lo + rng.random(K) * 10 + 1e-6
    for edges, a, b in zip(probes._edges(lo, hi, K, 40), lo, hi):
        want = np.linspace(a, b, 41)
        assert edges[0] == a and edges[-1] == b
        assert np.allclose(edges, want, rtol=1e-15, atol=0)
    m = min(K, 2)
    few = probes._edges(lo[:m], hi[:m], m, 40)  # plain floats
    many = probes._edges(np.tile(lo[:m], 10), np.tile(hi[:m], 10), 10 * m, 40)  # numpy
    assert few == many[:m]  # to the bit
