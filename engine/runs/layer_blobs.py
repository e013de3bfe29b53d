"""A probe record's layers as blobs, and back: the run store's `records` and `histograms` rows
(engine/runs/recording.py packs them on the writer's thread, engine/runs/store.py unpacks them).

    names, stats, pcts, extra, edges, counts = pack_layers(record["layers"])
    layers = unpack_layers(names, stats, pcts, extra, edges, counts)   # as the probe sent them
"""
from __future__ import annotations

import json
import math

import numpy as np

from ..fileio import dumps
from .history import LAYER_KEYS


def pack_layers(layers: list[dict]) -> tuple:
    """A probe record's layers as (names JSON, stats, pcts, extra JSON, edges, counts): float64
    blobs (L, len(LAYER_KEYS)) and (L, percentiles), histograms as float64 edges (L, bins + 1) and
    int32 counts (L, bins); a layer without one is a NaN row / -1 counts. Keys outside these go to
    `extra` (usually None), so nothing a probe sends is lost. Runs on the writer's thread: one
    numpy call per blob, from plain lists."""
    nan = math.nan
    n_p = max((len(l["pcts"]) for l in layers if l.get("pcts")), default=0)
    n_b = max((len(l["hist"]["counts"]) for l in layers if l.get("hist")), default=0)
    no_pcts, no_edges, no_counts = [nan] * n_p, [nan] * (n_b + 1), [-1] * n_b
    stats, pcts, edges, counts, extra = [], [], [], [], []
    for l in layers:
        stats.append([nan if (v := l.get(k)) is None else v for k in LAYER_KEYS])
        left = {k: v for k, v in l.items() if k not in _PACKED}
        p, h = l.get("pcts"), l.get("hist")
        if p is not None and len(p) != n_p:
            left["pcts"], p = p, None  # an odd length: kept as it came
        if h is not None and (len(h) != 2 or len(h.get("counts", ())) != n_b):
            left["hist"], h = h, None
        pcts.append(p or no_pcts)
        edges.append(h["edges"] if h else no_edges)
        counts.append(h["counts"] if h else no_counts)
        extra.append(left)
    return (json.dumps([l.get("name") for l in layers]), np.array(stats, np.float64).tobytes(),
            np.array(pcts, np.float64).tobytes() if n_p else None, dumps(extra) if any(extra) else None,
            np.array(edges, np.float64).tobytes() if n_b else None,
            np.array(counts, np.int32).tobytes() if n_b else None)


_PACKED = {"name", "pcts", "hist", *LAYER_KEYS}  # the keys pack_layers puts in its blobs


def unpack_layers(names: str, stats: bytes, pcts: bytes | None, extra: str | None, edges: bytes | None,
                  counts: bytes | None) -> list[dict]:
    """pack_layers' blobs back into the layers as the probe sent them (NaN back to None)."""
    names = json.loads(names)
    L = len(names)
    stats_l = np.frombuffer(stats, np.float64).reshape(L, len(LAYER_KEYS)).tolist()
    pcts_l = np.frombuffer(pcts, np.float64).reshape(L, -1).tolist() if pcts else [None] * L
    edges_l = np.frombuffer(edges, np.float64).reshape(L, -1).tolist() if edges else [None] * L
    counts_l = np.frombuffer(counts, np.int32).reshape(L, -1).tolist() if counts else [None] * L
    extras = json.loads(extra) if extra else [{}] * L
    layers = []
    for name, values, p, e, c, more in zip(names, stats_l, pcts_l, edges_l, counts_l, extras):
        layer = {"name": name}
        layer.update((k, None if v != v else v) for k, v in zip(LAYER_KEYS, values))  # v != v: NaN
        layer["hist"] = {"edges": e, "counts": c} if c is not None and c[0] >= 0 else None
        layer["pcts"] = p if p is not None and p[0] == p[0] else None  # a layer without is all NaN
        layer.update(more)
        layers.append(layer)
    return layers
