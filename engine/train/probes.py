"""Per-layer probes: what each layer's activations, weights, gradients and updates look like.

    with probe.watching(probe_now):      # a probe step's forward pass hands over its activations
        logits = model(x)
    loss.backward()
    probe.before_step()                  # grad norms, and a copy of each weight matrix
    optimizer.step()
    snapshot = probe.after_step()        # the weight changes; nothing read to the host yet
    layers = probe.finish([snapshot, ...])   # per snapshot, per layer: messages.LayerStats

The model hands each hidden layer's output to the probe while `model.capture` is a list (set
inside `watching` only): an unprobed forward pass pays one attribute check per layer.

The update/weight-norm ratio ||W_after - W_before|| / ||W_before|| is measured across the real
`optimizer.step()`: a copy of each weight matrix is taken just before it and compared just after,
so it is right for momentum, Adam and weight decay, not only for plain SGD's lr*||grad||.
weight_norm is ||W_before||, the ratio's denominator.

Thresholds (documented for the user, also used by the diagnostics; engine/train/thresholds.py):
    dead_frac   ReLU family (relu, leaky_relu, elu, prelu, gelu): fraction of outputs <= 0
    dead_units  ReLU family: fraction of units that are <= 0 for every example of the batch
    sat_frac    tanh: |a| > 0.99;  sigmoid: a < 0.01 or a > 0.99 (the local gradient is then below
                2% of its peak for tanh, 4% for sigmoid)
    unit_spread the std over a layer's units of one example, averaged over the batch
Histograms have a fixed number of bins. Their range is fixed for bounded activations (tanh
[-1, 1], sigmoid [0, 1]) and otherwise shared by all layers of one snapshot (min..max over all of
them), so layers side by side are drawn on one scale, as in the lecture's figure. Histograms and
the inner percentiles are taken from a sample: the first examples of the batch (batches are drawn
at random), every unit of them, about HIST_SAMPLE / PCT_SAMPLE values per layer; the 0th and 100th
percentiles are the exact extremes. Everything else uses every value of the batch.

One implementation in torch ops, on the CPU and a GPU alike (only the percentile sample is
sorted on the host, in numpy). Constraints: `before_step` and `after_step` run on every probe
step: no host sync, no allocation but the norms. `finish` takes all the snapshots waiting, stacks
their layers so that each statistic is one op for all of them, and reads the results to the host
in one transfer per batch shape plus one for the norms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..messages import LayerStats
from .model import MLP
from .thresholds import BOUNDED_RANGE, PERCENTILES, SATURATION

HIST_SAMPLE = 8192  # values per layer in the histogram sample
PCT_SAMPLE = 2048   # ... and in the percentile sample


@dataclass
class Snapshot:
    """One probe step, on the device: its hidden activations and (3, layers) norms of the
    gradients, the weights before the step and the weight changes."""
    acts: list[torch.Tensor]
    norms: torch.Tensor
    slot: int | None = None   # where its activations lie in the probe's slots (None: tensors of their own)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.acts)


class Probe:
    """The probe of one model (one per trainer, used by its training thread only)."""

    def __init__(self, model: MLP, bins: int = 40):
        self.model = model
        self.bins = bins
        self._watch = False
        self._acts: list[torch.Tensor] = []
        self._slot: int | None = None
        self._weights: list[torch.Tensor] = []
        self._before: list[torch.Tensor] = []   # the weights' copies, reused from probe to probe
        self._grad_norms: torch.Tensor | None = None
        # the probe steps' activations wait for finish() in slots of one reused (slots, layers,
        # batch, units) block: a training step's own buffers are freed for the next step (kept, they
        # made every probe step take fresh memory from the system), and finish reads a run of slots
        # as one tensor, with no stacking copy
        self._slots: torch.Tensor | None = None
        self._used = 0        # slots taken since the block was last empty
        self._waiting = 0     # slots not yet finished
        self._wanted = 1      # the block's size the next time it is empty

    # -- the forward pass -------------------------------------------------------------
    def watching(self, on: bool) -> "Probe":
        """`with probe.watching(on):` keeps this forward pass's hidden activations when `on`."""
        self._watch = on
        return self

    def __enter__(self) -> "Probe":
        if self._watch:
            self._acts = []
            self.model.capture = self._acts
        return self

    def __exit__(self, *exc) -> None:
        self.model.capture = None
        if self._acts:
            self._slot = self._keep(self._acts)

    def _keep(self, acts: list[torch.Tensor]) -> int | None:
        """Copy one pass's activations into a free slot when they fit the block (an MLP's hidden
        layers share one shape); the slot's index, or None (the pass keeps its own tensors)."""
        a0 = acts[0]
        if any(a.shape != a0.shape or a.dtype != a0.dtype or a.device != a0.device for a in acts):
            return None
        block = (len(acts), *a0.shape)
        if self._waiting == 0:
            self._used = 0
            fits = self._fits(block, a0)
            if not fits or len(self._slots) < self._wanted:
                shape = tuple(self._slots.shape[1:]) if fits else block   # a short batch keeps the full shape
                self._slots = torch.empty((self._wanted, *shape), dtype=a0.dtype, device=a0.device)
        if self._slots.shape[1:] != block:   # an epoch's short last batch: its own tensors
            return None
        if self._used == len(self._slots):   # full: twice as many once all are finished (the
            self._wanted = 2 * len(self._slots)   # recorder's GATHER_BYTES bounds how many wait)
            return None
        k = self._used
        for l, a in enumerate(acts):
            self._slots[k, l].copy_(a)
            acts[l] = self._slots[k, l]
        self._used += 1
        self._waiting += 1
        return k

    def _fits(self, block: tuple, a0: torch.Tensor) -> bool:
        """The block can hold this pass, or it is a smaller batch of the same layers."""
        s = self._slots
        if s is None or s.dtype != a0.dtype or s.device != a0.device:
            return False
        return s.shape[1:] == block or (s.shape[1] == block[0] and s.shape[3:] == block[2:] and block[1] < s.shape[2])

    # -- around the optimizer step ------------------------------------------------------
    def before_step(self) -> None:
        """After backward, before optimizer.step(): grad norms and a copy of each weight matrix."""
        weights = [layer.weight for layer in self.model.all_linears]
        if [(w.shape, w.device) for w in weights] != [(b.shape, b.device) for b in self._before]:
            self._before = [torch.empty_like(w) for w in weights]
        self._weights = weights
        with torch.no_grad():
            for b, w in zip(self._before, weights):
                b.copy_(w)
            grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in weights]
            self._grad_norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])

    def after_step(self) -> Snapshot:
        """After optimizer.step(): the norms of the weights before and of their change."""
        with torch.no_grad():
            weight_norms = torch.stack([torch.linalg.vector_norm(b) for b in self._before])
            change_norms = torch.stack([torch.linalg.vector_norm(b.sub_(w)) for b, w in zip(self._before, self._weights)])
        acts, self._acts = self._acts, []
        slot, self._slot = (self._slot, None) if acts else (None, None)
        return Snapshot(acts, torch.stack([self._grad_norms, weight_norms, change_norms]), slot)

    # -- the statistics -----------------------------------------------------------------
    def finish(self, snapshots: list[Snapshot]) -> list[list[LayerStats]]:
        """Per snapshot, its layers' statistics (the output layer has weight numbers only)."""
        names = self.model.layer_names()
        activation, hidden_names = self.model.activation_name, names[:-1]
        with torch.no_grad():
            norms = torch.stack([s.norms for s in snapshots]).tolist()  # (snapshots, 3, layers)
            slotted = [k for k, s in enumerate(snapshots) if s.slot is not None]
            first = snapshots[slotted[0]].slot if slotted else 0
            if slotted and [snapshots[k].slot for k in slotted] == list(range(first, first + len(slotted))):
                # the usual case: one run of slots, read as one tensor (and overwritten: they are free after)
                acts = snapshot_stats([[] if s.slot is not None else s.acts for s in snapshots], activation,
                                      self.bins, hidden_names)
                block = _group_stats(self._slots[first:first + len(slotted)], activation, self.bins, hidden_names)
                for k, layers in zip(slotted, block):
                    acts[k] = layers
            else:
                acts = snapshot_stats([s.acts for s in snapshots], activation, self.bins, hidden_names)
            self._waiting -= len(slotted)
        out = []
        for hidden, (grad, weight, change) in zip(acts, norms):
            if len(hidden) != len(names) - 1:  # a forward pass that handed over no activations
                hidden = [LayerStats(name) for name in names[:-1]]
            layers = hidden + [LayerStats(names[-1])]
            for layer, g, w, d in zip(layers, grad, weight, change):
                layer.grad_norm, layer.weight_norm = _finite(g), _finite(w)
                layer.update_ratio = _finite(d / w) if w > 0 else None  # undefined for all-zero W
            out.append(layers)
        return out


