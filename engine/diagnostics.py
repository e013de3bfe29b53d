"""Diagnostics: watch a training run and say in plain words what looks wrong, once.

The session calls `Diagnostics.observe(scalars, record, event)` after every step; it returns the
findings that are NEW at this step (each code is reported once per run) as plain dicts:

    {"code": "dead_units", "step": 140, "severity": "warning", "layer": "hidden2",
     "message": "70% of hidden2's units output 0 for every example ...",   # what was seen, with numbers
     "idea": "...",                                                        # the lecture idea behind it
     "try": "..."}                                                         # what to try

The session turns each into an event {"event": "diagnosis", "label": code, **finding}, so a
finding never carries "event" or "label" keys itself. Per-step work is O(1) (a few running
averages); the windowed checks run every CHECK_EVERY steps and on probe/eval records. Probe
records are taken one per PROBE_SPACING-step stretch (steps 1, 10, 20, ...), so the probe windows
below span the same stretch of training whether the session probes every step or every 10th, and
probing every step does not pay for a layer check every step.

Thresholds, and why (the numbers were measured on the spiral with the presets in
resources/presets, see tests/engine/test_diagnostics.py):

  initial_loss   Only where the init gives small logits: init 'zeros', or 'normal'/'uniform' with
                 init_std*sqrt(width) <= SMALL_INIT_GAIN (every layer then shrinks its input, so the
                 logits are ~0 and softmax loss = ln C whatever the labels). Warn when the first
                 data loss is outside [INITIAL_LOSS_LOW, INITIAL_LOSS_HIGH] x ln C: the loss or the
                 labels are not what you think. Other inits give O(1) logits and a first loss a bit
                 above ln C (He/ReLU depth 2 on the spiral: 1.8 x ln 3); only a first loss above
                 INITIAL_LOSS_LARGE x ln C is reported there (info: large init, e.g. tanh N(0,1): 7 x).
  diverged       The session's "diverged" event (loss NaN/inf).
  exploding_loss The lecture's rule: the loss above EXPLODE_FACTOR x the first step's loss. The loss
                 is a short running average (EXPLODE_BETA, ~5 steps) so one unlucky batch does not
                 count (deep ReLU + momentum on the spiral shows single-batch spikes of 3x).
  lr_too_low     Over the last LR_LOW_WINDOW steps the mean loss of the newest LR_LOW_EDGE steps is
                 less than LR_LOW_REL_CHANGE below the mean of the oldest LR_LOW_EDGE, while it is
                 still above LR_LOW_MIN_LOSS x ln C (far from fitted) and the weights barely move
                 (the median over layers of the update ratio below LR_LOW_MAX_RATIO, or unknown).
                 A 50-step mean of spiral minibatch losses has ~0.7% noise, so 1% means "flat".
                 Not reported after exploding_loss/diverged/dead_units/symmetry/vanishing_activations:
                 weights that do not move there are dead, stuck or starved of gradient, and a higher
                 LR would not be the fix.
  update_ratio_low / _high
                 The lecture's ~1e-3 rule. Median over the last UR_WINDOW probes, per layer, below
                 UPDATE_RATIO_LOW / above UPDATE_RATIO_HIGH (two decades of slack each way, as healthy
                 spiral runs sit between 2e-5 and 5e-3 depending on layer and optimizer). "low" is
                 only reported while the loss is above LR_LOW_MIN_LOSS x ln C (a converged net's
                 gradients, and so its updates, shrink: He/ReLU x10 + SGD fell below 1e-5 at a loss
                 of 0.01), and not after exploding_loss/diverged (units a too-high LR killed don't move).
  dead_units     ReLU only (leaky/ELU/GELU units still pass gradient below 0): the median over the
                 last PROBE_WINDOW probes of the fraction of a layer's units that are 0 for every
                 example of the batch is above DEAD_UNITS_FRAC. (Healthy He/ReLU nets on 2-D data
                 show up to ~45% in a batch of 64; 0.6 leaves room.)
  saturation     tanh/sigmoid: median over recent probes of a layer's sat_frac above SATURATION_FRAC
                 (tanh N(0,1) init: 0.56-0.74 from layer 2 on; Xavier: below 0.08).
  vanishing_activations
                 At least two hidden layers and the last one's act_std below VANISH_RATIO x the
                 first one's (tanh N(0,0.01) x6: 3e-6; ReLU + Xavier x8: 0.05; He x8: 0.54).
                 Not after exploding_loss/diverged (then the first layer blew up and the rest died).
  symmetry       While training (>= 2 probes), in some hidden layer every unit computes the same
                 value: unit_spread <= SYMMETRY_REL x (|act_mean| + act_std). An all-zero ReLU layer
                 is "dead", not symmetric, unless the init was 'zeros'.
  overfitting    Train accuracy (EMA over ~50 steps) minus validation accuracy (mean of the last
                 VAL_WINDOW evaluations) above OVERFIT_GAP, after MIN_EVALS evaluations, AND the
                 validation loss has risen VAL_RISE above its best. While a net is still learning,
                 train accuracy leads validation by 10-15 points on the spiral (SGD), but the
                 validation loss still falls; memorising 20 points sends it from 0.53 up to 1.2.
  underfitting   After UNDERFIT_MIN_STEPS steps: train accuracy below halfway between chance and
                 100% (UNDERFIT_ACC_FRACTION) with a gap under UNDERFIT_MAX_GAP. Not reported when
                 symmetry, divergence or a too-low LR already explain it.

The student's own changes. A re-init starts a fresh Diagnostics (the session makes one), whose
first step is the one after the re-init; a change of learning rate, optimizer or batch norm is
seen in the live cfg. From a change on, findings judge the run since the change: step counts
(underfitting's UNDERFIT_MIN_STEPS) and windows (losses, probes, evaluations) start again, the
findings about the learning rate may be reported again, and every message ends with "since the
re-init at step N" (or the change made). And after a change of learning rate or optimizer:
  update_ratio_high
                 also when a layer's median update ratio over the AFTER_CHANGE_PROBES probes since
                 the change is above UPDATE_RATIO_AFTER_CHANGE (10x the rule of thumb, sustained
                 for ~100 steps; a healthy run only passes 1e-2 for a few probes at its start).
"""
from __future__ import annotations

