"""The rules the diagnostics apply (engine/train/diagnostics.py): each finding's code, the thresholds
that trigger it and why those numbers, and the lecture idea and advice it carries.

    from engine.train.diagnostics_rules import DEAD_UNITS_FRAC, IDEAS
    idea, try_ = IDEAS["dead_units"]     # the lecture idea behind a finding, and what to try

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

After a change of learning rate or optimizer (engine/train/diagnostics.py judges the run since the change):
  update_ratio_high
                 also when a layer's median update ratio over the AFTER_CHANGE_PROBES probes since
                 the change is above UPDATE_RATIO_AFTER_CHANGE (10x the rule of thumb, sustained
                 for ~100 steps; a healthy run only passes 1e-2 for a few probes at its start).
"""
from __future__ import annotations

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
