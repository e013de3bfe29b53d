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
span the same stretch of training whether the session probes every step or every 10th, and
probing every step does not pay for a layer check every step.

Each finding's thresholds, and why those numbers, are in engine/train/diagnostics_rules.py with the
lecture idea and advice it carries; the checks of the layers' probes are in
engine/train/diagnostics_layers.py, the checks of the loss and accuracy here.

The student's own changes. A re-init starts a fresh Diagnostics (the session makes one), whose
first step is the one after the re-init; a change of learning rate, optimizer or batch norm is
seen in the live cfg. From a change on, findings judge the run since the change: step counts
(underfitting's UNDERFIT_MIN_STEPS) and windows (losses, probes, evaluations) start again, the
findings about the learning rate may be reported again, and every message ends with "since the
re-init at step N" (or the change made).
"""
from __future__ import annotations

import math
from collections import deque
from statistics import median
from typing import Any

from .config import STD_INITS, RunConfig
from .diagnostics_layers import LayerChecks
from .diagnostics_rules import (AFTER_CHANGE_PROBES, CHECK_EVERY, EXPLODE_BETA, EXPLODE_FACTOR, IDEAS,
                                INITIAL_LOSS_HIGH, INITIAL_LOSS_LARGE, INITIAL_LOSS_LOW, LR_FINDINGS,
                                LR_LOW_EDGE, LR_LOW_MAX_RATIO, LR_LOW_MIN_LOSS, LR_LOW_REL_CHANGE,
                                LR_LOW_WINDOW, MIN_EVALS, OVERFIT_GAP, PROBE_SPACING, PROBE_WINDOW,
                                SMALL_INIT_GAIN, TRAIN_ACC_BETA, UNDERFIT_ACC_FRACTION, UNDERFIT_MAX_GAP,
                                UNDERFIT_MIN_STEPS, UPDATE_RATIO_TARGET, UR_WINDOW, VAL_RISE, VAL_WINDOW)


class Diagnostics(LayerChecks):
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