import math
from collections import deque
from statistics import median
from typing import Any

from .config import STD_INITS, RunConfig
from .thresholds import SATURATION

SMALL_INIT_GAIN = 0.5
INITIAL_LOSS_LOW, INITIAL_LOSS_HIGH = 0.8, 1.25
INITIAL_LOSS_LARGE = 3.0
EXPLODE_FACTOR = 3.0
EXPLODE_BETA = 0.8
LR_LOW_WINDOW, LR_LOW_EDGE = 200, 50
LR_LOW_REL_CHANGE = 0.01
LR_LOW_MIN_LOSS = 0.5
LR_LOW_MAX_RATIO = 1e-4
UPDATE_RATIO_TARGET = 1e-3
UPDATE_RATIO_LOW, UPDATE_RATIO_HIGH = 1e-5, 1e-1
UR_WINDOW = 5
PROBE_WINDOW = 3
DEAD_UNITS_FRAC = 0.6
SATURATION_FRAC = 0.4
VANISH_RATIO = 0.1
SYMMETRY_REL = 1e-4
OVERFIT_GAP = 0.15
VAL_RISE = 0.10
VAL_WINDOW = 3
MIN_EVALS = 3
UNDERFIT_MIN_STEPS = 1000
UNDERFIT_ACC_FRACTION = 0.5
UNDERFIT_MAX_GAP = 0.1
TRAIN_ACC_BETA = 0.98
CHECK_EVERY = 10
PROBE_SPACING = 10
UPDATE_RATIO_AFTER_CHANGE = 1e-2
AFTER_CHANGE_PROBES = 10
# findings that a change of learning rate or optimizer makes worth judging again
LR_FINDINGS = frozenset({"lr_too_low", "update_ratio_low", "update_ratio_high", "underfitting"})

