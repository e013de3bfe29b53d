"""The diagnostics' checks of what the probes show about each layer: vanishing activations,
saturation, dead units, symmetry and the update ratios (the thresholds, and why, are in
engine/train/diagnostics_rules.py).

LayerChecks is a part of Diagnostics (engine/train/diagnostics.py), which calls these on every probe
record it keeps; they read its state (cfg, probes, n_probes, reported, loss_ema, ln_c,
since_change) and report through its _add.
"""
from __future__ import annotations

import math
from statistics import median

from .diagnostics_rules import (AFTER_CHANGE_PROBES, DEAD_UNITS_FRAC, LR_LOW_MIN_LOSS, PROBE_WINDOW,
                                SATURATION_FRAC, SYMMETRY_REL, UPDATE_RATIO_AFTER_CHANGE, UPDATE_RATIO_HIGH,
                                UPDATE_RATIO_LOW, UPDATE_RATIO_TARGET, UR_WINDOW, VANISH_RATIO)
from .thresholds import SATURATION


class LayerChecks:
    """The per-probe checks of Diagnostics (a mixin: the state they read is the watcher's)."""

    def _recent(self, key: str, n: int = PROBE_WINDOW) -> dict[str, float]:
        """Median of `key` over the last n probes, per layer that has it."""
        values: dict[str, list[float]] = {}
        for layers in list(self.probes)[-n:]:
            for l in layers:
                v = l.get(key)
                if v is not None and math.isfinite(v):
                    values.setdefault(l["name"], []).append(float(v))
        return {name: median(vs) for name, vs in values.items()}

    def _median_ratios(self, n: int) -> dict[str, float | None]:
        if self.n_probes < n:
            return {}
        return self._recent("update_ratio", n)

    def _vanishing(self, step: int, hidden: list[dict], found: list[dict]) -> None:
        if len(hidden) < 2 or self.reported & {"exploding_loss", "diverged"}:
            return  # after a blow-up, a small last layer means dead units, not a too-small init
        stds = self._recent("act_std")
        names = [l["name"] for l in hidden if l["name"] in stds]
        if len(names) < 2:
            return
        first, last = stds[names[0]], stds[names[-1]]
        if first > 0 and last < VANISH_RATIO * first:
            chain = ", ".join(f"{stds[n]:.2g}" for n in names)
            self._add(found, "vanishing_activations", step, "warning",
                      f"the activations' spread shrinks with depth: std {first:.3g} in {names[0]} but "
                      f"{last:.3g} in {names[-1]} ({last / first:.1e}x); by layer: {chain}",
                      layer=names[-1])

    def _saturation(self, step: int, found: list[dict]) -> None:
        if self.cfg.activation in SATURATION:
            self._layers_over(step, found, "saturation", "sat_frac", SATURATION_FRAC,
                              f"{{pct}}% of {{worst}}'s {self.cfg.activation} outputs are saturated (at their "
                              f"limits, gradient ~0); saturated layers: {{listing}}")

    def _dead_units(self, step: int, found: list[dict]) -> None:
        # under zeros init every unit outputs 0 because all are the same, not because they died:
        # that is the symmetry finding, which leaky ReLU would not fix
        if self.cfg.activation == "relu" and self.cfg.init != "zeros":
            self._layers_over(step, found, "dead_units", "dead_units", DEAD_UNITS_FRAC,
                              "{pct}% of {worst}'s ReLU units output 0 for every example of the batch "
                              "(dead: no gradient reaches their weights); by layer: {listing}")

    def _layers_over(self, step: int, found: list[dict], code: str, key: str, limit: float, message: str) -> None:
        """A warning when some layer's recent `key` (a fraction) is above `limit`, naming the worst;
        `message` has {pct} (the worst layer's), {worst} and {listing} ("hidden1 72%, hidden2 65%")."""
        bad = {n: v for n, v in self._recent(key).items() if v > limit}
        if bad:
            worst = max(bad, key=bad.get)
            listing = ", ".join(f"{n} {100 * v:.0f}%" for n, v in bad.items())
            self._add(found, code, step, "warning",
                      message.format(pct=f"{100 * bad[worst]:.0f}", worst=worst, listing=listing), layer=worst)

    def _symmetry(self, step: int, found: list[dict]) -> None:
        if self.n_probes < 2:
            return
        spread, mean, std = self._recent("unit_spread"), self._recent("act_mean"), self._recent("act_std")
        for name, s in spread.items():
            scale = abs(mean.get(name, 0.0)) + std.get(name, 0.0)
            if s > SYMMETRY_REL * scale:
                continue
            if scale == 0.0 and self.cfg.activation == "relu" and self.cfg.init != "zeros":
                continue  # all-zero ReLU layer: dead units, reported as such
            self._add(found, "symmetry", step, "error",
                      f"every unit of {name} computes the same value (spread across units {s:.2g}, "
                      f"activation mean {mean.get(name, 0.0):.3g}) after {step} steps: the units never "
                      f"became different",
                      layer=name)
            return

    def _update_ratios(self, step: int, found: list[dict]) -> None:
        ratios = self._median_ratios(UR_WINDOW)
        if not ratios:
            return
        low = {n: r for n, r in ratios.items() if r < UPDATE_RATIO_LOW}
        high = {n: r for n, r in ratios.items() if r > UPDATE_RATIO_HIGH}
        fitting = self.loss_ema is not None and self.loss_ema > LR_LOW_MIN_LOSS * self.ln_c
        if low and fitting and not self.reported & {"exploding_loss", "diverged"}:
            worst = min(low, key=low.get)
            self._add(found, "update_ratio_low", step, "warning",
                      f"{worst}'s weights change by only {low[worst]:.1e} of their size per step (median of the "
                      f"last {UR_WINDOW} probes; ~{UPDATE_RATIO_TARGET:g} is healthy); low in: "
                      + ", ".join(f"{n} {r:.0e}" for n, r in low.items()) + f" ({self._lr_text()})", layer=worst)
        if not high and self._lr_changed() and len(self.since_change) == AFTER_CHANGE_PROBES:
            sustained = {}
            for name in self.since_change[-1]:
                values = [p[name] for p in self.since_change if name in p]
                if len(values) == AFTER_CHANGE_PROBES and median(values) > UPDATE_RATIO_AFTER_CHANGE:
                    sustained[name] = median(values)
            if sustained:
                worst = max(sustained, key=sustained.get)
                self._add(found, "update_ratio_high", step, "warning",
                          f"{worst}'s weights change by {sustained[worst]:.2g} of their size per step, "
                          f"{sustained[worst] / UPDATE_RATIO_TARGET:.0f}x the ~{UPDATE_RATIO_TARGET:g} rule of thumb "
                          f"(median of the {AFTER_CHANGE_PROBES} probes since the change); high in: "
                          + ", ".join(f"{n} {r:.1e}" for n, r in sustained.items()) + f" ({self._lr_text()})",
                          layer=worst)
        if high:
            worst = max(high, key=high.get)
            self._add(found, "update_ratio_high", step, "warning",
                      f"{worst}'s weights change by {high[worst]:.2g} of their size per step (median of the last "
                      f"{UR_WINDOW} probes; ~{UPDATE_RATIO_TARGET:g} is healthy); high in: "
                      + ", ".join(f"{n} {r:.1e}" for n, r in high.items()) + f" ({self._lr_text()})", layer=worst)
