"""The run configuration: the single source of truth for a training run.

Each field is declared once, with its type, range, unit, help and group (a `Setting` in the
field's metadata); the CLI's flags (engine.cli) and the setup panel's rows (gui.setup_panel) are
made from those declarations. The CLI builds a config from defaults <- TOML file <- flags; the
window's run state holds one. `validate()` names every problem in words (ConfigError); nothing
invalid reaches the trainer. `warnings()` names valid values far outside the usual range.
Serialises to a flat TOML table and to JSON-able dicts. No `eval`: TOML is parsed with tomllib.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError

MAX_STEPS = 100_000_000  # the longest run (steps, or epochs times the batches of an epoch)
DATASETS = ("spiral", "circles", "moons", "xor", "blobs", "digits", "idx", "file")
TOY_DATASETS = ("spiral", "circles", "moons", "xor", "blobs")
PREPROCESS = ("none", "center", "standardize")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "prelu", "gelu")
INITS = ("zeros", "normal", "uniform", "xavier_normal", "xavier_uniform",
         "he_normal", "he_uniform", "orthogonal")
STD_INITS = ("normal", "uniform")  # the schemes whose scale is init_std (the others derive it)
INIT_ALIASES = {"xavier": "xavier_normal", "he": "he_normal", "kaiming": "he_normal",
                "glorot": "xavier_normal", "zero": "zeros", "gaussian": "normal"}
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs")  # lbfgs: full batch only
SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup")
DEVICES = ("cpu", "cuda", "auto")


def format_lr(x: float) -> str:
    """A learning rate as people write it: 3e-3, 1.5e-7, 0.03, 0.475, 2e2."""
    if 0.01 <= x < 100:
        return f"{x:.3g}"
    mantissa, exp = f"{x:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"


def canonical_init(name: str) -> str:
    """'he' -> 'he_normal' etc.; unknown names are returned unchanged for validate() to reject."""
    name = str(name).strip().lower().replace("-", "_")
    return INIT_ALIASES.get(name, name)


@dataclass(frozen=True)
class Setting:
    """How one RunConfig field is typed, bounded, explained and grouped. The CLI's flags, the setup
    panel's rows and RunConfig.problems() are all made from these declarations."""
    kind: str                          # choice | int | float | bool | path
    label: str                         # the setup panel's row label
    help: str = ""                     # one line: the flag's help and the row's tooltip
    group: str = ""                    # the panel's group box and the CLI's argument group
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False              # lo itself is refused (> lo, not >= lo)
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()      # other spellings a choice accepts (resolved on the way in)
    optional: bool = False             # None means "not set"
    placeholder: str = ""              # what the panel shows for None
    unit: str = ""
    usual_hi: float | None = None      # above it the value is accepted with a warning

    def range_text(self) -> str:
        """'> 0', '1 … 8,192', '0 … 0.9' (for help texts)."""
        def show(x: float) -> str:
            return f"{x:,}" if isinstance(x, int) else f"{x:g}"
        if self.lo is not None and self.hi is not None and not self.lo_open:
            return f"{show(self.lo)} … {show(self.hi)}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {show(self.lo)}"
        return f"<= {show(self.hi)}" if self.hi is not None else ""


GROUPS = ("Data", "Model", "Initialisation", "Optimizer", "Schedule", "Training", "Advanced")
SETTING = "setting"   # the dataclasses.field metadata key


def _group(title: str):
    def setting(default: Any, kind: str, label: str, help: str = "", **kw: Any) -> Any:
        return dataclasses.field(default=default, metadata={SETTING: Setting(kind, label, help, title, **kw)})
    return setting


_data, _model, _init, _optim, _schedule, _training, _advanced = map(_group, GROUPS)


