"""Per-layer probes: what each layer's activations, weights, gradients and updates look like.

Life cycle (as fastai's Hook/HookCallback): `attach()` at fit start, `detach()` at stop or on
error. On a probe step (`armed`) the model's forward hands each hidden layer's output to the
probe (`MLP.capture`, a list); around the optimizer step the probe measures the weights, and the
activations wait, with those norms, until `finish()` makes the records of all the waiting probe
steps at once (the session decides when: engine/session.py). This is a forward hook built into
our own model: nn.Module hooks would send every forward pass, probed or not, through the
module's slow hook-dispatch path (~1% of a training step, measured), while the capture costs one
attribute check per layer on steps that are not probed.

The update/weight-norm ratio ||W_after - W_before|| / ||W_before|| is measured across the real
`optimizer.step()`: a copy of each weight matrix is taken just before it and compared just after,
so it is right for momentum, Adam and weight decay, not only for plain SGD's lr*||grad||.

Thresholds (documented for the user, also used by the diagnostics):
    dead_frac   ReLU family (relu, leaky_relu, elu, prelu, gelu): fraction of outputs <= 0
    dead_units  ReLU family: fraction of units that are <= 0 for every example of the batch
    sat_frac    tanh: |a| > 0.99;  sigmoid: a < 0.01 or a > 0.99 (the local gradient is then below
                2% of its peak for tanh, 4% for sigmoid)
Histograms have a fixed number of bins. Their range is fixed for bounded activations (tanh
[-1, 1], sigmoid [0, 1]) and otherwise shared by all layers of one snapshot (min..max over all of
them), so layers side by side are drawn on one scale, as in the lecture's figure.

Histograms and percentiles are taken from a sample: the first examples of the batch (batches are
drawn at random, so these are a random sample of its examples), every unit of them, about
_HIST_SAMPLE / _PCT_SAMPLE values per layer (all values when a layer has fewer); the 0th and
100th percentiles are the exact extremes. Everything else uses every value of the batch.

Cost (benchmarks/bench_engine.py; README "Performance"). On the CPU with numba, compiled loops
(engine/kernels.py) measure each probe step at the step, one pass over each weight matrix and
each layer (`kernel_snapshot`, `Probe.before_step`/`after_step`), and the waiting snapshots'
small arrays are finished together (`kernel_records`). Otherwise (a GPU; no numba) the tensor-op
path below does it, with the same numbers (tests/engine/test_kernels.py). There the hidden layers
of an MLP share one shape, so the activations of all the waiting probe steps are stacked and each pass over them is
one batched op for all their layers, into work buffers reused from probe to probe; the weight
norms are foreach ops and the weight copies reused buffers. Only the big passes run as tensor
ops; every per-layer number is finished from their small results on the host, after one transfer
(`_to_host`): each `.item()`/`.cpu()` is a device sync point, and one per batch of snapshots is
enough. That cost is mostly the number of calls, not the data: inside the training loop each
tensor op or numpy call costs 10-40 us (the step's weights, gradients, optimizer state and BLAS
kernels have just pushed the interpreter's and numpy's code and data out of the caches), so the
same statistics of 4 examples cost ~70% of those of 128, and those of 8 probe steps made together
~40% of 8 made one by one (~1.3 ms against ~0.3 ms a snapshot, next to a ~3 ms training step of
the benchmark's 4x256 MLP). Hence the rule here: fewer calls, even at the price of more
arithmetic per call.

weight_norm is ||W|| of the weights the optimizer step started from (the ratio's denominator).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch

from . import kernels
from .model import MLP
from .thresholds import BOUNDED_RANGE, PERCENTILES, SATURATION

# values per layer in the histogram and percentile samples (see the module docstring)
_HIST_SAMPLE = 8192
_PCT_SAMPLE = 2048


def on_host(device: torch.device) -> bool:
    """Whether tensors on `device` can be read by numpy in place (the CPU), or must stay on their
    device until the snapshot's single transfer (a GPU: every read is a sync). The tests switch
    this off to run the device path on the CPU."""
    return device.type == "cpu"


class Scratch:
    """Reusable work buffers for the big intermediates of one probe (a few hundred KB each):
    writing into the same memory every probe avoids an allocation and a cache-cold page per op.
    A buffer is a flat tensor that only grows: a batch of fewer snapshots, or an epoch's short
    last batch, gets a view of its front. One per Probe (never shared between threads); None
    means "allocate fresh" (one-off callers)."""

    def __init__(self) -> None:
        self._store: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor, dtype: torch.dtype | None = None
            ) -> torch.Tensor:
        dtype = dtype or like.dtype
        n = math.prod(shape)
        t = self._store.get(name)
        if t is None or t.numel() < n or t.dtype != dtype or t.device != like.device:
            t = self._store[name] = torch.empty(n, dtype=dtype, device=like.device)
        return t[:n].view(shape)


def _buffer(scratch: Scratch | None, name: str, shape: tuple[int, ...], like: torch.Tensor,
            dtype: torch.dtype | None = None) -> torch.Tensor:
    if scratch is None:
        return torch.empty(shape, dtype=dtype or like.dtype, device=like.device)
    return scratch.get(name, shape, like, dtype)


def activation_stats(acts: list[torch.Tensor], activation: str, bins: int, scratch: Scratch | None = None
                     ) -> dict:
    """One forward pass's statistics: `snapshot_stats` of one snapshot."""
    return snapshot_stats([acts], activation, bins, scratch)


