"""A sweep spec: a base run config, the space to search, and how to search it (TOML, no eval).

    name = "lr_reg"
    sampler = "random"          # random | grid | tpe
    trials = 24                 # per stage
    steps = 600                 # per trial
    workers = 0                 # 0: one per core
    [base]                      # RunConfig keys shared by every trial
    dataset = "digits"
    [space]
    lr = {low = 1e-4, high = 1e-1, scale = "log"}         # 10^r, r uniform
    beta1 = {low = 0.9, high = 0.999, scale = "one_minus_log"}  # 1 - 10^r
    l2 = {low = 0.0, high = 0.01}                         # linear by default
    activation = {choices = ["relu", "tanh"]}             # random choice
    width = {values = [32, 64, 128]}                      # a grid axis

Every key is checked here and every problem named in words (ConfigError); the two ends of every
range are built into a RunConfig so a value the trainer would refuse is caught before any trial.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..train.config import RunConfig, _closest
from ..errors import ConfigError

SCALES = ("log", "linear", "one_minus_log")
SAMPLERS = ("random", "grid", "tpe")
METRICS = ("val_acc", "val_loss")
BLOWUP = 3.0  # the lecture's rule: a trial whose loss exceeds 3x its first loss is stopped


@dataclass(frozen=True)
class Param:
    """One key of the space. A range (`low`, `high` on `scale`) or a list (`choices` drawn at
    random, `values` walked as a grid); `integer` for RunConfig keys that hold ints."""
    key: str
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    choices: tuple | None = None
    grid: bool = False            # the list came as `values` (a grid axis)
    integer: bool = False

    @property
    def is_range(self) -> bool:
        return self.choices is None

    # the axis a range is sampled on: uniform in u between u(low) and u(high)
    def to_axis(self, x: float) -> float:
        if self.scale == "log":
            return math.log10(x)
        if self.scale == "one_minus_log":
            return math.log10(1.0 - x)
        return float(x)

    def from_axis(self, u: float, rounded: bool = True) -> float | int:
        x = 10.0 ** u if self.scale == "log" else 1.0 - 10.0 ** u if self.scale == "one_minus_log" else u
        return int(round(x)) if self.integer and rounded else x

    def axis_range(self) -> tuple[float, float]:
        a, b = self.to_axis(self.low), self.to_axis(self.high)
        return (a, b) if a <= b else (b, a)

    def grid_values(self, n: int) -> list:
        """n values evenly spaced on the scale (a range used by the grid sampler)."""
        if not self.is_range:
            return list(self.choices)
        lo, hi = self.to_axis(self.low), self.to_axis(self.high)
        us = [lo] if n == 1 else [lo + (hi - lo) * i / (n - 1) for i in range(n)]
        return list(dict.fromkeys(self.from_axis(u) for u in us))

    def ends(self) -> list:
        """The values at the ends of a range, or every listed value."""
        if not self.is_range:
            return list(self.choices)
        return [int(round(x)) if self.integer else x for x in (self.low, self.high)]

    def to_toml(self) -> str:
        if self.is_range:
            return f"{{low = {_toml(self.low)}, high = {_toml(self.high)}, scale = \"{self.scale}\"}}"
        kind = "values" if self.grid else "choices"
        return f"{{{kind} = [{', '.join(_toml(v) for v in self.choices)}]}}"


@dataclass
class SweepSpec:
    base: dict[str, Any]          # RunConfig keys (a dict: alone it may lack what the space gives)
    space: dict[str, Param]
    name: str = "sweep"
    description: str = ""
    sampler: str = "random"
    trials: int = 20
    steps: int = 500
    workers: int = 0              # 0: one per core
    seed: int = 0
    metric: str = "val_acc"       # what "best" means (val_acc: higher, val_loss: lower)
    early_stop: bool = True       # the 3x rule
    halving: bool = False         # successive halving (Optuna's SuccessiveHalvingPruner)
    halving_min_steps: int = 50
    halving_reduction: int = 3
    grid_points: int = 0          # grid sampler, per range key: 0 = trials ** (1 / keys)

    @property
    def maximize(self) -> bool:
        return self.metric == "val_acc"

    def points_per_axis(self) -> int:
        if self.grid_points:
            return self.grid_points
        ranges = sum(p.is_range for p in self.space.values())
        fixed = math.prod(len(p.choices) for p in self.space.values() if not p.is_range)
        left = max(1, self.trials // max(fixed, 1))
        return max(1, int(math.floor(left ** (1 / ranges) + 1e-9))) if ranges else 1

    def grid_size(self) -> int:
        n = self.points_per_axis()
        return math.prod(len(p.grid_values(n)) for p in self.space.values())

    def trial_config(self, params: dict[str, Any]) -> RunConfig:
        return RunConfig.from_dict({**self.base, **params, "steps": self.steps})

    def copy(self, **changes: Any) -> "SweepSpec":
        return replace(self, **changes)

    def to_toml(self) -> str:
        lines = [f"{f.name} = {_toml(getattr(self, f.name))}" for f in fields(self)
                 if f.name not in ("base", "space")]
        lines.append("\n[base]")
        lines += [f"{k} = {_toml(v)}" for k, v in self.base.items() if v is not None]
        lines.append("\n[space]")
        lines += [f"{k} = {p.to_toml()}" for k, p in self.space.items()]
        return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "nan"
    return str(v)


SPEC_KEYS = {f.name for f in fields(SweepSpec)} - {"base", "space"}
TOP_KEYS = SPEC_KEYS | {"base", "space"}
PARAM_KEYS = {"low", "high", "scale", "choices", "values"}


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"sweep file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read sweep file {path}: {exc}") from None
    try:
        return parse_spec(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sweep file {path.name} is not valid TOML: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None


def parse_spec(data: dict[str, Any]) -> SweepSpec:
    for key in data:
        if key not in TOP_KEYS:
            hint = _closest(key, TOP_KEYS)
            raise ConfigError(f"unknown sweep key '{key}'" + (f" (did you mean '{hint}'?)" if hint else ""))
    base_data = data.get("base", {})
    if not isinstance(base_data, dict):
        raise ConfigError("[base] must be a table of run settings")
    space_data = data.get("space")
    if not isinstance(space_data, dict) or not space_data:
        raise ConfigError("[space] is missing or empty: name at least one key to search")
    for key in base_data:
        if key not in RunConfig.keys():
            hint = _closest(key, set(RunConfig.keys()))
            raise ConfigError(f"[base]: unknown run setting '{key}'" + (f" (did you mean '{hint}'?)" if hint else ""))
    for key in ("steps", "epochs"):
        if key in base_data:
            raise ConfigError(f"[base]: {key} is the sweep's to set (steps = N at the top: the steps of each trial)")
    space = {key: parse_param(key, value) for key, value in space_data.items()}
    spec = SweepSpec(base=dict(base_data), space=space, **{k: v for k, v in data.items() if k in SPEC_KEYS})
    validate(spec)
    return spec


def parse_param(key: str, value: Any) -> Param:
    known = set(RunConfig.keys()) - {"steps", "epochs"}
    if key not in known:
        hint = _closest(key, known)
        raise ConfigError(f"space: '{key}' is not a run setting" + (f" (did you mean '{hint}'?)" if hint else ""))
    if not isinstance(value, dict):
        raise ConfigError(f"space.{key} must be a table like {{low = 1e-4, high = 1e-1, scale = \"log\"}}, "
                          f"{{choices = [...]}} or {{values = [...]}}")
    for k in value:
        if k not in PARAM_KEYS:
            raise ConfigError(f"space.{key}: unknown field '{k}' (use low/high/scale, choices or values)")
    default = getattr(RunConfig(), key)
    integer = isinstance(default, int) and not isinstance(default, bool)
    lists = [k for k in ("choices", "values") if k in value]
    if lists:
        if len(lists) == 2 or "low" in value or "high" in value:
            raise ConfigError(f"space.{key}: give either low/high, choices or values, not several")
        items = value[lists[0]]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"space.{key}.{lists[0]} must be a non-empty list")
        if len(set(map(repr, items))) != len(items):
            raise ConfigError(f"space.{key}.{lists[0]} lists a value twice")
        return Param(key, choices=tuple(items), grid=lists[0] == "values", integer=integer)
    if "low" not in value or "high" not in value:
        raise ConfigError(f"space.{key} needs both low and high (or choices/values)")
    low, high, scale = value["low"], value["high"], value.get("scale", "linear")
    for name, x in (("low", low), ("high", high)):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ConfigError(f"space.{key}.{name} must be a finite number (got {x!r})")
    if scale not in SCALES:
        raise ConfigError(f"space.{key}.scale must be one of {', '.join(SCALES)} (got {scale!r})")
    if low >= high:
        raise ConfigError(f"space.{key}: low must be below high (got low {low:g}, high {high:g})")
    if scale == "log" and low <= 0:
        raise ConfigError(f"space.{key}: a log scale needs low > 0 (got {low:g}); "
                          f"use scale = \"linear\" or a small positive low")
    if scale == "one_minus_log" and not (0 <= low and high < 1):
        raise ConfigError(f"space.{key}: one_minus_log (1 - 10^r) needs 0 <= low < high < 1 "
                          f"(got low {low:g}, high {high:g})")
    return Param(key, low=float(low), high=float(high), scale=scale, integer=integer)


def validate(spec: SweepSpec) -> None:
    if spec.sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {', '.join(SAMPLERS)} (got {spec.sampler!r})")
    if spec.metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)} (got {spec.metric!r})")
    for name, lo in (("trials", 1), ("steps", 1), ("workers", 0), ("seed", 0),
                     ("halving_min_steps", 1), ("halving_reduction", 2), ("grid_points", 0)):
        v = getattr(spec, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"{name} must be an integer >= {lo} (got {v!r})")
    for name in ("early_stop", "halving"):
        if not isinstance(getattr(spec, name), bool):
            raise ConfigError(f"{name} must be true or false (got {getattr(spec, name)!r})")
    for name in ("name", "description"):
        if not isinstance(getattr(spec, name), str):
            raise ConfigError(f"{name} must be text (got {getattr(spec, name)!r})")
    # every end of every key, the other keys at their first value, must make a run the trainer
    # accepts; a problem is named by the key it comes from
    first = {k: p.ends()[0] for k, p in spec.space.items()}
    for p in spec.space.values():
        for x in p.ends():
            merged = {**spec.base, **first, p.key: x, "steps": spec.steps}
            problems = RunConfig(**merged).problems()
            for key, reason in problems.items():
                raise ConfigError(f"space.{key}: {reason}" if key in spec.space else f"[base]: {reason}")


def distinct_values(params: list[dict[str, Any]]) -> dict[str, int]:
    """How many different values each key took over the trials (the lecture's grid-vs-random count)."""
    keys = dict.fromkeys(k for p in params for k in p)
    return {k: len({repr(p[k]) for p in params if k in p}) for k in keys}


def edge_warnings(spec: SweepSpec, best: dict[str, Any], margin: float = 0.05, who: str = "the best trial") -> list[str]:
    """The keys on which the best trial (`who`, in words) sits within `margin` of a range's end
    (widen the range)."""
    out = []
    for key, p in spec.space.items():
        if not p.is_range or key not in best:
            continue
        lo, hi = p.axis_range()
        u = p.to_axis(best[key])
        if u <= lo + margin * (hi - lo) or u >= hi - margin * (hi - lo):
            end = "low" if abs(best[key] - p.low) < abs(best[key] - p.high) else "high"
            out.append(f"{who}'s {key} = {best[key]:.4g} sits at the {end} edge of its range "
                       f"[{p.low:.4g}, {p.high:.4g}]: widen the range and search again")
    return out


def refine(spec: SweepSpec, top: list[dict[str, Any]], widen: float = 0.1) -> SweepSpec:
    """The next stage's space: each range key narrowed to the range of the top trials' values on
    its scale, widened on each side by `widen` of that range or half of `widen` of the old one,
    whichever is more (never past the old range); lists keep the values the top trials used."""
    if not top:
        raise ConfigError("no finished trials to refine around")
    space = {}
    for key, p in spec.space.items():
        used = [t[key] for t in top if key in t]
        if not p.is_range:
            kept = tuple(v for v in p.choices if any(repr(v) == repr(u) for u in used)) or p.choices
            space[key] = replace(p, choices=kept)
            continue
        us = [p.to_axis(v) for v in used]
        lo_u, hi_u = p.axis_range()
        a, b = min(us), max(us)
        pad = max(widen * (b - a), widen / 2 * (hi_u - lo_u))  # never narrower than a tenth of the old range
        a, b = max(lo_u, a - pad), min(hi_u, b + pad)
        low, high = sorted((p.from_axis(a, rounded=False), p.from_axis(b, rounded=False)))
        if p.integer:  # whole numbers, and still a range
            low, high = math.floor(low), max(math.ceil(high), math.floor(low) + 1)
        space[key] = replace(p, low=float(low), high=float(high))
    return spec.copy(space=space)