@dataclass
class RunConfig:
    dataset: str = _data("spiral", "choice", "Dataset",
                         "toy 2-D sets, sklearn's digits, an IDX folder or a .csv/.npz file", choices=DATASETS)
    data_path: str | None = _data(None, "path", "Data path", "idx: a folder of IDX files; file: a .csv or .npz file",
                                  optional=True)
    n_samples: int = _data(900, "int", "Samples", "toy datasets: points generated before the train/validation split",
                           lo=10, hi=1_000_000, unit="points")
    classes: int = _data(3, "int", "Classes", "spiral arms / blob centres (fixed by the other datasets)", lo=2, hi=100)
    noise: float = _data(0.2, "float", "Noise", "toy datasets: 0.2 is the classic spiral picture", lo=0, hi=10)
    val_fraction: float = _data(0.2, "float", "Validation fraction", "share of examples held out for validation",
                                lo=0, hi=0.9)
    preprocess: str = _data("standardize", "choice", "Preprocessing", "statistics from the training split only",
                            choices=PREPROCESS)
    subset: int | None = _data(None, "int", "Subset", "train on the first N training examples only", lo=1,
                               optional=True, placeholder="all", unit="examples")
    depth: int = _model(2, "int", "Hidden layers", "number of hidden layers", lo=1, hi=100, unit="layers")
    width: int = _model(64, "int", "Width", "units per hidden layer", lo=1, hi=8192, unit="units")
    activation: str = _model("relu", "choice", "Activation", "the hidden layers' nonlinearity", choices=ACTIVATIONS)
    bn: bool = _model(False, "bool", "Batch norm", "batch normalisation after each hidden linear layer")
    dropout: float = _model(0.0, "float", "Dropout", "probability of dropping a hidden unit (0 = off)", lo=0, hi=0.95)
    init: str = _init("he_normal", "choice", "Scheme", "how the weights are drawn", choices=INITS,
                      aliases=tuple(INIT_ALIASES))
    init_std: float = _init(0.01, "float", "Std", "std for the normal and uniform schemes", lo=0, lo_open=True,
                            usual_hi=10)
    optimizer: str = _optim("adam", "choice", "Optimizer", "the update rule", choices=OPTIMIZERS)
    lr: float = _optim(3e-3, "float", "Learning rate", "learning rate, e.g. 3e-3", lo=0, lo_open=True, usual_hi=10)
    momentum: float = _optim(0.9, "float", "Momentum", "momentum and nesterov's velocity decay", lo=0, hi=0.999999)
    beta1: float = _optim(0.9, "float", "β1", "Adam's first-moment decay", lo=0, hi=0.999999)
    beta2: float = _optim(0.999, "float", "β2", "Adam's second-moment decay", lo=0, hi=0.999999)
    eps: float = _optim(1e-8, "float", "ε", "added to the denominator of adaptive rates", lo=0, lo_open=True, hi=1)
    rho: float = _optim(0.99, "float", "ρ (decay)", "RMSProp's running-average decay", lo=0, hi=0.999999)
    weight_decay: float = _optim(0.0, "float", "Weight decay",
                                 "the optimizer's own decay of every parameter, biases and BN included (decoupled "
                                 "for adamw); not in the reported loss", lo=0, hi=10)
    l2: float = _optim(0.0, "float", "L2 penalty", "adds 0.5·l2·ΣW² to the objective (Linear weights only)",
                       lo=0, hi=10)
    schedule: str = _schedule("constant", "choice", "Schedule", "a multiplier on the learning rate",
                              choices=SCHEDULES)
    step_size: int = _schedule(1000, "int", "Step size", "'step': multiply by gamma every step_size steps", lo=1,
                               unit="steps")
    gamma: float = _schedule(0.5, "float", "γ (factor)",
                             "'step': factor per step_size; 'exponential': reached after step_size", lo=0,
                             lo_open=True, hi=1)
    warmup_steps: int = _schedule(200, "int", "Warm-up steps",
                                  "linear ramp to the learning rate: lr/n at step 1, lr from step n", lo=1,
                                  unit="steps")
    min_lr: float = _schedule(0.0, "float", "Minimum lr", "the cosine schedule's floor (at most the learning rate)",
                              lo=0)
    batch_size: int = _training(64, "int", "Batch size", "examples per optimizer step", lo=1, hi=1_000_000,
                                unit="examples")
    steps: int = _training(3000, "int", "Steps", "the target number of optimizer steps", lo=1, hi=MAX_STEPS,
                           unit="steps")
    epochs: float | None = _training(None, "float", "Epochs", "if set, overrides steps", lo=0, lo_open=True,
                                     hi=1_000_000, optional=True, placeholder="— (use steps)")
    seed: int = _training(0, "int", "Seed", "same seed, same numbers", lo=0, hi=2**32 - 1)
    augment: bool = _training(False, "bool", "Pixel shifts",
                              "image data: shift each training image by a random pixel (best with preprocessing none)")
    average_decay: float | None = _training(None, "float", "Average weights",
                                            "also validate an exponential average of the weights with this decay "
                                            "per step, e.g. 0.99 (Polyak averaging)", lo=0, lo_open=True,
                                            hi=0.999999, optional=True, placeholder="off")
    probe_every: int = _advanced(10, "int", "Probe every", "steps between activation/gradient snapshots", lo=1,
                                 unit="steps")
    eval_every: int = _advanced(50, "int", "Evaluate every", "steps between validation passes", lo=1, unit="steps")
    hist_bins: int = _advanced(40, "int", "Histogram bins", "bins of the activation histograms", lo=2, hi=1000)
    device: str = _advanced("auto", "choice", "Device", "auto: CUDA when available", choices=DEVICES)

    # ----------------------------------------------------------------- construction
    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def settings(cls) -> dict[str, Setting]:
        """Every field's declaration, in the order the panel and `--help` show them."""
        return {f.name: f.metadata[SETTING] for f in fields(cls)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "RunConfig | None" = None) -> "RunConfig":
        """Overlay `data` on `base` (or the defaults). Unknown keys are an error, not ignored."""
        known = set(cls.keys())
        for key in data:
            if key not in known:
                hint = _closest(key, known)
                raise ConfigError(f"unknown config key '{key}'" + (f" (did you mean '{hint}'?)" if hint else ""))
        cfg = dataclasses.replace(base) if base is not None else cls()
        for key, value in data.items():
            if key == "init" and isinstance(value, str):
                value = canonical_init(value)
            setattr(cfg, key, value)
        cfg.validate()
        return cfg

    @classmethod
    def from_toml(cls, path: str | Path, base: "RunConfig | None" = None) -> "RunConfig":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not a UTF-8 text file (TOML is UTF-8)") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        # presets may describe themselves; those keys are not run settings
        data = {k: v for k, v in data.items() if k not in ("name", "description", "title")}
        if "run" in data and isinstance(data["run"], dict):
            nested = data.pop("run")
            data.update(nested)
        for key, value in data.items():
            if isinstance(value, dict):
                raise ConfigError(f"config file {path}: section [{key}] is not a known setting")
        try:
            return cls.from_dict(data, base)
        except ConfigError as exc:
            raise ConfigError(f"{path.name}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        lines = ["# babysit run configuration"]
        for key, value in self.to_dict().items():
            if value is None:
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def __post_init__(self) -> None:
        # init aliases ("xavier", "he", ...) are resolved once, on the way in (construction and
        # copy); from_dict resolves the keys it sets
        if isinstance(self.init, str):
            self.init = canonical_init(self.init)

    def copy(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    # ----------------------------------------------------------------- validation
    def problems(self) -> dict[str, str]:
        """Every invalid field mapped to the reason, in words (empty when valid)."""
        p: dict[str, str] = {}
        for name, setting in self.settings().items():
            reason = _problem(name, getattr(self, name), setting)
            if reason:
                p[name] = reason
        if self.optimizer == "nesterov" and isinstance(self.momentum, (int, float)) and self.momentum <= 0:
            p["momentum"] = "nesterov needs momentum > 0 (with 0 it is plain sgd)"
        if self.bn is True and isinstance(self.batch_size, int) and self.batch_size < 2:
            p["batch_size"] = "batch norm needs batch_size >= 2 (it normalises over the batch)"
        if self.bn is True and isinstance(self.subset, int) and self.subset < 2:
            p["subset"] = "batch norm needs at least 2 training examples"
        if self.dataset in ("idx", "file") and not self.data_path and "data_path" not in p:
            p["data_path"] = f"dataset '{self.dataset}' needs a data path (--data-path)"
        return p

    def warnings(self) -> dict[str, str]:
        """Valid values far outside the usual range (lecture 6's lr 1e6): run, but say so."""
        w: dict[str, str] = {}
        for name, setting in self.settings().items():
            value = getattr(self, name)
            if setting.usual_hi is not None and _is_number(value) and math.isfinite(value) and value > setting.usual_hi:
                shown = format_lr(value) if name == "lr" else f"{value:g}"
                w[name] = (f"{name} {shown} is far above the usual range (at most {setting.usual_hi:g}): "
                           "expect the loss to blow up")
        return w

    def warning_findings(self) -> list[dict[str, Any]]:
        """warnings() as diagnostics findings (engine.train.diagnostics' shape), found before step 1."""
        return [{"code": f"unusual_{name}", "step": 0, "severity": "warning", "message": text,
                 "idea": "lecture 6: with a learning rate far too high the cost explodes to NaN",
                 "try": f"watch the loss; a usual {name} is at most {self.settings()[name].usual_hi:g}"}
                for name, text in self.warnings().items()]

    def validate(self) -> "RunConfig":
        problems = self.problems()
        if problems:
            raise ConfigError(next(iter(problems.values())))
        return self


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _problem(name: str, value: Any, s: Setting) -> str | None:
    """Why `value` cannot be the field `name` declared by `s`, or None."""
    if value is None and s.optional:
        return None
    if s.kind == "choice":
        if not isinstance(value, str) or value not in s.choices:
            return f"{name} must be one of {', '.join(s.choices)} (got {value!r})"
        return None
    if s.kind == "bool":
        return None if isinstance(value, bool) else f"{name} must be true or false (got {value!r})"
    if s.kind == "path":
        return None if isinstance(value, str) else f"{name} must be a path in quotes, got {value!r}"
    integer = s.kind == "int"
    if not _is_number(value) or (integer and not isinstance(value, int)):
        return f"{name} must be {'an integer' if integer else 'a number'} (got {value!r})"
    if not math.isfinite(value):
        return f"{name} must be finite (got {value})"
    # the value as given ({!r} of an int: 100000001, not 1e+08 next to a limit of 1e+08)
    got = repr(value) if isinstance(value, int) else f"{value:g}"
    if s.lo is not None and (value <= s.lo if s.lo_open else value < s.lo):
        return f"{name} must be {'>' if s.lo_open else '>='} {s.lo:g} (got {got})"
    if s.hi is not None and value > s.hi:
        return f"{name} must be <= {s.hi:g} (got {got})"
    return None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _closest(word: str, options: set[str]) -> str | None:
    import difflib
    match = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return match[0] if match else None
