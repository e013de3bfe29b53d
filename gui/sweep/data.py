"""What the Sweep tab knows about one sweep: each stage's spec and every trial, fed by the driver's
messages (engine/sweep/driver.py) or by a sweep read back from disk. Plain Python, no Qt.

    data = SweepData()
    data.set_spec(1, spec)
    data.ingest({"kind": "trial_started", ...})      # progress, trial_done, sweep_done too
    data.trials[(1, 0)].losses, data.best(), data.results()
    changes = data.take_changes()                    # what the views must redraw since last time

The views redraw only what `take_changes` names: the curves of trials that got new losses, the
table rows whose cells changed, and the scatter when a trial ended.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.sweep.space import Param, SweepSpec

ENDED = ("finished", "diverged", "pruned", "crashed", "stopped")


@dataclass
class Trial:
    stage: int
    trial: int
    run: str                       # the run's id in the run store once it ended, its name before
    params: dict[str, Any]
    status: str = "running"
    steps: int = 0                 # the last step seen
    val_loss: float | None = None
    val_acc: float | None = None
    message: str = ""
    curve_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    result: dict | None = None     # the driver's result (with the validation predictions)

    @property
    def key(self) -> tuple[int, int]:
        return self.stage, self.trial

    @property
    def label(self) -> str:
        return f"{self.stage}-{self.trial}"


@dataclass
class Changes:
    curves: set = field(default_factory=set)     # trial keys whose loss curve grew
    rows: set = field(default_factory=set)       # trial keys whose table row changed
    ended: bool = False                          # a trial ended: scatter, best, warnings
    specs: bool = False                          # a stage was added: axes, columns
    cleared: bool = False                        # another sweep: every item starts again

    def __bool__(self) -> bool:
        return bool(self.curves or self.rows or self.ended or self.specs or self.cleared)


class SweepData:
    def __init__(self) -> None:
        self.sweep_id: str | None = None
        self.specs: dict[int, SweepSpec] = {}
        self.trials: dict[tuple[int, int], Trial] = {}
        self.done = False
        self._changes = Changes()
        self._ranked: dict = {}   # stage (None: all) -> (finished trials, best); emptied when one ends

    def clear(self, sweep_id: str | None = None) -> None:
        self.sweep_id = sweep_id
        self.specs.clear()
        self.trials.clear()
        self.done = False
        self._changes = Changes(specs=True, ended=True, cleared=True)
        self._ranked.clear()

    def set_spec(self, stage: int, spec: SweepSpec) -> None:
        self.specs[stage] = spec
        self._changes.specs = True

    def load(self, sweep) -> None:
        """A sweep read back from disk (engine.sweep.driver.Sweep): its stages and recorded trials."""
        self.clear(sweep.id)
        for stage in sweep.stages:
            self.set_spec(stage, sweep.spec(stage))
        for result in sweep.results():
            self.ingest({"kind": "trial_done", "result": result})
        self.done = True

    # ------------------------------------------------------------------ messages
    def ingest(self, m: dict) -> None:
        kind = m.get("kind")
        if kind == "trial_started":
            t = Trial(m["stage"], m["trial"], m["run"], dict(m["params"]))
            self.trials[t.key] = t
            self._changes.rows.add(t.key)
            self.done = False
        elif kind == "progress":
            t = self.trials.get((m["stage"], m["trial"]))
            # the driver may pass a trial's last batch on after its end, whose curve is already whole
            if t is None or t.result is not None or not m["steps"]:
                return
            t.curve_steps.extend(m["steps"])
            t.losses.extend(m["losses"])
            t.steps = max(t.steps, m["steps"][-1])
            self._changes.curves.add(t.key)
            self._changes.rows.add(t.key)
        elif kind == "trial_done":
            r = m["result"]
            key = (r["stage"], r["trial"])
            t = self.trials.get(key) or Trial(r["stage"], r["trial"], r["run"], dict(r["params"]))
            self.trials[key] = t
            t.run, t.status, t.steps = r["run"], r["status"], r.get("steps", t.steps)
            t.val_loss, t.val_acc, t.message = r.get("val_loss"), r.get("val_acc"), r.get("message", "")
            curve = r.get("curve") or {}
            if curve.get("steps"):   # the whole curve: every point the progress messages sent, and the last
                t.curve_steps, t.losses = list(curve["steps"]), list(curve["losses"])
            t.result = r
            self._changes.curves.add(key)
            self._changes.rows.add(key)
            self._changes.ended = True
            self._ranked.clear()
        elif kind == "sweep_done":
            self.done = True

    def take_changes(self) -> Changes:
        out, self._changes = self._changes, Changes()
        return out

    # ------------------------------------------------------------------ reading
    @property
    def metric(self) -> str:
        return self.specs[min(self.specs)].metric if self.specs else "val_acc"

    @property
    def last_stage(self) -> int:
        return max(self.specs) if self.specs else 1

    def keys(self) -> list[str]:
        """The space's keys, first stage first."""
        return list(dict.fromkeys(k for s in sorted(self.specs) for k in self.specs[s].space))

    def axis_param(self, key: str) -> Param | None:
        """The key as drawn on an axis: its first stage's scale; a list key holds every value any
        stage listed (a refined stage keeps a subset: the positions must not move)."""
        params = [self.specs[s].space[key] for s in sorted(self.specs) if key in self.specs[s].space]
        if not params:
            return None
        first = params[0]
        if first.is_range:
            return first
        values = list(first.choices)
        for p in params[1:]:
            values += [v for v in p.choices if all(repr(v) != repr(u) for u in values)]
        return Param(key, choices=tuple(values), grid=first.grid, integer=first.integer)

    def results(self, stage: int | None = None) -> list[dict]:
        return [t.result for t in self.trials.values()
                if t.result is not None and (stage is None or t.stage == stage)]

    def finished(self) -> list[Trial]:
        """Trials that ended with a value of the metric, in the order they ended."""
        if not self.trials:   # the driver loads Optuna: not while the window is being built
            return []
        return self._ranking(None)[0]

    def best(self, stage: int | None = None) -> Trial | None:
        if not self.trials:
            return None
        return self._ranking(stage)[1]

    def _ranking(self, stage: int | None) -> tuple[list[Trial], Trial | None]:
        """(finished trials, the best of them) of a stage or all, worked out once per ended trial:
        a frame asks several times."""
        cached = self._ranked.get(stage)
        if cached is None:
            from engine.sweep.driver import metric_value, ranked
            done = [t for t in self.trials.values()
                    if t.status == "finished" and t.result is not None and metric_value(t.result, self.metric) is not None]
            top = ranked(self.results(stage), self.metric)
            cached = self._ranked[stage] = (done, self.trials[(top[0]["stage"], top[0]["trial"])] if top else None)
        return cached

    def running(self) -> int:
        return sum(t.status == "running" for t in self.trials.values())

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials.values():
            out[t.status] = out.get(t.status, 0) + 1
        return out