def snapshot_stats(snapshots: list[list[torch.Tensor]], activation: str, bins: int,
                   scratch: Scratch | None = None) -> dict:
    """The raw per-layer reductions of the hidden layers' outputs of one or more probed forward
    passes (`snapshots`: per pass, its hidden layers' outputs), as device tensors.

    Only the big passes over the activations run here, as few tensor ops as possible (each op
    costs microseconds of dispatch whatever its size, and each pass over the batch reads it from
    memory again); every per-layer number is finished on the host from these small reductions
    (`stats_to_snapshots` / `Probe.finish`, one transfer), in float64. The layers of an MLP share
    one shape, so the layers of all the snapshots are stacked into one (rows, batch, units) tensor
    and each pass is one op for all of them: statistics for 8 snapshots at once cost ~40% of 8
    separate ones. Rows of another shape (an epoch's short last batch) form a group of their own,
    same maths.

    Per group: ex_mean and ex_dev (per example: mean over units and the root of the summed squared
    deviations from it, two-pass), row_min (per row) and unit_max (per unit over the batch), n_pos (values > 0,
    ReLU family) or n_sat (values in the saturated tails), counts (histogram on a sample) and pcts
    (percentiles on a sample); `ks`/`ls`, each row's snapshot and layer. `lo`/`hi`: each
    snapshot's histogram range.
    """
    K = len(snapshots)
    by_shape: dict[tuple[int, ...], list[tuple[int, int, torch.Tensor]]] = {}
    for k, acts in enumerate(snapshots):
        for l, a in enumerate(acts):
            # the model hands over detached (batch, units) float32 tensors: then nothing is
            # converted (inside the training loop every call costs microseconds)
            if a.ndim != 2:
                a = a.reshape(a.shape[0], -1)
            if a.requires_grad or a.dtype != torch.float32:
                a = a.detach().float()
            by_shape.setdefault(tuple(a.shape), []).append((k, l, a))
    groups = []
    for i, ((B, U), rows) in enumerate(by_shape.items()):
        name = f"g{i}"
        A = torch.stack([a for _, _, a in rows], out=_buffer(scratch, name + "stack", (len(rows), B, U), rows[0][2]))
        g = {"A": A, "name": name, "ks": [k for k, _, _ in rows], "ls": [l for _, l, _ in rows],
             "unit_max": A.amax(1)}
        X = A.view(len(rows), B * U)
        if activation == "relu" and on_host(A.device):
            # ReLU outputs are >= 0, so a row's minimum is 0 unless every value is positive: the
            # count of positive values (needed anyway) gives it without a pass of its own, and a
            # row without a zero (rare) is read on its own
            g["n_pos"] = torch.sign(X, out=_buffer(scratch, name + "dev", X.shape, A)).sum(1)
            row_min = np.zeros(len(rows), dtype=np.float32)
            # (n_pos is a float32 sum: past 2**24 values it may round, so "all positive" is
            # read with slack; a row read for nothing costs one exact pass)
            for r in np.flatnonzero(g["n_pos"].numpy() >= B * U * (1 - 1e-6) - 0.5).tolist():
                row_min[r] = X[r].min()
            g["row_min"] = torch.from_numpy(row_min)
        else:
            g["row_min"] = X.amin(1)
        groups.append(g)
    device = groups[0]["A"].device
    if activation in BOUNDED_RANGE:
        lo, hi = BOUNDED_RANGE[activation]
        for g in groups:
            g["lo"], g["scale"] = lo, bins / (hi - lo)
    elif on_host(device):
        # one range per snapshot for all its layers, so the histograms side by side share a scale;
        # no device to wait for: numpy reads the tensors in place, cheaper than tensor ops
        lo, hi = np.full(K, np.inf), np.full(K, -np.inf)
        for g in groups:
            np.minimum.at(lo, g["ks"], g["row_min"].numpy())
            np.maximum.at(hi, g["ks"], g["unit_max"].numpy().max(1))
        hi = np.maximum(hi, lo + 1e-6)  # a non-empty range, always
        scale = bins / (hi - lo)
        for g in groups:
            g["lo"] = torch.from_numpy(lo[g["ks"]].astype(np.float32)[:, None])
            g["scale"] = torch.from_numpy(scale[g["ks"]].astype(np.float32)[:, None])
    else:  # on a GPU the ranges stay on the device (no host sync before the single transfer)
        lo = torch.full((K,), math.inf, device=device)
        hi = torch.full((K,), -math.inf, device=device)
        index = [_index(tuple(g["ks"]), device) for g in groups]
        for g, ks in zip(groups, index):
            lo = lo.scatter_reduce(0, ks, g["row_min"], "amin")
            hi = hi.scatter_reduce(0, ks, g["unit_max"].amax(1), "amax")
        hi = torch.maximum(hi, lo + 1e-6)
        scale = bins / (hi - lo)
        for g, ks in zip(groups, index):
            g["lo"], g["scale"] = lo[ks][:, None], scale[ks][:, None]
    out = [_group_stats(g, activation, bins, scratch) for g in groups]
    return {"groups": out, "lo": lo, "hi": hi, "layers": [len(acts) for acts in snapshots]}


