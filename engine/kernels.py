"""Compiled loops for the probes on the CPU (numba): one pass over the data where tensor ops take
several.

Why: inside the training loop a probe's cost is memory traffic and calls. The tensor-op path
(engine/probes.py, `snapshot_stats`) makes about ten passes over the activations and five over
the weights, each a call that costs microseconds; these loops read each value once and keep
every per-row and per-unit number in registers or in a few hundred floats of L1. Measured in
the loop (benchmarks/bench_engine.py, README "Performance"), a probe of the benchmark's 4x256
MLP costs about half of the tensor-op path's.

Each kernel works on one layer (numpy views of the tensors, no copies), so one compiled version
serves every depth and width. `cache=True` keeps the machine code on disk (next to this file,
or in numba's user cache where that is not writable): compiled once per machine, in ~2 s, then
loaded in milliseconds. `nogil`: the window's thread runs while a kernel does.

The maths follows the tensor-op path value for value where the results must agree exactly (the
histogram's bin of each value, float32 as torch computes it; the same sample rows) and is at
least as exact elsewhere (weight norms summed in float64). `fastmath` is limited to reordering
sums and dropping the sign of zero (what lets LLVM vectorise the reductions); NaN and inf keep
their meaning, and a bin index is clamped into its row, so bad values cannot write out of bounds.

`available` is False when numba cannot be imported or a kernel fails its first call (`ready()`);
then, and on a GPU, the probes use the tensor-op path. BABYSIT_NO_NUMBA=1 forces that path.
"""
from __future__ import annotations

import math
import os

import numpy as np

try:
    if os.environ.get("BABYSIT_NO_NUMBA"):
        raise ImportError("BABYSIT_NO_NUMBA is set")
    import numba
except Exception:  # not installed, or a broken install: the tensor-op path serves instead
    numba = None

_checked: bool | None = None if numba is not None else False
# sums may be reordered (vectorised) and the sign of zero ignored; nothing assumes finite values
_REDUCE = {"reassoc", "nsz", "contract"}


def _jit(fastmath):
    return numba.njit(nogil=True, cache=True, fastmath=fastmath) if numba is not None else (lambda f: f)


@_jit(_REDUCE)
def weight_before(w, g, copy, out, j):  # pragma: no cover  (compiled; tested through its results)
    """Before optimizer.step(): copy w into `copy`, out[0, j] = ||g||, out[1, j] = ||w|| (flat
    float32 arrays; float64 sums)."""
    sw = 0.0
    sg = 0.0
    for i in range(w.shape[0]):
        x = w[i]
        copy[i] = x
        sw += np.float64(x) * np.float64(x)
        y = np.float64(g[i])
        sg += y * y
    out[0, j] = math.sqrt(sg)
    out[1, j] = math.sqrt(sw)


@_jit(_REDUCE)
def weight_change(w, copy, out, j, keep, next_norms):  # pragma: no cover
    """After optimizer.step(): out[2, j] = ||w - copy|| (the update; the difference of two close
    float32 numbers is exact). `keep` (the next step is probed too): the same pass makes its copy,
    copy = w, and next_norms[j] = ||w||."""
    s = 0.0
    sw = 0.0
    for i in range(w.shape[0]):
        x = w[i]
        d = np.float64(x - copy[i])
        s += d * d
        if keep:
            sw += np.float64(x) * np.float64(x)
            copy[i] = x
    out[2, j] = math.sqrt(s)
    if keep:
        next_norms[j] = math.sqrt(sw)


@_jit(_REDUCE)
def grad_norm(g, out, j):  # pragma: no cover
    """out[0, j] = ||g|| (the weights' copy and norm were made by `weight_change` with `keep`)."""
    s = 0.0
    for i in range(g.shape[0]):
        y = np.float64(g[i])
        s += y * y
    out[0, j] = math.sqrt(s)


