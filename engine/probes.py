"""Per-layer probes: what each layer's activations, weights, gradients and updates look like.

Life cycle (as fastai's Hook/HookCallback): `attach()` registers one forward hook per hidden
activation module at fit start, `detach()` removes them at stop or on error. Hooks cost one
attribute check on steps that are not probed; on a probe step (`armed`), they keep a reference to
the layer's output and the statistics are computed after backward.

The update/weight-norm ratio ||W_after - W_before|| / ||W_before|| is measured across the real
`optimizer.step()`: a copy of each weight matrix is taken just before it and compared just after,
so it is right for momentum, Adam and weight decay, not only for plain SGD's lr*||grad||.

Thresholds (documented for the user, also used by the diagnostics):
    dead_frac   ReLU family (relu, leaky_relu, elu, prelu, gelu): fraction of outputs <= 0
    dead_units  ReLU family: fraction of units that are <= 0 for every example of the batch
    sat_frac    tanh: |a| > 0.99;  sigmoid: a < 0.01 or a > 0.99 (gradient below ~2% of its peak)
Histograms have a fixed number of bins. Their range is fixed for bounded activations (tanh
[-1, 1], sigmoid [0, 1]) and otherwise shared by all layers of one snapshot (min..max over all of
them), so layers side by side are drawn on one scale, as in the lecture's figure.

Histograms and percentiles are taken from a deterministic strided sample of at most
_HIST_SAMPLE / _PCT_SAMPLE values per layer that covers every unit (all values when a layer has
fewer); the 0th and 100th percentiles are the exact extremes. Everything else uses every value.

Cost (benchmarks/bench_engine.py): the hidden layers of an MLP share one shape, so their
activations are stacked and each statistic is one batched op for all layers; the weight norms
are foreach ops; the weight copies are reused buffers. All statistics stay tensors until
`after_step`, which moves them to the host in one transfer (`_to_host`): each `.item()`/`.cpu()`
is a device sync point, and one per snapshot is enough.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .model import MLP
from .thresholds import BOUNDED_RANGE, PERCENTILES, RELU_FAMILY, SATURATION  # noqa: F401 (re-exported)

# Histograms and percentiles are computed on a deterministic strided sample of each layer's
# values (every unit is sampled; see _sample); means, stds, dead/saturated fractions and ranges
# use every value. Layers with fewer values than the cap use them all.
_HIST_SAMPLE = 8192
_PCT_SAMPLE = 2048


def activation_stats(acts: list[torch.Tensor], activation: str, bins: int) -> dict[str, torch.Tensor]:
    """Statistics of each hidden layer's output, stacked as tensors (layers along dim 0).

    The layers of an MLP all have the same shape, so they are stacked into one (layers, batch,
    units) tensor and every statistic is one batched reduction over it: a dozen tensor ops per
    snapshot whatever the depth, instead of a dozen per layer (each op costs microseconds of
    dispatch on small tensors). Layers of different shapes are handled one by one, same maths.
    """
    flat = [a.detach().reshape(a.shape[0], -1).float() for a in acts]
    if len({a.shape for a in flat}) == 1:
        stacks = [torch.stack(flat)]
    else:
        stacks = [a.unsqueeze(0) for a in flat]
    # per unit, over the batch: the smallest and largest value (amin/amax along one dim are far
    # cheaper on the CPU than aminmax with a dim); the layers' extremes follow
    unit_min = [s.amin(1) for s in stacks]
    unit_max = [s.amax(1) for s in stacks]
    mins = torch.cat([m.amin(1) for m in unit_min])
    maxs = torch.cat([m.amax(1) for m in unit_max])
    if activation in BOUNDED_RANGE:
        lo = torch.tensor(BOUNDED_RANGE[activation][0], device=flat[0].device)
        hi = torch.tensor(BOUNDED_RANGE[activation][1], device=flat[0].device)
    else:
        lo, hi = mins.min(), maxs.max()
        hi = torch.maximum(hi, lo + 1e-6)  # a layer of all-equal values still gets a non-empty range
    parts = [_stacked_stats(s, m, activation, lo, hi, bins) for s, m in zip(stacks, unit_max)]
    stats = parts[0] if len(parts) == 1 else {
        k: None if parts[0][k] is None else torch.cat([p[k] for p in parts]) for k in parts[0]}
    # the 0th and 100th percentiles are the exact extremes (a sample may miss them)
    stats["pcts"][:, 0], stats["pcts"][:, -1] = mins, maxs
    stats["hist_lo"], stats["hist_hi"] = lo, hi
    return stats


def _stacked_stats(A: torch.Tensor, unit_max: torch.Tensor, activation: str, lo: torch.Tensor, hi: torch.Tensor,
                   bins: int) -> dict[str, torch.Tensor | None]:
    """Statistics of a (layers, batch, units) stack of activations, one row per layer."""
    L, B, U = A.shape
    X = A.view(L, B * U)
    # per example: mean and (two-pass) variance across units; the layer's mean and variance follow
    # exactly (total variance = mean within-example variance + variance of the example means)
    ex_mean = A.mean(2, keepdim=True)
    ex_var = (A - ex_mean).square_().mean(2)
    ex_mean = ex_mean.view(L, B)
    means = ex_mean.mean(1)
    stds = (ex_var.mean(1) + (ex_mean - means[:, None]).square_().mean(1)).sqrt_()
    # spread across units, averaged over the batch: 0 when every unit computes the same thing
    unit_spread = ex_var.sqrt().mean(1)
    if activation in SATURATION:
        lo_s, hi_s = SATURATION[activation]
        # the two tails are disjoint: two counts added are the count of the union
        n_sat = _count_positive(lo_s - X) + _count_positive(X - hi_s)
        sat = n_sat / X.shape[1]
        dead = dead_units = None
    else:
        sat = None
        dead = (X.shape[1] - _count_positive(X)) / X.shape[1]
        dead_units = (unit_max <= 0).sum(1).float() / U  # <= 0 for every example of the batch
    return {"act_mean": means, "act_std": stds, "sat_frac": sat, "dead_frac": dead, "dead_units": dead_units,
            "unit_spread": unit_spread, "counts": _histograms(_sample(X, _HIST_SAMPLE, U), lo, hi, bins),
            "pcts": _percentiles(_sample(X, _PCT_SAMPLE, U))}


def _count_positive(X: torch.Tensor) -> torch.Tensor:
    """Per row, how many values are > 0, as floats: the sum of sign(x) clamped at 0. On the CPU
    this is several times cheaper than a boolean comparison and an integer sum, and exact (the
    partial sums are integers below 2**24). x - c > 0 exactly when x > c (no float rounding
    turns a nonzero difference into 0), so thresholds are counted the same way."""
    return torch.sign(X).clamp_(min=0).sum(1)


def _sample(X: torch.Tensor, cap: int, row: int) -> torch.Tensor:
    """A deterministic strided sample of at most `cap` values of each row of X (a strided view,
    no copy). The stride is made coprime with the layer width `row`, so every unit is sampled
    (a stride of 4 over 256 units would only ever see units 0, 4, 8, ...)."""
    n = X.shape[1]
    if n <= cap:
        return X
    stride = math.ceil(n / cap)
    while math.gcd(stride, row) != 1:
        stride += 1
    return X[:, ::stride]


def _histograms(X: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int) -> torch.Tensor:
    """(layers, bins) counts over one shared range [lo, hi], all layers in one bincount.
    bincount instead of histc: histc needs Python floats for its range, i.e. a sync on GPU."""
    L = X.shape[0]
    # x >= lo, so truncating to an integer is flooring; hi itself falls in the last bin
    pos = (X - lo).mul_(bins / (hi - lo)).clamp_(0, bins - 1)
    pos += torch.arange(0, L * bins, bins, device=X.device, dtype=pos.dtype)[:, None]  # layer i: bins i*bins..
    return torch.bincount(pos.to(torch.int32).view(-1), minlength=L * bins).view(L, bins)


def _percentiles(S: torch.Tensor) -> torch.Tensor:
    """(layers, len(PERCENTILES)) of each row of the sample S, interpolated linearly between order
    statistics (torch.quantile's default)."""
    q = torch.tensor([p / 100.0 for p in PERCENTILES], device=S.device)
    if S.device.type != "cpu":
        return torch.quantile(S, q, dim=1).T
    # on the CPU numpy's sort is several times faster than torch.sort/torch.quantile (no indices)
    s = np.sort(S.numpy(), axis=1)
    pos = q.numpy().astype(np.float64) * (s.shape[1] - 1)
    below = np.floor(pos).astype(np.int64)
    above = np.minimum(below + 1, s.shape[1] - 1)
    frac = (pos - below).astype(np.float32)
    return torch.from_numpy(s[:, below] + (s[:, above] - s[:, below]) * frac)


def stats_to_layers(stats: dict[str, torch.Tensor], names: list[str], bins: int) -> list[dict]:
    """Turn stacked statistics into plain per-layer dicts (one host transfer)."""
    keys = [k for k in _LAYER_ROWS if stats[k] is not None]
    rows, counts, pcts, rng = _to_host([torch.stack([stats[k] for k in keys]), stats["counts"], stats["pcts"],
                                        torch.stack([stats["hist_lo"], stats["hist_hi"]])])
    return _act_records(dict(zip(keys, rows.tolist())), counts, pcts, rng, names, bins)


_LAYER_ROWS = ("act_mean", "act_std", "dead_frac", "sat_frac", "dead_units", "unit_spread")


def _to_host(tensors: list[torch.Tensor]) -> list[np.ndarray]:
    """Several tensors to the host in one transfer (each .cpu() is a device sync point), as
    float64 arrays of their own shapes (float32 values and integer counts are exact in float64)."""
    if all(t.device.type == "cpu" for t in tensors):  # already on the host: no copies needed
        return [t.detach().numpy() for t in tensors]
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors]).cpu().numpy()
    out, i = [], 0
    for t in tensors:
        out.append(flat[i:i + t.numel()].reshape(t.shape))
        i += t.numel()
    return out