@functools.lru_cache(maxsize=64)
def _index(values: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """A read-only int64 index tensor on `device` (cached: made once, not copied to it per probe)."""
    return torch.tensor(values, dtype=torch.int64, device=device)


def _group_stats(g: dict, activation: str, bins: int, scratch: Scratch | None) -> dict:
    A, name = g["A"], g["name"]
    L, B, U = A.shape
    X = A.view(L, B * U)
    ex_mean = A.mean(2, keepdim=True)
    dev = torch.sub(A, ex_mean, out=_buffer(scratch, name + "dev", (L, B, U), A))
    ex_dev = torch.linalg.vector_norm(dev, dim=2)  # sqrt(sum over units of (a - example mean)^2)
    work = dev.view(L, B * U)  # the deviations are no longer needed: the buffer is reused
    stats = {"ks": g["ks"], "ls": g["ls"], "ex_mean": ex_mean.view(L, B), "ex_dev": ex_dev,
             "row_min": g["row_min"], "unit_max": g["unit_max"]}
    if activation in SATURATION:
        lo_s, hi_s = SATURATION[activation]
        # the two tails are disjoint: two counts added are the count of the union
        stats["n_sat"] = (_count_positive(torch.sub(lo_s, X, out=work))
                          + _count_positive(torch.sub(X, hi_s, out=work)))
    elif activation == "relu":  # outputs are >= 0, so their signs are already 0 or 1
        stats["n_pos"] = g["n_pos"] if "n_pos" in g else torch.sign(X, out=work).sum(1)
    else:
        stats["n_pos"] = _count_positive(torch.sign(X, out=work))
    stats["counts"] = _histograms(_first_examples(A, _HIST_SAMPLE), g["lo"], g["scale"], bins, name, scratch)
    stats["pcts"] = _percentiles(_first_examples(A, _PCT_SAMPLE))
    return stats


def _count_positive(S: torch.Tensor) -> torch.Tensor:
    """Per row, how many values of S are > 0, as floats, S being scratch that may be overwritten
    (sign(x) clamped at 0 and summed; on the CPU several times cheaper than a boolean comparison
    and an integer sum, and exact: the partial sums are integers below 2**24). x - c > 0 exactly
    when x > c (no float rounding turns a nonzero difference into 0), so thresholds are counted
    by the sign of the difference."""
    return S.sign_().clamp_(min=0).sum(1)


def _sample_rows(B: int, U: int, cap: int) -> int:
    """How many of the first examples of a (B, U) batch make about `cap` values (all of them when
    the batch has fewer). Batches are drawn at random, so the first examples are a random sample
    of them, and every unit is included."""
    return min(B, max(1, -(-cap // U)))


def _first_examples(A: torch.Tensor, cap: int) -> torch.Tensor:
    """The first examples of the batch (`_sample_rows`), as a (layers, values) view (no copy)."""
    L, B, U = A.shape
    k = _sample_rows(B, U, cap)
    return A.narrow(1, 0, k).view(L, k * U)


def _histograms(X: torch.Tensor, lo, scale, bins: int, name: str, scratch: Scratch | None) -> torch.Tensor:
    """(rows, bins + 1) counts, each row over its own range [lo, lo + bins / scale] (`lo`, `scale`:
    numbers, or (rows, 1) tensors), all rows in one bincount: row i's values land in slots
    i*(bins+1) + floor((x - lo) * scale). The bin is found first and the row's offset added after,
    in integers: added in floats before truncating, a value at the bottom edge could round to just
    under its row's first slot, into the row before. Slot `bins` of each row only holds values at
    the top edge (x == hi, and rounding there); the host folds it into the last bin. No clamping is
    needed: lo <= x <= hi, and x - lo rounds to >= 0. bincount rather than histc: histc takes its
    range as Python numbers, one call per range, and on a GPU each would mean a sync."""
    L, n = X.shape
    pos = torch.sub(X, lo, out=_buffer(scratch, name + "pos", (L, n), X)).mul_(scale)
    idx = _buffer(scratch, name + "idx", (L, n), X, torch.int32).copy_(pos)  # truncation = floor (pos >= 0)
    idx.add_(_layer_offsets(L, bins + 1, X.device))
    return torch.bincount(idx.view(-1), minlength=L * (bins + 1)).view(L, bins + 1)


@functools.lru_cache(maxsize=64)
def _layer_offsets(layers: int, slots: int, device: torch.device) -> torch.Tensor:
    """(layers, 1) int32: 0, slots, 2*slots, ... (read-only, so one cached tensor serves every probe)."""
    return torch.arange(0, layers * slots, slots, device=device, dtype=torch.int32)[:, None]


_Q = np.array([p / 100.0 for p in PERCENTILES])


@functools.lru_cache(maxsize=16)
def _interpolation(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For n sorted values: the order statistics below/above each percentile and the weight
    between them (linear interpolation, numpy's and torch.quantile's default)."""
    pos = _Q * (n - 1)
    below = np.floor(pos).astype(np.int64)
    return below, np.minimum(below + 1, n - 1), (pos - below).astype(np.float32)


def _percentiles(S: torch.Tensor) -> torch.Tensor | np.ndarray:
    """(layers, len(PERCENTILES)) of each row of the sample S: a device tensor on a GPU, a numpy
    array on the CPU (numpy's sort is several times faster than torch.sort/torch.quantile there)."""
    if not on_host(S.device):
        return torch.quantile(S, torch.tensor(_Q, device=S.device, dtype=S.dtype), dim=1).T
    return _sample_percentiles(S.numpy())


def _sample_percentiles(S: np.ndarray, in_place: bool = False) -> np.ndarray:
    """(rows, len(PERCENTILES)) of each row of the float32 sample S, with numpy's sort (of S
    itself when `in_place`: a copy no one else reads)."""
    below, above, frac = _interpolation(S.shape[1])
    # a full sort: np.partition of just these order statistics is faster in isolation but, run
    # inside the training loop, took 257 us against np.sort's 148 us (cold caches)
    if in_place:
        S.sort(axis=1)
        s = S
    else:
        s = np.sort(S, axis=1)
    lo = s[:, below]
    return lo + (s[:, above] - lo) * frac


def stats_to_layers(stats: dict, names: list[str], bins: int) -> list[dict]:
    """Turn activation_stats (one snapshot) into plain per-layer dicts (one host transfer)."""
    return stats_to_snapshots(stats, names, bins)[0]


def stats_to_snapshots(stats: dict, names: list[str], bins: int) -> list[list[dict]]:
    """Turn snapshot_stats into plain per-layer dicts, a list per snapshot (one host transfer)."""
    return _act_records(stats, _to_host(_device_tensors(stats)), names, bins)


_GROUP_KEYS = ("ex_mean", "ex_dev", "row_min", "unit_max", "n_pos", "n_sat", "counts", "pcts")


def _device_tensors(stats: dict) -> list[torch.Tensor]:
    """The tensors of activation_stats that must cross to the host, in a fixed order."""
    out = [g[k] for g in stats["groups"] for k in _GROUP_KEYS if isinstance(g.get(k), torch.Tensor)]
    out += [t for t in (stats["lo"], stats["hi"]) if isinstance(t, torch.Tensor)]
    return out


def _to_host(tensors: list[torch.Tensor]) -> list[np.ndarray]:
    """Several tensors to the host in one transfer (each .cpu() is a device sync point), as
    numpy arrays of their own shapes: on the CPU views of the tensors themselves (no copies), from
    a device float64 (float32 values and integer counts are exact in float64)."""
    if all(on_host(t.device) for t in tensors):
        return [t.numpy() for t in tensors]  # results of no-grad work on detached inputs: no detach needed
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors]).cpu().numpy()
    out, i = [], 0
    for t in tensors:
        out.append(flat[i:i + t.numel()].reshape(t.shape))
        i += t.numel()
    return out


def _act_records(stats: dict, host: list[np.ndarray], names: list[str], bins: int) -> list[list[dict]]:
    """Per-layer records, a list per snapshot, from the host copies of snapshot_stats' reductions
    (numpy, float64). Each group's numbers are computed for all its rows at once and leave numpy
    in one `tolist` per kind: inside the training loop every numpy call costs microseconds."""
    it = iter(host)
    groups = [{k: (next(it) if isinstance(g.get(k), torch.Tensor) else g.get(k)) for k in _GROUP_KEYS}
              for g in stats["groups"]]
    lo, hi = ((next(it) if isinstance(x, torch.Tensor) else x) for x in (stats["lo"], stats["hi"]))
    edges = _edges(lo, hi, len(stats["layers"]), bins)
    add = np.add.reduce  # the ufunc reduction itself: np.mean/np.var add microseconds of Python each
    out: list[list] = [[None] * n for n in stats["layers"]]
    for g, raw in zip(groups, stats["groups"]):
        ex_mean = g["ex_mean"].astype(np.float64)          # (rows, B)
        ex_ss = np.square(g["ex_dev"], dtype=np.float64)   # (rows, B): summed squared deviations
        L, B = ex_mean.shape
        U = g["unit_max"].shape[1]
        n = B * U
        relu_family = g["n_sat"] is None  # a dead fraction and dead units, else a saturated fraction
        table = np.zeros((5, L))  # per row: mean, std, unit spread, fraction, dead units
        mean = table[0]
        np.divide(add(ex_mean, 1), B, out=mean)
        dev = ex_mean - mean[:, None]
        # the layer's variance from the per-example ones: mean within-example variance plus the
        # variance of the example means (exact; no one-pass cancellation)
        np.sqrt(add(ex_ss, 1) / n + add(dev * dev, 1) / B, out=table[1])
        np.divide(add(np.sqrt(ex_ss), 1), B * math.sqrt(U), out=table[2])  # per example, averaged
        if relu_family:
            np.divide(n - g["n_pos"], n, out=table[3])
            np.divide(add(g["unit_max"] <= 0, 1), U, out=table[4])  # units <= 0 for the whole batch
        else:
            np.divide(g["n_sat"], n, out=table[3])
        pcts = g["pcts"].astype(np.float64)
        pcts[:, 0], pcts[:, -1] = g["row_min"], g["unit_max"].max(1)  # the exact extremes
        _fill_records(out, raw["ks"], raw["ls"], table.T, g["counts"], pcts, relu_family, edges, names, bins)
    return out


def _edges(lo, hi, K: int, bins: int) -> list[list[float]]:
    """The histogram edges of K snapshots: `lo`, `hi` floats (a bounded activation: one range for
    every snapshot) or arrays of K."""
    if isinstance(lo, float):
        return [np.linspace(lo, hi, bins + 1).tolist()] * K
    if K <= 8:  # np.linspace's values in plain floats (the same IEEE operations): a few snapshots
        # cost ~70 us of numpy calls inside the loop, ~5 us this way
        out = []
        for a, b in zip(np.asarray(lo, dtype=np.float64).tolist(), np.asarray(hi, dtype=np.float64).tolist()):
            step = (b - a) / bins
            e = [a + i * step for i in range(bins + 1)]
            e[-1] = b
            out.append(e)
        return out
    # np.linspace's values, for all snapshots at once
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    e = lo[:, None] + np.arange(bins + 1) * ((hi - lo) / bins)[:, None]
    e[:, -1] = hi
    return e.tolist()


def _fill_records(out: list[list], ks: list[int], ls: list[int], table: np.ndarray, counts: np.ndarray,
                  pcts: np.ndarray, relu_family: bool, edges: list[list[float]], names: list[str], bins: int
                  ) -> None:
    """out[k][l] = the record of row i (snapshot ks[i], layer ls[i]); `table` (rows, >= 5): mean,
    std, unit spread, fraction, dead units; counts (rows, bins + 1), whose slot `bins` is the
    top edge and belongs to the last bin; pcts (rows, len(PERCENTILES)). Each kind leaves numpy
    in one `tolist`."""
    counts = counts.astype(np.int64)
    counts[:, bins - 1] += counts[:, bins]
    for k, l, row, c, p in zip(ks, ls, table.tolist(), counts[:, :bins].tolist(), pcts.tolist()):
        out[k][l] = {"name": names[l], "act_mean": row[0], "act_std": row[1],
                     "dead_frac": row[3] if relu_family else None, "sat_frac": None if relu_family else row[3],
                     "dead_units": row[4] if relu_family else None, "unit_spread": row[2],
                     "hist": {"edges": edges[k], "counts": c}, "pcts": p}


def kernel_snapshot(acts: list[torch.Tensor], activation: str, bins: int, scratch: np.ndarray | None = None
                    ) -> dict | None:
    """One probed forward pass's per-layer numbers on the CPU, by the compiled loops of
    engine/kernels.py, at the probe step (each layer read once; nothing of it is kept but a row
    of numbers, its histogram counts and its percentile sample), finished with other snapshots by
    `kernel_records`. The same numbers as `snapshot_stats` + `_act_records`. None when the layers
    are not all C-contiguous float32 (B, U) arrays of one shape (an MLP's always are): then the
    tensor-op path takes them. `scratch`: >= 2U float32 (made when too small)."""
    a0 = acts[0]
    if a0.ndim != 2:
        return None
    B, U = a0.shape
    if any(a.shape != a0.shape or a.dtype != torch.float32 or a.requires_grad or not a.is_contiguous()
           for a in acts):
        return None
    L = len(acts)
    f32 = np.float32
    saturating = activation in SATURATION
    t_lo, t_hi = (f32(t) for t in SATURATION.get(activation, (0.0, 0.0)))
    table = np.empty((L, 7))  # per layer: mean, std, unit spread, fraction, dead units, min, max
    k_pct, k_hist = _sample_rows(B, U, _PCT_SAMPLE), _sample_rows(B, U, _HIST_SAMPLE)
    sample = np.empty((L, k_pct * U), f32)
    if scratch is None or scratch.shape[0] < 2 * U:
        scratch = np.empty(2 * U, f32)
    views = [a.numpy() for a in acts]
    for l, a in enumerate(views):
        kernels.layer_stats(a, l, saturating, t_lo, t_hi, table, scratch, sample, k_pct)
    if activation in BOUNDED_RANGE:
        lo, hi = BOUNDED_RANGE[activation]
    else:  # the snapshot's range, for all its layers; the numbers `snapshot_stats` takes on the host
        lo, hi = float(table[:, 5].min()), float(table[:, 6].max())
        hi = max(hi, lo + 1e-6)
    lo32, scale32 = f32(lo), f32(bins / (hi - lo))
    counts = np.zeros((L, bins + 1), np.int64)
    idx = scratch[:U].view(np.int32)  # the histogram's slots (the layers' extrema are done with it)
    for l, a in enumerate(views):
        kernels.histogram(a, k_hist, lo32, scale32, counts[l], idx)
    return {"shape": (B, U), "nbytes": table.nbytes + sample.nbytes + counts.nbytes, "table": table,
            "sample": sample, "counts": counts, "lo": lo, "hi": hi, "relu_family": not saturating,
            "bounded": activation in BOUNDED_RANGE}


def kernel_records(raws: list[dict], names: list[str], bins: int) -> list[list[dict]]:
    """Per-layer records, a list per snapshot, from `kernel_snapshot`s: snapshots of one shape
    are stacked into a group (an epoch's short last batch forms its own), whose percentile
    samples are sorted in one call."""
    by_shape: dict[tuple[int, int], list[int]] = {}
    for k, r in enumerate(raws):
        by_shape.setdefault(r["shape"], []).append(k)
    if raws[0]["bounded"]:  # a bounded activation: one range for every snapshot
        edges = _edges(raws[0]["lo"], raws[0]["hi"], len(raws), bins)
    else:
        edges = _edges(np.array([r["lo"] for r in raws]), np.array([r["hi"] for r in raws]), len(raws), bins)
    out: list[list] = [[None] * len(r["table"]) for r in raws]
    for ks in by_shape.values():
        rs = [raws[k] for k in ks]
        L = len(rs[0]["table"])
        table = np.concatenate([r["table"] for r in rs])
        pcts = _sample_percentiles(np.concatenate([r["sample"] for r in rs]), in_place=True).astype(np.float64)
        pcts[:, 0], pcts[:, -1] = table[:, 5], table[:, 6]  # the exact extremes
        _fill_records(out, [k for k in ks for _ in range(L)], list(range(L)) * len(ks), table,
                      np.concatenate([r["counts"] for r in rs]), pcts, rs[0]["relu_family"], edges, names, bins)
    return out


class Probe:
    """The hidden activations of probed forward passes plus a snapshot around optimizer.step()."""

    def __init__(self, model: MLP, bins: int = 40):
        self.model = model
        self.bins = bins
        self._armed = False
        self._watch = False
        self.attached = False
        self._acts: list[torch.Tensor] = []
        self._before: list[torch.Tensor] | None = None  # weight copies, reused from probe to probe
        self._scratch = Scratch()  # work buffers of the activation statistics, reused likewise
        self._weight_list: list[torch.Tensor] = []
        self._names: list[str] = []
        # on the CPU, with numba: the compiled loops of engine/kernels.py, on flat numpy views of
        # the weights and of their copies (made with the weight list)
        self._kernels = False
        self._flat: list[tuple[np.ndarray, np.ndarray]] = []
        # after a probe step whose next step is probed too: the norms of the weights copied for it
        # and the weights' version counters then (Probe.after_step)
        self._kept: tuple[np.ndarray, list[int]] | None = None
        self._kernel_scratch = np.empty(0, np.float32)  # kernel_snapshot's scratch (grown to fit)
        self._pending: dict | None = None  # the probe step between before_step and after_step
        self._snapshots: list[dict] = []  # probe steps taken whose records `finish` has not made yet
        self.pending_bytes = 0  # the activations those hold on to

    # -- life cycle -----------------------------------------------------------------
    def attach(self) -> "Probe":
        self.attached = True
        return self

    def detach(self) -> None:
        self.attached = False
        self.armed = False
        self.discard()
        self._pending = None
        self._kept = None
        self._snapshots, self.pending_bytes = [], 0

    @property
    def armed(self) -> bool:
        return self._armed

    @armed.setter
    def armed(self, on: bool) -> None:
        """While armed (an attached probe, the forward pass of a probe step) the model hands each
        hidden activation to this probe (MLP.capture); otherwise the model's forward pays one
        attribute check per layer, and nothing else, on steps that are not probed."""
        self._armed = bool(on) and self.attached
        if self._armed:
            self._acts = []
            self.model.capture = self._acts
        else:
            self.model.capture = None

    def watching(self, on: bool) -> "Probe":
        """`with probe.watching(probe_now): logits = model(x)`: the hidden activations of this
        forward pass are kept when `on`; a pass that fails keeps nothing."""
        self._watch = on
        return self

    def __enter__(self) -> "Probe":
        if self._watch:
            self.attached = True
            self.armed = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._watch:
            self.armed = False
            if exc_type is not None:
                self.discard()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's forward pass, armed (a probe step's); a pass that fails keeps nothing. (A
        method, not a context manager: inside the training loop a generator-based `with` costs
        ~10 us.)"""
        self.armed = True
        try:
            return self.model(x)
        except BaseException:
            self.discard()
            raise
        finally:
            self.armed = False

    def discard(self) -> None:
        """Drop the activations of a forward pass that will not be probed (e.g. its loss diverged)."""
        self._acts = []

    def _weights(self) -> list[torch.Tensor]:
        """The Linear weights, in order, and a buffer for a copy of each (the Parameters live as
        long as the model: re-init and batch norm change them in place or leave them alone)."""
        if len(self._weight_list) != len(self.model.linears) + 1:
            self._weight_list = [l.weight for l in self.model.all_linears]
            self._names = self.model.layer_names()
            self._before = [torch.empty_like(w) for w in self._weight_list]
            self._kept = None
            self._kernels = all(on_host(w.device) and w.dtype == torch.float32 for w in self._weight_list) \
                and kernels.ready()
            self._flat = [(w.detach().numpy().reshape(-1), b.numpy().reshape(-1))
                          for w, b in zip(self._weight_list, self._before)] if self._kernels else []
        return self._weight_list

    # -- around the optimizer step ------------------------------------------------------
    def before_step(self) -> None:
        """After backward, before optimizer.step() (no torch.no_grad decorator on these three: its
        context costs microseconds per call in the loop, and the kernel path makes no tensor ops;
        the tensor-op path enters it itself): grad and weight norms, a copy of each weight
        matrix to measure the update against, and the forward pass's activations kept for
        `finish` (the model made them for this step alone: nothing writes to them again)."""
        weights = self._weights()
        complete = bool(self._acts) and len(self._acts) == len(self.model.acts)
        acts = self._acts if complete else None
        if self._kernels:  # one pass over each weight matrix and its gradient, one over each layer
            norms = np.empty((3, len(weights)))
            kept = self._kept
            if kept is not None and [w._version for w in weights] == kept[1]:
                # the last probe step copied these very weights after its update (the next step
                # was to be probed, and nothing has written to them since): only the gradients
                # are left to read
                norms[1] = kept[0]
                for j, (w, (flat, _)) in enumerate(zip(weights, self._flat)):
                    kernels.grad_norm(_flat_grad(w, flat), norms, j)
            else:
                for j, (w, (flat, copy)) in enumerate(zip(weights, self._flat)):
                    kernels.weight_before(flat, _flat_grad(w, flat), copy, norms, j)
            self._kept = None
            if acts is not None:
                if len(self._kernel_scratch) < 2 * acts[0].shape[-1]:
                    self._kernel_scratch = np.empty(2 * acts[0].shape[-1], np.float32)
                acts = kernel_snapshot(acts, self.model.activation_name, self.bins, self._kernel_scratch) or acts
        else:
            with torch.no_grad():
                grads = [w.grad if w.grad is not None else torch.zeros_like(w) for w in weights]
                torch._foreach_copy_(self._before, weights)
                # the weight norms from the copies, still in cache (~40 us less than from the weights)
                norms = torch._foreach_norm(grads + self._before)  # one call for both lists
        self._pending = {"norms": norms, "acts": acts}
        self.discard()

    def after_step(self, tag: Any = None, next_probed: bool = False) -> None:
        """After optimizer.step(): the norms of the weight changes. The snapshot waits, with
        `tag` (the caller's, e.g. the step's scalars), for `finish`, which makes the records of
        all the waiting ones at once. `next_probed` (the next step is a probe step, e.g. probing
        every step): on the CPU the same pass copies the weights for it, whose before_step then
        reads only the gradients, if the weights' version counters say nothing wrote to them
        between (a re-init does)."""
        pending, self._pending = self._pending, None
        pending["tag"] = tag
        if self._kernels:
            norms, next_norms = pending["norms"], np.empty(len(self._flat))
            for j, (flat, copy) in enumerate(self._flat):
                kernels.weight_change(flat, copy, norms, j, next_probed, next_norms)
            if next_probed:
                self._kept = (next_norms, [w._version for w in self._weight_list])
        else:
            with torch.no_grad():
                torch._foreach_sub_(self._before, self._weight_list)  # the copies now hold W_before - W_after
                pending["norms"] += torch._foreach_norm(self._before)
        acts = pending["acts"]
        if isinstance(acts, list):  # activations waiting for the tensor-op path
            self.pending_bytes += sum(a.nbytes for a in acts)
        elif acts is not None:  # a kernel snapshot keeps only its small arrays
            self.pending_bytes += acts["nbytes"]
        self._snapshots.append(pending)

    @property
    def pending(self) -> int:
        """Probe steps taken whose records `finish` has not made yet."""
        return len(self._snapshots)

    @property
    def oldest_tag(self) -> Any:
        """The tag of the oldest waiting probe step (None when none waits)."""
        return self._snapshots[0]["tag"] if self._snapshots else None

    def finish(self) -> list[tuple[Any, list[dict]]]:
        """(tag, per-layer records) of the waiting probe steps, oldest first, made together. The
        compiled loops measured them at their steps (`kernel_snapshot`): their small arrays are
        finished here in one pass of numpy. Otherwise (a GPU, or no numba) one pass of tensor ops
        over all their activations, one transfer to the host, one pass of numpy. weight_norm is
        ||W|| of the weights the step started from, the ratio's denominator (the weights after
        differ from them by that ratio, ~1e-3)."""
        snaps, self._snapshots, self.pending_bytes = self._snapshots, [], 0
        if not snaps:
            return []
        names = self._names
        n = len(names)
        raws = [s["acts"] for s in snaps if isinstance(s["acts"], dict)]
        probed = [s["acts"] for s in snaps if isinstance(s["acts"], list)]
        if probed:
            with torch.no_grad():
                acts = snapshot_stats(probed, self.model.activation_name, self.bins, self._scratch)
        else:
            acts = None
        if self._kernels:  # grad norms, weight norms, norms of the change: (3, n) per step, on the host already
            host = [np.stack([s["norms"] for s in snaps])] + (_to_host(_device_tensors(acts)) if acts is not None else [])
        else:  # one (steps, 3, n) tensor; everything crosses to the host in one transfer
            with torch.no_grad():
                norms = torch.stack([t for s in snaps for t in s["norms"]])
                host = _to_host([norms, *(_device_tensors(acts) if acts is not None else [])])
        act_layers = iter(_act_records(acts, host[1:], names[:-1], self.bins) if acts is not None else ())
        raw_layers = iter(kernel_records(raws, names[:-1], self.bins) if raws else ())
        out = []
        for s, (g, w, d) in zip(snaps, host[0].reshape(len(snaps), 3, n).tolist()):
            kind = s["acts"]
            if kind is None:
                layers = [_no_act_stats(name) for name in names]
            else:
                layers = next(raw_layers if isinstance(kind, dict) else act_layers) + [_no_act_stats(names[-1])]
            for i, rec in enumerate(layers):
                rec["weight_norm"] = _finite(w[i])
                rec["grad_norm"] = _finite(g[i])
                rec["update_ratio"] = _finite(d[i] / w[i]) if w[i] > 0 else None  # undefined for all-zero W
            out.append((s["tag"], layers))
        return out


def _flat_grad(w: torch.Tensor, flat: np.ndarray) -> np.ndarray:
    """w's gradient as a flat numpy view (zeros when it has none, like the tensor-op path's)."""
    g = w.grad
    return g.numpy().reshape(-1) if g is not None else np.zeros_like(flat)


def _no_act_stats(name: str) -> dict:
    # the output layer's logits (and layers on a step whose forward was not probed) have no
    # activation statistics; the keys are there so every layer record has the same shape
    return {"name": name, "act_mean": None, "act_std": None, "dead_frac": None, "sat_frac": None,
            "dead_units": None, "unit_spread": None, "hist": None, "pcts": None}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
