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

All statistics stay tensors until `to_records`, which moves them to the host in one transfer:
each `.item()`/`.cpu()` is a device sync point, and one per snapshot is enough.
"""
from __future__ import annotations

import math

import torch

from .model import MLP

SATURATION = {"tanh": (-0.99, 0.99), "sigmoid": (0.01, 0.99)}
BOUNDED_RANGE = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
RELU_FAMILY = ("relu", "leaky_relu", "elu", "prelu", "gelu")
# TensorBoard's distribution view draws these percentiles (normal-distribution basis points)
PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)
_PCT_SAMPLE = 8192  # percentiles from at most this many values (strided sample, deterministic)


def activation_stats(acts: list[torch.Tensor], activation: str, bins: int) -> dict[str, torch.Tensor]:
    """Statistics of each hidden layer's output, stacked as tensors (layers along dim 0)."""
    flat = [a.detach().reshape(a.shape[0], -1).float() for a in acts]
    means = torch.stack([a.mean() for a in flat])
    stds = torch.stack([a.std(unbiased=False) for a in flat])
    if activation in SATURATION:
        lo_s, hi_s = SATURATION[activation]
        sat = torch.stack([((a < lo_s) | (a > hi_s)).float().mean() for a in flat])
        dead = dead_units = None
    else:
        sat = None
        dead = torch.stack([(a <= 0).float().mean() for a in flat])
        dead_units = torch.stack([(a <= 0).all(dim=0).float().mean() for a in flat])
    # spread across units, averaged over the batch: 0 when every unit computes the same thing
    unit_spread = torch.stack([a.std(dim=1, unbiased=False).mean() if a.shape[1] > 1 else a.new_zeros(()) for a in flat])
    if activation in BOUNDED_RANGE:
        lo = torch.tensor(BOUNDED_RANGE[activation][0], device=flat[0].device)
        hi = torch.tensor(BOUNDED_RANGE[activation][1], device=flat[0].device)
    else:
        lo = torch.stack([a.min() for a in flat]).min()
        hi = torch.stack([a.max() for a in flat]).max()
        hi = torch.maximum(hi, lo + 1e-6)  # a layer of all-equal values still gets a non-empty range
    counts = torch.stack([_histogram(a.reshape(-1), lo, hi, bins) for a in flat])
    q = torch.tensor([p / 100.0 for p in PERCENTILES], device=flat[0].device)
    pcts = torch.stack([torch.quantile(_sample(a.reshape(-1)), q) for a in flat])
    return {"act_mean": means, "act_std": stds, "sat_frac": sat, "dead_frac": dead, "dead_units": dead_units,
            "unit_spread": unit_spread, "hist_lo": lo, "hist_hi": hi, "counts": counts, "pcts": pcts}


def _histogram(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int) -> torch.Tensor:
    # bincount instead of histc: histc needs Python floats for its range, i.e. a sync on GPU
    idx = ((x - lo) / (hi - lo) * bins).floor().clamp_(0, bins - 1).long()
    return torch.bincount(idx, minlength=bins)[:bins]


def _sample(x: torch.Tensor) -> torch.Tensor:
    if x.numel() <= _PCT_SAMPLE:
        return x
    return x[:: math.ceil(x.numel() / _PCT_SAMPLE)]


def stats_to_layers(stats: dict[str, torch.Tensor], names: list[str], bins: int) -> list[dict]:
    """Turn stacked statistics into plain per-layer dicts (one host transfer per tensor kind)."""
    host = {k: (v.detach().cpu().tolist() if isinstance(v, torch.Tensor) else v) for k, v in stats.items()}
    lo, hi = float(host["hist_lo"]), float(host["hist_hi"])
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    layers = []
    for i, name in enumerate(names):
        layers.append({
            "name": name,
            "act_mean": host["act_mean"][i],
            "act_std": host["act_std"][i],
            "dead_frac": None if host["dead_frac"] is None else host["dead_frac"][i],
            "sat_frac": None if host["sat_frac"] is None else host["sat_frac"][i],
            "dead_units": None if host["dead_units"] is None else host["dead_units"][i],
            "unit_spread": host["unit_spread"][i],
            "hist": {"edges": edges, "counts": [int(c) for c in host["counts"][i]]},
            "pcts": host["pcts"][i],
        })
    return layers


class Probe:
    """Forward hooks on the hidden activations plus a snapshot around optimizer.step()."""

    def __init__(self, model: MLP, bins: int = 40):
        self.model = model
        self.bins = bins
        self.armed = False
        self._acts: list[torch.Tensor | None] = [None] * len(model.acts)
        self._handles: list = []
        self._before: list[torch.Tensor] | None = None
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
        """After backward, before optimizer.step(): activation stats, grad norms, weight copies."""
        linears = self.model.all_linears
        weights = [l.weight for l in linears]
        grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in weights]
        self._pending = {"grad_norm": torch.stack(torch._foreach_norm(grads))}
        if all(a is not None for a in self._acts):
            self._pending["acts"] = activation_stats(self._acts, self.model.activation_name, self.bins)
        self._before = [w.detach().clone() for w in weights]
        self._acts = [None] * len(self.model.acts)

    @torch.no_grad()
    def after_step(self) -> list[dict]:
        """After optimizer.step(): weight norms and update ratios; returns the per-layer records."""
        weights = [l.weight.detach() for l in self.model.all_linears]
        before = self._before
        w_before = torch.stack(torch._foreach_norm(before))
        diff = torch.stack(torch._foreach_norm(torch._foreach_sub(weights, before)))
        w_after = torch.stack(torch._foreach_norm(weights))
        # single host transfer for the per-Linear numbers
        packed = torch.stack([w_before, diff, w_after, self._pending["grad_norm"]]).cpu().tolist()
        names = self.model.layer_names()
        if "acts" in self._pending:
            layers = stats_to_layers(self._pending["acts"], names[:-1], self.bins)
            layers.append(_no_act_stats(names[-1]))
        else:
            layers = [_no_act_stats(n) for n in names]
        for i, rec in enumerate(layers):
            wb, d, wa, g = packed[0][i], packed[1][i], packed[2][i], packed[3][i]
            rec["weight_norm"] = _finite(wa)
            rec["grad_norm"] = _finite(g)
            rec["update_ratio"] = _finite(d / wb) if wb > 0 else None  # undefined for all-zero W
        self._before = None
        self._pending = None
        return layers


def _no_act_stats(name: str) -> dict:
    # the output layer's logits (and layers on a step whose forward was not probed) have no
    # activation statistics; the keys are there so every layer record has the same shape
    return {"name": name, "act_mean": None, "act_std": None, "dead_frac": None, "sat_frac": None,
            "dead_units": None, "unit_spread": None, "hist": None, "pcts": None}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