def _act_records(rows: dict[str, list[float]], counts: np.ndarray, pcts: np.ndarray, rng: np.ndarray,
                 names: list[str], bins: int) -> list[dict]:
    lo, hi = float(rng[0]), float(rng[1])
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    counts_l, pcts_l = counts.astype(np.int64).tolist(), pcts.tolist()
    none = [None] * len(names)
    mean, std, dead, sat, dead_units, spread = (rows.get(k, none) for k in _LAYER_ROWS)
    return [{"name": name, "act_mean": mean[i], "act_std": std[i], "dead_frac": dead[i], "sat_frac": sat[i],
             "dead_units": dead_units[i], "unit_spread": spread[i],
             "hist": {"edges": edges, "counts": counts_l[i]}, "pcts": pcts_l[i]}
            for i, name in enumerate(names)]


class Probe:
    """Forward hooks on the hidden activations plus a snapshot around optimizer.step()."""

    def __init__(self, model: MLP, bins: int = 40):
        self.model = model
        self.bins = bins
        self.armed = False
        self._acts: list[torch.Tensor | None] = [None] * len(model.acts)
        self._handles: list = []
        self._before: list[torch.Tensor] | None = None  # weight copies, reused from probe to probe
        self._pending: dict | None = None

    # -- life cycle -----------------------------------------------------------------
    def attach(self) -> "Probe":
        if not self._handles:
            for i, act in enumerate(self.model.acts):
                self._handles.append(act.register_forward_hook(self._make_hook(i)))
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._acts = [None] * len(self.model.acts)
        self.armed = False

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def _make_hook(self, i: int):
        def hook(module, inputs, output):
            if self.armed:  # the only cost on steps that are not probed
                self._acts[i] = output.detach()
        return hook

    # -- around the optimizer step ------------------------------------------------------
    @torch.no_grad()
    def before_step(self) -> None:
        """After backward, before optimizer.step(): activation stats, grad and weight norms, and a
        copy of each weight matrix to measure the update against."""
        weights = [l.weight.detach() for l in self.model.all_linears]
        grads = [l.weight.grad if l.weight.grad is not None else torch.zeros_like(w)
                 for l, w in zip(self.model.all_linears, weights)]
        norms = torch._foreach_norm(grads + weights)  # one call for both lists
        self._pending = {"grad_norm": norms[:len(grads)], "w_before": norms[len(grads):]}
        if all(a is not None for a in self._acts):
            self._pending["acts"] = activation_stats(self._acts, self.model.activation_name, self.bins)
        if self._before is None or [b.shape for b in self._before] != [w.shape for w in weights]:
            self._before = [torch.empty_like(w) for w in weights]
        torch._foreach_copy_(self._before, weights)
        self._acts = [None] * len(self.model.acts)

    @torch.no_grad()
    def after_step(self) -> list[dict]:
        """After optimizer.step(): weight norms and update ratios; returns the per-layer records."""
        weights = [l.weight.detach() for l in self.model.all_linears]
        pending = self._pending
        torch._foreach_sub_(self._before, weights)  # the copies now hold W_before - W_after
        per_linear = torch.stack([*pending["w_before"], *torch._foreach_norm(self._before),
                                  *torch._foreach_norm(weights), *pending["grad_norm"]])
        names = self.model.layer_names()
        acts = pending.get("acts")
        if acts is not None:
            keys = [k for k in _LAYER_ROWS if acts[k] is not None]
            # everything of this snapshot crosses to the host in one transfer
            packed, rows, counts, pcts, rng = _to_host([
                per_linear, torch.stack([acts[k] for k in keys]), acts["counts"], acts["pcts"],
                torch.stack([acts["hist_lo"], acts["hist_hi"]])])
            layers = _act_records(dict(zip(keys, rows.tolist())), counts, pcts, rng, names[:-1], self.bins)
            layers.append(_no_act_stats(names[-1]))
        else:
            packed = _to_host([per_linear])[0]
            layers = [_no_act_stats(n) for n in names]
        n = len(weights)
        wb, d, wa, g = (packed[k * n:(k + 1) * n].tolist() for k in range(4))
        for i, rec in enumerate(layers):
            rec["weight_norm"] = _finite(wa[i])
            rec["grad_norm"] = _finite(g[i])
            rec["update_ratio"] = _finite(d[i] / wb[i]) if wb[i] > 0 else None  # undefined for all-zero W
        self._pending = None
        return layers


def _no_act_stats(name: str) -> dict:
    # the output layer's logits (and layers on a step whose forward was not probed) have no
    # activation statistics; the keys are there so every layer record has the same shape
    return {"name": name, "act_mean": None, "act_std": None, "dead_frac": None, "sat_frac": None,
            "dead_units": None, "unit_spread": None, "hist": None, "pcts": None}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