@_jit(_REDUCE)
def layer_stats(a, l, saturating, t_lo, t_hi, table, scratch, sample, sample_rows):  # pragma: no cover
    """One layer's (B, U) float32 activations `a` -> row l of `table`: mean, std, unit spread
    (the per-example std across units, averaged), fraction (ReLU family: of values <= 0;
    `saturating`: of values < t_lo or > t_hi), dead units (ReLU family: the fraction of units
    <= 0 for the whole batch), min, max; and the first `sample_rows` examples copied into
    sample[l] (percentiles). The formulas of probes._act_records: per example the mean over
    units and the summed squared deviations from it (two passes over a row in L1, float32 like
    the tensor ops), then in float64 the layer's variance as the mean within-example variance
    plus the variance of the example means (no one-pass cancellation: a sigmoid layer collapsed
    at 0.5 keeps its tiny spread). Running extrema per unit (`scratch`, 2U float32), not one
    running value: a dependency across units keeps LLVM from vectorising."""
    B, U = a.shape
    um = scratch[:U]
    un = scratch[U:2 * U]
    for u in range(U):
        um[u] = a[0, u]
        un[u] = a[0, u]
    means = np.empty(B)
    count = 0
    ss_sum = 0.0
    spread = 0.0
    for b in range(B):
        s = np.float32(0.0)
        c = 0
        for u in range(U):
            x = a[b, u]
            s += x
            if x > um[u]:
                um[u] = x
            if x < un[u]:
                un[u] = x
            if saturating:
                c += np.int32(x < t_lo) + np.int32(x > t_hi)
            else:
                c += np.int32(x > 0)
        m = s / np.float32(U)
        ss = np.float32(0.0)
        for u in range(U):
            d = a[b, u] - m
            ss += d * d
        means[b] = m
        ss_sum += np.float64(ss)
        spread += math.sqrt(np.float64(ss))
        count += c
    mean = 0.0
    for b in range(B):
        mean += means[b]
    mean /= B
    between = 0.0
    for b in range(B):
        d = means[b] - mean
        between += d * d
    n = B * U
    lo = un[0]
    hi = um[0]
    dead = 0
    for u in range(U):
        lo = min(lo, un[u])
        hi = max(hi, um[u])
        dead += np.int64(um[u] <= 0)
    row = table[l]
    row[0] = mean
    row[1] = math.sqrt(ss_sum / n + between / B)
    row[2] = spread / (B * math.sqrt(U))
    row[3] = count / n if saturating else (n - count) / n
    row[4] = dead / U
    row[5] = lo
    row[6] = hi
    out = sample[l]
    for b in range(sample_rows):
        for u in range(U):
            out[b * U + u] = a[b, u]


@_jit(False)
def histogram(a, rows, lo, scale, counts, idx):  # pragma: no cover
    """Add the first `rows` examples of `a` to `counts` (bins + 1 slots): slot floor((x - lo) *
    scale), computed in float32 as the tensor-op path computes it (no fastmath: the same bin for
    every value); slot `bins` holds the top edge. Clamped into the row (a NaN to slot 0): no
    value can write elsewhere. Per row, the slots are found first (a loop LLVM vectorises, into
    `idx`, scratch of U int32) and then counted into 8 interleaved sub-histograms: consecutive
    values in one bin (a ReLU layer's zeros) would otherwise wait on each other's increment."""
    n = counts.shape[0]
    top = np.float32(n - 1)
    zero = np.float32(0.0)
    U = a.shape[1]
    sub = np.zeros(8 * n, np.int64)
    for b in range(rows):
        for u in range(U):
            p = (a[b, u] - lo) * scale
            p = p if p > zero else zero
            p = p if p < top else top
            idx[u] = np.int32(p) + (u & 7) * n
        for u in range(U):
            sub[idx[u]] += 1
    for j in range(n):
        c = 0
        for k in range(8):
            c += sub[k * n + j]
        counts[j] += c


@_jit(False)
def count_right(logits, labels, sizes, out):  # pragma: no cover
    """Per batch (consecutive rows of `logits`, `sizes` rows each): how many rows' argmax (the
    first largest, numpy's and torch's rule: ties, e.g. a zeros init's equal logits, go to the
    lowest class) equal the label. One call for the gathered steps: inside the training loop a
    call costs ~9 us however little it does."""
    C = logits.shape[1]
    r = 0
    for j in range(sizes.shape[0]):
        right = 0
        for _ in range(sizes[j]):
            best_value = logits[r, 0]
            best = 0
            for c in range(1, C):
                v = logits[r, c]
                larger = v > best_value
                best_value = v if larger else best_value
                best = c if larger else best
            right += np.int64(best == labels[r])
            r += 1
        out[j] = right


def ready() -> bool:
    """Whether the kernels can be used: numba imported and every kernel ran once on tiny inputs
    (which compiles it, or loads it from the disk cache). Checked once per process; thread-safe
    enough (a second caller at worst runs the check again)."""
    global _checked
    if _checked is None:
        try:
            f32 = np.float32
            w, copy, out = np.ones(4, f32), np.zeros(4, f32), np.zeros((3, 1))
            weight_before(w, w, copy, out, 0)
            weight_change(w, copy, out, 0, False, out[0])
            weight_change(w, copy, out, 0, True, np.zeros(1))
            grad_norm(w, out, 0)
            a = np.ones((2, 3), f32)
            table, sample = np.zeros((1, 7)), np.zeros((1, 3), f32)
            layer_stats(a, 0, False, f32(0), f32(0), table, np.zeros(6, f32), sample, 1)
            counts = np.zeros(5, np.int64)
            histogram(a, 1, f32(0), f32(1), counts, np.zeros(3, np.int32))
            right = np.zeros(1, np.int64)
            count_right(np.zeros((2, 3), f32), np.array([0, 1]), np.array([2]), right)
            _checked = bool(out[2, 0] == 0 and table[0, 0] == 1 and table[0, 3] == 0 and counts[1] == 3
                            and right[0] == 1)
        except Exception:  # a compiler or cache problem: the tensor-op path is used instead
            _checked = False
    return _checked
