"""Coarse to fine in the window: what Run will do with the editor's spec, and the next stage's
space from a box dragged on the scatter.

    Plan("new")                  Run creates a sweep from the editor's spec
    Plan("next", sweep, 2)       Run adds the editor's spec as stage 2 of `sweep` and runs it
    Plan("resume", sweep, 1)     Run runs the trials of stage 1 not recorded yet (a stopped sweep)
    Plan("opened", sweep, 1)     an opened sweep whose stage is complete: Run makes a new sweep

    box_space(spec, xparam, yparam, rect, inside)   -> the next stage's SweepSpec
    save_next_stage(sweep, spec)                    -> the stage number it was saved as
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from engine.errors import ConfigError
from engine.sweep.space import Param, SweepSpec, refine, validate

from .scales import value


@dataclass
class Plan:
    kind: str = "new"
    sweep: Any = None       # engine.sweep.driver.Sweep
    stage: int = 1

    def run_label(self) -> str:
        return {"next": f"Run stage {self.stage}", "resume": f"Resume stage {self.stage}"}.get(self.kind, "Run")

    def describe(self) -> str:
        if self.kind == "next":
            return (f"Stage {self.stage} of {self.sweep.id}, not run yet: edit it if you like; "
                    f"Run runs it in the same sweep.")
        if self.kind == "resume":
            return f"{self.sweep.id}, stage {self.stage} stopped before its last trial: Run runs the rest."
        if self.kind == "opened":
            return f"{self.sweep.id} (stage {self.stage}): Run starts a new sweep from this spec."
        return "A new sweep: pick a preset or edit the spec, then Run."


def save_next_stage(sweep, spec: SweepSpec) -> int:
    """Add `spec` as `sweep`'s next stage, as shown (and maybe edited) in the editor.

    Sweep.refine is the one place a stage is added: it checks that the last stage has finished
    trials to refine around, validates, and writes the stage's file. Its own space is replaced by
    the one the user saw."""
    every = {f.name: getattr(spec, f.name) for f in fields(spec)}
    stage, _, _ = sweep.refine(top=1.0, save=True, changes=every)
    return stage


def box_space(spec: SweepSpec, xparam: Param, yparam: Param | None, rect, inside: list[dict]) -> SweepSpec:
    """The next stage from a box on the scatter (plot coordinates, see scales.coord): the two
    keys drawn take the box's ranges (a list key keeps the values inside the box); every other
    key is narrowed around the trials inside the box, as refine does for the top trials."""
    space = dict(spec.space)
    if inside:
        space.update(refine(spec, inside).space)
    sides = [(xparam, rect.left(), rect.right())]
    if yparam is not None:   # without one the y axis is the accuracy, not a key
        sides.append((yparam, rect.top(), rect.bottom()))
    for p, a, b in sides:
        space[p.key] = _boxed(spec.space.get(p.key, p), p, a, b)
    new = spec.copy(space=space)
    validate(new)
    return new


def _boxed(stage_param: Param, axis_param: Param, a: float, b: float) -> Param:
    if not axis_param.is_range:
        kept = tuple(v for i, v in enumerate(axis_param.choices) if a <= i <= b)
        if not kept:
            raise ConfigError(f"the box holds none of {axis_param.key}'s values")
        return replace(stage_param, choices=kept)
    low, high = sorted((value(axis_param, a), value(axis_param, b)))
    if axis_param.integer:
        low, high = math.floor(low), max(math.ceil(high), math.floor(low) + 1)
    else:   # three significant digits read better in the spec, when they keep the range a range
        rounded = float(f"{low:.3g}"), float(f"{high:.3g}")
        if rounded[0] < rounded[1]:
            low, high = rounded
    return replace(stage_param, low=float(low), high=float(high))