SEVERITIES = ("info", "warning", "error")

# The lecture idea behind each code, and what to try. Messages (what was seen) are built per case.
IDEAS: dict[str, tuple[str, str]] = {
    "initial_loss": (
        "Sanity check (lecture 6): with small random weights every class gets about the same score, "
        "so the first softmax loss should be about ln(C).",
        "Check the labels (0..C-1), the number of classes and that the loss is softmax cross-entropy; "
        "with a large init, expect saturation or a slow start, or use Xavier/He."),
    "diverged": (
        "A loss of NaN or infinity almost always means the learning rate is too high (lecture 6).",
        "Lower the learning rate by 10x and re-initialise; a learning-rate finder shows where the loss "
        "starts to blow up."),
    "exploding_loss": (
        "Lecture 6's rule for hyperparameter search: if the cost is ever above 3x the original cost, "
        "break out early: the learning rate is too high.",
        "Lower the learning rate (by 3-10x) or add warm-up; stop this run early."),
    "lr_too_low": (
        "Loss not going down: learning rate too low (lecture 6, babysitting the learning process).",
        "Raise the learning rate by 10x (a learning-rate finder suggests one); if the activations "
        "have collapsed, fix the init (Xavier/He) or add batch norm."),
    "update_ratio_low": (
        "The size of each weight update relative to the weights should be around 1e-3 (lecture 6); "
        "much lower means the learning rate is too low (or the gradients vanish).",
        "Raise the learning rate; check the activation histograms for a collapse."),
    "update_ratio_high": (
        "The size of each weight update relative to the weights should be around 1e-3 (lecture 6); "
        "much higher means the learning rate is too high.",
        "Lower the learning rate by 10x."),
    "dead_units": (
        "A ReLU unit whose input is negative for every example gets no gradient and never updates "
        "again: a dead ReLU (lecture 6). Caused by a bad init or a learning rate that was too high.",
        "Lower the learning rate, use He init, or try leaky ReLU / ELU, which still pass gradient "
        "below zero."),
    "saturation": (
        "A saturated tanh/sigmoid unit (output near its limits) has a local gradient near zero, so it "
        "kills the gradient flowing back (lecture 6: with large weights all units saturate).",
        "Use Xavier init (std 1/sqrt(fan_in)), add batch norm, or switch to ReLU."),
    "vanishing_activations": (
        "With too-small weights each layer multiplies the activations' spread by std*sqrt(fan_in) < 1, "
        "so in a deep net they collapse toward zero and the weight gradients with them (lecture 6's "
        "activation histograms). For ReLU, Xavier init halves the variance at every layer.",
        "Use Xavier init for tanh, He init (std sqrt(2/fan_in)) for ReLU, or add batch norm."),
    "symmetry": (
        "If all weights start equal (e.g. W = 0), every unit in a layer computes the same output and "
        "gets the same gradient, so they stay identical forever: the symmetry is never broken "
        "(lecture 6).",
        "Initialise with small random numbers (Xavier/He), never with zeros."),
    "overfitting": (
        "A big gap between training and validation accuracy means overfitting (lectures 6-7): the "
        "model memorises the training set.",
        "Add regularization (L2, dropout), use more data or a smaller model, or stop early at the "
        "best validation accuracy."),
    "underfitting": (
        "Low accuracy with no gap between training and validation: the model underfits (lecture 6: "
        "no gap, low accuracy -> increase model capacity).",
        "Use a bigger model (wider/deeper), less regularization, a better learning rate or more steps."),
}


