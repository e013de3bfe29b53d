"""The run configuration: the single source of truth for a training run.

The CLI builds one from defaults <- TOML file <- flags; the window's setup panel binds to one.
`validate()` names every problem in words (ConfigError); nothing invalid reaches the trainer.
Serialises to a flat TOML table and to JSON-able dicts. No `eval`: TOML is parsed with tomllib.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

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
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
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


@dataclass
class RunConfig:
    # data
    dataset: str = "spiral"
    n_samples: int = 900          # toy generators: total points before the split
    classes: int = 3              # spiral arms / blob centres (ignored by fixed-class sets)
    noise: float = 0.2
    data_path: str | None = None  # idx: a folder; file: a .csv or .npz
    val_fraction: float = 0.2
    subset: int | None = None     # train on the first N training examples only
    preprocess: str = "standardize"
    # model
    depth: int = 2
    width: int = 64
    activation: str = "relu"
    bn: bool = False
    dropout: float = 0.0
    # init
    init: str = "he_normal"
    init_std: float = 0.01        # for 'normal' and 'uniform' (uniform keeps this std)
    # optimisation
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    rho: float = 0.99             # RMSProp decay rate
    weight_decay: float = 0.0     # the optimizer's own decay (decoupled for adamw)
    l2: float = 0.0               # explicit penalty 0.5*l2*sum(W^2) added to the objective
    schedule: str = "constant"
    step_size: int = 1000         # 'step': multiply by gamma every step_size steps
    gamma: float = 0.5            # 'step' factor; 'exponential' reaches gamma after step_size steps
    warmup_steps: int = 200       # 'warmup': linear ramp to lr (lr/n at step 1, lr from step n)
    min_lr: float = 0.0           # 'cosine': floor (at most lr: a floor above the rate keeps it at lr)
    batch_size: int = 64
    steps: int = 3000
    epochs: float | None = None   # if set, overrides steps: ceil(epochs * n_train / batch_size)
    seed: int = 0
    device: str = "auto"
    # probes
    probe_every: int = 10
    eval_every: int = 50
    hist_bins: int = 40

    # ----------------------------------------------------------------- construction
    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

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

        def choice(name: str, options: tuple[str, ...]) -> None:
            value = getattr(self, name)
            if not isinstance(value, str) or value not in options:
                p[name] = f"{name} must be one of {', '.join(options)} (got {value!r})"

        def number(name: str, *, integer: bool = False, lo: float | None = None, hi: float | None = None,
                   lo_open: bool = False, optional: bool = False) -> None:
            value = getattr(self, name)
            if value is None and optional:
                return
            kind = "an integer" if integer else "a number"
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
                p[name] = f"{name} must be {kind} (got {value!r})"
                return
            if not math.isfinite(value):
                p[name] = f"{name} must be finite (got {value})"
                return
            # the value as given ({!r} of an int: 100000001, not 1e+08 next to a limit of 1e+08)
            got = repr(value) if isinstance(value, int) else f"{value:g}"
            if lo is not None and (value <= lo if lo_open else value < lo):
                p[name] = f"{name} must be {'>' if lo_open else '>='} {lo:g} (got {got})"
            elif hi is not None and value > hi:
                p[name] = f"{name} must be <= {hi:g} (got {got})"

        choice("dataset", DATASETS)
        number("n_samples", integer=True, lo=10, hi=1_000_000)
        number("classes", integer=True, lo=2, hi=100)
        number("noise", lo=0, hi=10)
        number("val_fraction", lo=0, hi=0.9)
        number("subset", integer=True, lo=1, optional=True)
        choice("preprocess", PREPROCESS)
        number("depth", integer=True, lo=1, hi=100)
        number("width", integer=True, lo=1, hi=8192)
        choice("activation", ACTIVATIONS)
        if not isinstance(self.bn, bool):
            p["bn"] = f"bn must be true or false (got {self.bn!r})"
        number("dropout", lo=0, hi=0.95)
        choice("init", INITS)
        number("init_std", lo=0, lo_open=True, hi=100)
        choice("optimizer", OPTIMIZERS)
        number("lr", lo=0, lo_open=True, hi=100)
        number("momentum", lo=0, hi=0.999999)
        number("beta1", lo=0, hi=0.999999)
        number("beta2", lo=0, hi=0.999999)
        number("eps", lo=0, lo_open=True, hi=1)
        number("rho", lo=0, hi=0.999999)
        number("weight_decay", lo=0, hi=10)
        number("l2", lo=0, hi=10)
        choice("schedule", SCHEDULES)
        number("step_size", integer=True, lo=1)
        number("gamma", lo=0, lo_open=True, hi=1)
        number("warmup_steps", integer=True, lo=1)
        number("min_lr", lo=0)
        number("batch_size", integer=True, lo=1, hi=1_000_000)
        number("steps", integer=True, lo=1, hi=MAX_STEPS)
        number("epochs", lo=0, lo_open=True, hi=1_000_000, optional=True)
        number("seed", integer=True, lo=0, hi=2**32 - 1)
        choice("device", DEVICES)
        number("probe_every", integer=True, lo=1)
        number("eval_every", integer=True, lo=1)
        number("hist_bins", integer=True, lo=2, hi=1000)
        if self.optimizer == "nesterov" and isinstance(self.momentum, (int, float)) and self.momentum <= 0:
            p["momentum"] = "nesterov needs momentum > 0 (with 0 it is plain sgd)"
        if self.bn is True and isinstance(self.batch_size, int) and self.batch_size < 2:
            p["batch_size"] = "batch norm needs batch_size >= 2 (it normalises over the batch)"
        if self.bn is True and isinstance(self.subset, int) and self.subset < 2:
            p["subset"] = "batch norm needs at least 2 training examples"
        if self.data_path is not None and not isinstance(self.data_path, str):
            p["data_path"] = f"data_path must be a path in quotes, got {self.data_path!r}"
        elif self.dataset in ("idx", "file") and not self.data_path:
            p["data_path"] = f"dataset '{self.dataset}' needs a data path (--data-path)"
        return p

    def validate(self) -> "RunConfig":
        problems = self.problems()
        if problems:
            raise ConfigError(next(iter(problems.values())))
        return self


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
