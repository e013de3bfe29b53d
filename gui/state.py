"""The one run state of the window: the run's settings, observable. The setup panel and the live
knobs both bind to it; neither keeps a copy of its own.

    state = RunState()
    state.changed.connect(lambda key, value: ...)   # one signal per field that changed
    state.set("lr", 1e-2)                            # True when the value now holds
    state.update(RunConfig(...))                     # many fields (a loaded file, a preset)
    state.config(); state.problems(); state.is_valid()
    state.set_gate(send)                             # send(key, value) -> bool: may a change go to the run?

A field holds what was typed: a number when it parses, the raw text when it does not, so
RunConfig.problems() can word the complaint (the panel shows it in place). A valid configuration
the machine cannot hold (engine.train.memory) is a problem too, on the fields that make it large.

While a run trains, the window's gate sends a change of lr, optimizer or bn to it as a command.
A refused command leaves the state as it was, and `changed` is emitted with the value that holds,
so every view showing the refused value (a knob mid-drag) goes back: the one place a refusal is
undone. A value equal to the one held is no change: no command, no signal.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from engine.train.config import RunConfig
from engine.errors import ConfigError
from engine.train.memory import MemoryProblem, fit_problem

Gate = Callable[[str, Any], bool]


class RunState(QObject):
    changed = Signal(str, object)     # key, the value that now holds
    checked = Signal()                # problems() was recomputed (after any change)
    validityChanged = Signal(bool)

    def __init__(self, config: RunConfig | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._cfg = dataclasses.replace(config) if config is not None else RunConfig()
        self._gate: Gate | None = None
        self._problems: dict[str, str] = {}
        self._warnings: dict[str, str] = {}
        self._too_big: MemoryProblem | None = None
        self._valid = True
        self._check()

    # ------------------------------------------------------------------ reading
    def get(self, key: str) -> Any:
        return getattr(self._cfg, key)

    def config(self) -> RunConfig:
        """A copy of the settings as held (invalid raw values included; see problems())."""
        return dataclasses.replace(self._cfg)

    def problems(self) -> dict[str, str]:
        return dict(self._problems)

    def warnings(self) -> dict[str, str]:
        """Valid values far outside the usual range (RunConfig.warnings); they do not block Start."""
        return dict(self._warnings)

    def is_valid(self) -> bool:
        return not self._problems

    def memory_problem(self) -> MemoryProblem | None:
        """Why a valid configuration cannot fit in memory (its fields are in problems() too)."""
        return self._too_big

    def valid_config(self) -> RunConfig:
        """A validated copy that fits in memory, or ConfigError naming the first problem."""
        if self._problems:
            raise ConfigError(next(iter(self._problems.values())))
        return self.config().validate()

    # ------------------------------------------------------------------ writing
    def set_gate(self, gate: Gate | None) -> None:
        """`gate(key, value)` is asked before a field changes; False keeps the old value."""
        self._gate = gate

    def set(self, key: str, value: Any) -> bool:
        """Change one field. True when `value` now holds (also when it already did)."""
        if _same(getattr(self._cfg, key), value):
            return True
        ok = self._apply(key, value)
        self._check()
        return ok

    def update(self, changes: RunConfig | dict[str, Any]) -> bool:
        """Change many fields (every field of a RunConfig); True when all of them now hold."""
        items = dataclasses.asdict(changes) if isinstance(changes, RunConfig) else dict(changes)
        ok = True
        for key, value in items.items():
            if not _same(getattr(self._cfg, key), value):
                ok = self._apply(key, value) and ok
        self._check()
        return ok

    def _apply(self, key: str, value: Any) -> bool:
        if self._gate is not None and not self._gate(key, value):
            self.changed.emit(key, getattr(self._cfg, key))   # refused: views showing `value` go back
            return False
        setattr(self._cfg, key, value)
        self.changed.emit(key, value)
        return True

    def _check(self) -> None:
        cfg = self._cfg
        try:
            problems = cfg.problems()
            self._warnings = cfg.warnings()
        except Exception as exc:   # a value so odd the validator trips: still words, never a crash
            problems, self._warnings = {"dataset": f"cannot check this configuration: {exc}"}, {}
        self._too_big = None
        if not problems:           # valid: will it fit? (a GPU is asked only once torch is loaded)
            self._too_big = fit_problem(cfg, import_torch=False)
            if self._too_big is not None:
                problems = {key: self._too_big.message for key in self._too_big.fields}
        self._problems = problems
        self.checked.emit()
        if self._valid != (not problems):
            self._valid = not problems
            self.validityChanged.emit(self._valid)


def _same(a: Any, b: Any) -> bool:
    """Equal as settings: 3e-3 == 0.003, NaN == NaN, but True is not 1 and 1 is not '1'."""
    if type(a) is not type(b) and not (_number(a) and _number(b)):
        return False
    if _number(a) and _number(b) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