class Diagnostics:
    """Stateful watcher; one per run. `cfg` is read live (the session mutates its own copy when
    the user changes the LR, init or batch norm), never modified here."""

    def __init__(self, cfg: RunConfig, n_classes: int):
        self.cfg = cfg
        self.n_classes = int(n_classes)
        self.ln_c = math.log(self.n_classes) if self.n_classes > 1 else 1.0
        self.reported: set[str] = set()
        self.first_loss: float | None = None
        self.losses: deque[float] = deque(maxlen=LR_LOW_WINDOW)
        self.loss_ema: float | None = None
        self.best_val_loss = math.inf
        self.val_losses: deque[float] = deque(maxlen=VAL_WINDOW)
        self.train_acc_ema: float | None = None
        self.steps_seen = 0
        self.vals: deque[float] = deque(maxlen=VAL_WINDOW)
        self.n_evals = 0
        self.probes: deque[list[dict]] = deque(maxlen=max(UR_WINDOW, PROBE_WINDOW))
        self.n_probes = 0
        self.last_probe_step: int | None = None
        self.lr_now: float | None = None  # the learning rate in use (a schedule moves it off cfg.lr)
        self.change: tuple[int, str] | None = None  # (step, what) of the student's latest change
        self.knobs = self._knobs()
        self.since_change: deque[dict[str, float]] = deque(maxlen=AFTER_CHANGE_PROBES)  # update ratios

    def _knobs(self) -> tuple:
        return self.cfg.lr, self.cfg.optimizer, self.cfg.bn

    def _watch_changes(self, step: int) -> None:
        """Note a re-init (this watcher's first step is not the run's first) or a change of
        learning rate, optimizer or batch norm (the live cfg), and judge from it on."""
        knobs = self._knobs()
        if self.steps_seen == 0 and step > 1:
            self._changed(step - 1, "the re-init")
        elif knobs != self.knobs:
            lr, opt, bn = self.knobs
            what = ("the learning-rate change" if knobs[0] != lr else
                    "the optimizer change" if knobs[1] != opt else f"batch norm {'on' if knobs[2] else 'off'}")
            self._changed(step - 1, what)
            if knobs[0] != lr or knobs[1] != opt:
                self.reported -= LR_FINDINGS
        self.knobs = knobs

    def _changed(self, step: int, what: str) -> None:
        self.change = (step, what)
        self.losses.clear()
        self.vals.clear()
        self.probes.clear()
        self.since_change.clear()
        self.n_probes = 0
        self.steps_seen = 0

    # ------------------------------------------------------------------ entry point
    def observe(self, scalars: dict | None, record: dict | None, event: dict | None = None) -> list[dict]:
        found: list[dict] = []
        if event is not None and event.get("event") == "diverged":
            self._diverged(event, found)
        if scalars is not None:
            self._scalars(scalars, found)
        if record is not None:
            self._record(record, found)
        return found

    def observe_steps(self, scalars: list[dict], records: list[dict]) -> list[dict]:
        """observe() for several steps' scalars and records (the session's coalesced snapshots),
        each list oldest first, merged in step order (a step's scalars before its record): one call
        for all of them."""
        found: list[dict] = []
        i = 0
        for record in records:
            while i < len(scalars) and scalars[i]["step"] <= record["step"]:
                self._scalars(scalars[i], found)
                i += 1
            self._record(record, found)
        for s in scalars[i:]:
            self._scalars(s, found)
        return found

    # ------------------------------------------------------------------ per step
    def _scalars(self, s: dict, found: list[dict]) -> None:
        step, loss = int(s["step"]), float(s["loss"])
        data_loss = float(s.get("data_loss", loss))
        acc = s.get("train_acc")
        self._watch_changes(step)
        self.steps_seen += 1
        self.lr_now = s.get("lr", self.lr_now)
        if self.first_loss is None:
            self.first_loss = self.loss_ema = loss
            self._initial_loss(step, data_loss, float(s.get("reg_loss") or 0.0), found)
        else:
            self.loss_ema = EXPLODE_BETA * self.loss_ema + (1 - EXPLODE_BETA) * loss
            if self.loss_ema > EXPLODE_FACTOR * self.first_loss:
                self._add(found, "exploding_loss", step, "error",
                          f"the loss is growing, not falling: {loss:.4g} at step {step} (running average "
                          f"{self.loss_ema:.4g}, {self.loss_ema / self.first_loss:.1f}x the first step's "
                          f"{self.first_loss:.4g})")
        self.losses.append(loss)
        if acc is not None:
            a = float(acc)
            self.train_acc_ema = a if self.train_acc_ema is None else \
                TRAIN_ACC_BETA * self.train_acc_ema + (1 - TRAIN_ACC_BETA) * a
        if step % CHECK_EVERY == 0:
            self._lr_too_low(step, found)
            self._underfitting(step, found)

    def _initial_loss(self, step: int, data_loss: float, reg_loss: float, found: list[dict]) -> None:
        ratio = data_loss / self.ln_c
        reg = f" (plus {reg_loss:.3g} of regularization)" if reg_loss > 0 else ""
        if self._small_init():
            if not INITIAL_LOSS_LOW <= ratio <= INITIAL_LOSS_HIGH:
                self._add(found, "initial_loss", step, "warning",
                          f"the first loss is {data_loss:.4g}{reg}, but with these small weights it should be "
                          f"about ln({self.n_classes}) = {self.ln_c:.4g} ({ratio:.2f}x that)")
        elif ratio > INITIAL_LOSS_LARGE:
            self._add(found, "initial_loss", step, "info",
                      f"the first loss is {data_loss:.4g}{reg}, {ratio:.1f}x ln({self.n_classes}) = {self.ln_c:.4g}: "
                      f"the init gives large scores, so the network starts out confidently wrong")

    def _small_init(self) -> bool:
        init = self.cfg.init
        if init == "zeros":
            return True
        return init in STD_INITS and self.cfg.init_std * math.sqrt(self.cfg.width) <= SMALL_INIT_GAIN

    def _lr_too_low(self, step: int, found: list[dict]) -> None:
        if (len(self.losses) < LR_LOW_WINDOW
                or self.reported & {"lr_too_low", "symmetry", "exploding_loss", "diverged", "dead_units",
                                    "vanishing_activations"}):
            return
        window = list(self.losses)
        early = sum(window[:LR_LOW_EDGE]) / LR_LOW_EDGE
        late = sum(window[-LR_LOW_EDGE:]) / LR_LOW_EDGE
        if not (math.isfinite(early) and early > 0):
            return
        drop = (early - late) / early
        if drop >= LR_LOW_REL_CHANGE or late < LR_LOW_MIN_LOSS * self.ln_c:
            return
        ratios = self._median_ratios(UR_WINDOW)
        known = [r for r in ratios.values() if r is not None]
        if known and median(known) >= LR_LOW_MAX_RATIO:
            return  # the weights do move: a plateau, not a learning rate that is too low
        moved = (f"; the weights change by a median {median(known):.1e} of their size per step "
                 f"(~{UPDATE_RATIO_TARGET:g} is healthy)" if known else "")
        self._add(found, "lr_too_low", step, "warning",
                  f"the loss has barely moved over the last {LR_LOW_WINDOW} steps ({early:.4g} -> {late:.4g}, "
                  f"{-100 * drop:+.1f}%) and is still far from 0{moved} ({self._lr_text()})")

    def _underfitting(self, step: int, found: list[dict]) -> None:
        if (self.steps_seen < UNDERFIT_MIN_STEPS or self.train_acc_ema is None or not self.vals
                or self.reported & {"underfitting", "symmetry", "diverged", "lr_too_low"}):
            return
        chance = 1.0 / self.n_classes
        bar = chance + UNDERFIT_ACC_FRACTION * (1.0 - chance)
        val = sum(self.vals) / len(self.vals)
        gap = self.train_acc_ema - val
        if self.train_acc_ema < bar and gap < UNDERFIT_MAX_GAP:
            self._add(found, "underfitting", step, "warning",
                      f"after {self.steps_seen} steps the training accuracy is only {100 * self.train_acc_ema:.0f}% "
                      f"(validation {100 * val:.0f}%, chance {100 * chance:.0f}%) with no gap between them")

    # ------------------------------------------------------------------ per probe / eval
    def _record(self, r: dict, found: list[dict]) -> None:
        step = int(r["step"])
        if r.get("val_acc") is not None:
            self.vals.append(float(r["val_acc"]))
            if r.get("val_loss") is not None and math.isfinite(r["val_loss"]):
                self.val_losses.append(float(r["val_loss"]))
                self.best_val_loss = min(self.best_val_loss, float(r["val_loss"]))
            self.n_evals += 1
            self._overfitting(step, found)
        layers = r.get("layers") or []
        if not layers:
            return
        if self.last_probe_step is not None and step // PROBE_SPACING <= self.last_probe_step // PROBE_SPACING:
            return  # one probe per PROBE_SPACING-step stretch: steps 1, 10, 20, ... when probing every step
        self.last_probe_step = step
        self.probes.append(layers)
        self.n_probes += 1
        if self.change is not None:
            self.since_change.append({l["name"]: float(l["update_ratio"]) for l in layers
                                      if l.get("update_ratio") is not None and math.isfinite(l["update_ratio"])})
        hidden = [l for l in layers if l.get("act_std") is not None]
        if hidden:
            self._vanishing(step, hidden, found)
            self._saturation(step, found)
            self._dead_units(step, found)
            self._symmetry(step, found)
        self._update_ratios(step, found)

    def _overfitting(self, step: int, found: list[dict]) -> None:
        if self.n_evals < MIN_EVALS or self.train_acc_ema is None or self.steps_seen < 50:
            return
        val = sum(self.vals) / len(self.vals)
        gap = self.train_acc_ema - val
        if not self.val_losses:
            return
        val_loss = sum(self.val_losses) / len(self.val_losses)
        if gap > OVERFIT_GAP and val_loss > (1 + VAL_RISE) * self.best_val_loss:
            self._add(found, "overfitting", step, "warning",
                      f"training accuracy {100 * self.train_acc_ema:.0f}% but validation accuracy only "
                      f"{100 * val:.0f}% (a gap of {100 * gap:.0f} points), and the validation loss has risen "
                      f"from its best {self.best_val_loss:.3g} to {val_loss:.3g}")

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

    # ------------------------------------------------------------------ events
    def _diverged(self, ev: dict, found: list[dict]) -> None:
        step = int(ev.get("step", 0))
        msg = ev.get("message") or f"the loss became NaN or infinite after step {step}"
        self._add(found, "diverged", step, "error", f"{msg} ({self._lr_text()})")

    # ------------------------------------------------------------------ bookkeeping
    def _lr_changed(self) -> bool:
        return self.change is not None and self.change[1] in ("the learning-rate change", "the optimizer change")

    def _lr_text(self) -> str:
        base = self.cfg.lr
        now = self.lr_now if self.lr_now is not None else base
        if math.isclose(now, base, rel_tol=1e-9):
            return f"learning rate {base:g}"
        return f"learning rate {now:.3g} now, {base:g} before the schedule"

    def _add(self, found: list[dict], code: str, step: int, severity: str, message: str,
             layer: str | None = None) -> None:
        if code in self.reported:
            return
        self.reported.add(code)
        idea, try_ = IDEAS[code]
        if self.change is not None:
            message += f" (since {self.change[1]} at step {self.change[0]})"
        f: dict[str, Any] = {"code": code, "step": int(step), "severity": severity, "message": message,
                             "idea": idea, "try": try_}
        if layer is not None:
            f["layer"] = layer
        found.append(f)


def format_finding(f: dict) -> str:
    """One line for the terminal: 'step 140 warning dead_units: <message>. Try: <try>'."""
    return (f"step {f.get('step', '?')} {f.get('severity', 'info')} {f.get('code', '?')}: "
            f"{f.get('message', '')}. Try: {f.get('try', '')}")