def snapshot_stats(snapshots: list[list[torch.Tensor]], activation: str, bins: int,
                   names: list[str]) -> list[list[LayerStats]]:
    """The hidden layers' statistics of each forward pass in `snapshots` (per pass, its layers'
    (batch, units) outputs). Passes of one shape are stacked: one op per statistic for all of
    them (an epoch's short last batch makes a group of its own)."""
    out: list[list[LayerStats]] = [[] for _ in snapshots]
    groups: dict[tuple, list[int]] = {}
    for k, acts in enumerate(snapshots):
        if acts:
            groups.setdefault(tuple(a.shape for a in acts), []).append(k)
    for shape, ks in groups.items():
        if len(set(shape)) == 1:  # an MLP: every hidden layer has the same (batch, units)
            A = torch.stack([a for k in ks for a in snapshots[k]]).view(len(ks), len(shape), *shape[0])
            for k, layers in zip(ks, _group_stats(A, activation, bins, names)):
                out[k] = layers
        else:
            for k in ks:  # layers of different widths: one layer at a time
                out[k] = [_group_stats(a[None, None].clone(), activation, bins, [name])[0][0]
                          for a, name in zip(snapshots[k], names)]
    return out


def _group_stats(A: torch.Tensor, activation: str, bins: int, names: list[str]) -> list[list[LayerStats]]:
    """(passes, layers, batch, units) activations -> per pass, per layer, LayerStats."""
    K, L, B, U = A.shape
    rows = A.detach().float().reshape(K * L, B, U)
    flat = rows.view(K * L, B * U)
    n = B * U

    # per example: the mean over units and the summed squared deviations from it (two passes)
    ex_mean = rows.mean(2, keepdim=True)
    ex_ss = torch.linalg.vector_norm(rows - ex_mean, dim=2).square()
    ex_mean = ex_mean.squeeze(2)
    mean = ex_mean.mean(1)
    # the layer's variance: the mean within-example variance plus the variance of the example means
    std = (ex_ss.sum(1) / n + ex_mean.var(1, correction=0)).sqrt()
    unit_spread = (ex_ss / U).sqrt().mean(1)
    lo_row, hi_row = flat.amin(1), flat.amax(1)
    dead_units = (rows.amax(1) <= 0).float().mean(1) if activation not in SATURATION else None

    # the histogram range: fixed for a bounded activation, else shared by the layers of a pass
    if activation in BOUNDED_RANGE:
        lo = torch.full((K,), BOUNDED_RANGE[activation][0], device=A.device)
        hi = torch.full((K,), BOUNDED_RANGE[activation][1], device=A.device)
    else:
        lo, hi = lo_row.view(K, L).amin(1), hi_row.view(K, L).amax(1)
        hi = torch.maximum(hi, lo + 1e-6)  # a non-empty range, always
    counts = _histograms(_first_examples(rows, HIST_SAMPLE), lo.repeat_interleave(L), hi.repeat_interleave(L), bins)

    sample = _first_examples(rows, PCT_SAMPLE).clone()
    # last, in place (A is this function's to overwrite): the fraction dead, or saturated
    if activation in SATURATION:
        s_lo, s_hi = SATURATION[activation]  # symmetric about their middle: |a - mid| > half
        fraction = _count_positive_(flat.sub_((s_lo + s_hi) / 2).abs_().sub_((s_hi - s_lo) / 2)) / n
        dead_units = torch.zeros_like(fraction)
    else:
        fraction = 1 - _count_positive_(flat) / n

    # everything to the host in one transfer: the numbers, the counts, the percentile sample
    table = torch.stack([mean, std, unit_spread, fraction, dead_units, lo_row, hi_row,
                         lo.repeat_interleave(L), hi.repeat_interleave(L)], 1)
    host = torch.cat([table, counts.float(), sample], 1).cpu().numpy()
    table, counts, sample = host[:, :9].astype(np.float64), host[:, 9:9 + bins], host[:, 9 + bins:]
    pcts = _percentiles(sample)
    pcts[:, 0], pcts[:, -1] = table[:, 5], table[:, 6]  # the exact extremes
    relu_family = activation not in SATURATION
    out = []
    for k in range(K):
        edges = _edges(table[k * L, 7], table[k * L, 8], bins)
        layers = []
        for l, (row, c, p) in enumerate(zip(table[k * L:(k + 1) * L].tolist(), counts[k * L:(k + 1) * L].astype(int).tolist(),
                                            pcts[k * L:(k + 1) * L].tolist())):
            m, s, spread, frac, dead = row[:5]  # (5, 6: the layer's extremes; 7, 8: the pass's range)
            layers.append(LayerStats(
                names[l], act_mean=m, act_std=s, unit_spread=spread,
                dead_frac=frac if relu_family else None, sat_frac=None if relu_family else frac,
                dead_units=dead if relu_family else None, hist={"edges": edges, "counts": c}, pcts=p))
        out.append(layers)
    return out


