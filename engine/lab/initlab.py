"""The lecture's forward-only init experiment (CS231n lecture 6, "weight initialization").

A batch of unit-gaussian inputs goes through a freshly initialised deep MLP; we look at each
hidden layer's activations. Nothing is trained. What it shows, from real computation:
  tanh + normal(0.01)  activations collapse toward zero layer by layer (std -> 0)
  tanh + normal(1.0)   activations saturate at +-1 (gradients vanish)
  tanh + xavier        the spread stays healthy through depth
  relu + xavier        the spread halves-ish every layer; he_normal (sqrt(2/n)) fixes it
  + batch norm         the spread is held whatever the init (BN in training mode: batch stats)

    python main.py initlab --depth 10 --width 500 --activation tanh --init normal --init-std 0.01
"""
from __future__ import annotations

import torch

from ..train.config import STD_INITS, RunConfig
from ..train.thresholds import fraction_key
from ..train.model import MLP
from ..train.probes import snapshot_stats


_NOT_SHOWN = ("pcts", "weight_norm", "grad_norm", "update_ratio")  # nothing is trained here


def run_initlab(depth: int = 10, width: int = 500, activation: str = "tanh", init: str = "normal",
                init_std: float = 0.01, bn: bool = False, seed: int = 0, n: int = 1000,
                bins: int = 40) -> dict:
    """Per hidden layer: act_mean, act_std, sat_frac, dead_frac, dead_units, hist {edges, counts} on
    the range shared by every layer, and zoom {edges, counts}: `bins` bins over that layer's own
    min..max (a collapsed layer, all within 1e-6 of 0, still shows its shape)."""
    cfg = RunConfig(depth=depth, width=width, activation=activation, init=init, init_std=init_std, bn=bn,
                    seed=seed, hist_bins=bins).validate()
    if not isinstance(n, int) or n < 2:
        from ..errors import ConfigError
        raise ConfigError(f"the batch needs at least 2 examples (got {n!r})")
    gen = torch.Generator().manual_seed(cfg.seed)
    model = MLP(cfg.width, 10, cfg.depth, cfg.width, cfg.activation, bn=cfg.bn)
    model.reinit(cfg.init, cfg.init_std, gen)
    model.train()  # batch norm normalises with the batch's own statistics, as at training time
    acts: list[torch.Tensor] = []
    model.capture = acts  # the model hands over each hidden layer's output (see engine.train.probes)
    with torch.no_grad():
        model(torch.randn(n, cfg.width, generator=gen))
    model.capture = None
    layers = [{k: v for k, v in layer.as_dict().items() if k not in _NOT_SHOWN}
              for layer in snapshot_stats([acts], cfg.activation, cfg.hist_bins, model.layer_names()[:-1])[0]]
    for layer, a in zip(layers, acts):
        layer["zoom"] = zoom_histogram(a, cfg.hist_bins)
    return {"depth": cfg.depth, "width": cfg.width, "activation": cfg.activation, "init": cfg.init,
            "init_std": cfg.init_std, "bn": cfg.bn, "seed": cfg.seed, "n": n, "layers": layers}


def zoom_histogram(a: torch.Tensor, bins: int) -> dict:
    """`bins` equal bins from a's min to its max (one value: a bin of width 1e-12 around it)."""
    a = a.detach().double().reshape(-1)
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 5e-13, hi + 5e-13
    counts = torch.histc(a, bins=bins, min=lo, max=hi)
    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    return {"edges": edges.tolist(), "counts": [int(c) for c in counts.tolist()]}


def format_table(result: dict) -> str:
    """A readable table for the terminal."""
    kind = fraction_key(result["activation"])
    head = (f"init lab: {result['depth']} x {result['width']} {result['activation']}, init {result['init']}"
            + (f" (std {result['init_std']:g})" if result["init"] in STD_INITS else "")
            + (", batch norm" if result["bn"] else "") + f", {result['n']} unit-gaussian inputs")
    lines = [head, f"{'layer':<9}{'mean':>11}{'std':>11}{kind:>11}  histogram"]
    blocks = " ▁▂▃▄▅▆▇█"
    for layer in result["layers"]:
        counts = layer["hist"]["counts"]
        # a sparkline of at most 20 characters: consecutive bins merged, every bin in exactly one
        per = -(-len(counts) // 20)
        merged = [sum(counts[i:i + per]) for i in range(0, len(counts), per)]
        top = max(merged) or 1
        spark = "".join(blocks[min(8, round(8 * c / top))] for c in merged)
        frac = layer[kind]
        lines.append(f"{layer['name']:<9}{layer['act_mean']:>11.4g}{layer['act_std']:>11.4g}"
                     f"{(frac if frac is not None else float('nan')):>11.3f}  {spark}")
    edges = result["layers"][0]["hist"]["edges"]
    lines.append(f"(histograms span {edges[0]:.3g} .. {edges[-1]:.3g})")
    return "\n".join(lines)