def _percentiles(sample: np.ndarray) -> np.ndarray:
    """(rows, len(PERCENTILES)) of each row, interpolated linearly (numpy's and torch.quantile's
    default). On the host: numpy sorts several times faster than torch.sort on the CPU."""
    s = np.sort(sample, axis=1).astype(np.float64)
    pos = np.array(PERCENTILES) / 100 * (s.shape[1] - 1)
    below = np.floor(pos).astype(int)
    above = np.minimum(below + 1, s.shape[1] - 1)
    return s[:, below] + (s[:, above] - s[:, below]) * (pos - below)


def _count_positive_(X: torch.Tensor) -> torch.Tensor:
    """Per row, how many values of X are > 0, overwriting X: sign(x) clamped at 0, summed (exact:
    the partial sums are integers below 2**24; on the CPU several times faster than a boolean
    comparison, and in place: no temporary the size of the batch)."""
    return X.sign_().clamp_(min=0).sum(1)


def _first_examples(rows: torch.Tensor, cap: int) -> torch.Tensor:
    """The first examples of each (batch, units) row, about `cap` values (all when fewer), as
    (rows, values). Batches are drawn at random, so these are a random sample of the batch."""
    N, B, U = rows.shape
    k = min(B, max(1, math.ceil(cap / U)))
    return rows[:, :k].reshape(N, k * U)


def _histograms(X: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int) -> torch.Tensor:
    """(rows, bins) counts of each row of X over its own range [lo, hi] (all rows in one bincount:
    row i's values land in slots i*bins + bin). A value at the top edge belongs to the last bin."""
    N = X.shape[0]
    scale = bins / (hi - lo)
    # int32 bin indices: on the CPU a float -> int64 conversion costs more than the binning arithmetic
    b = ((X - lo[:, None]) * scale[:, None]).int().clamp_(0, bins - 1)
    b += torch.arange(N, dtype=torch.int32, device=X.device)[:, None] * bins
    return torch.bincount(b.view(-1), minlength=N * bins).view(N, bins)


def _edges(lo: float, hi: float, bins: int) -> list[float]:
    """np.linspace(lo, hi, bins + 1) in plain floats."""
    lo, hi = float(lo), float(hi)
    step = (hi - lo) / bins
    return [lo + i * step for i in range(bins)] + [hi]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
