"""The window's runs are recorded in the run store (engine/runs/store.py) as they train, as `babysit train`'s are.

The worker process that trains a run records it (engine/runs/recording.py's RecordedRun): its config,
every message, its final weights and how it ended; a worker that died is marked crashed. Here
the window only hears of it: the browser lists the store again when a run opens or ends, and a
run that could not be recorded is said in words (training goes on, unrecorded).
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine.messages import ENDED_STATES


class RunRecording(QObject):
    changed = Signal()        # a run was opened or closed in the store (the browser lists it again)
    failed = Signal(str)      # the store could not be used, in words (training goes on, unrecorded)

    def __init__(self, controller, parent: QObject | None = None):
        super().__init__(parent)
        self.session = None
        controller.sessionChanged.connect(self._on_session)
        controller.stateChanged.connect(self._on_state)

    @property
    def run_id(self) -> str | None:
        return self.session.run_id if self.session is not None else None

    def _on_session(self, session) -> None:
        self.close()  # the run this one replaces (or a reset): the controller has stopped it
        self.session = session
        if session is None:
            return
        self._say_problems()
        self.changed.emit()

    def _on_state(self, state: str) -> None:
        if state in ENDED_STATES:
            self._say_problems()
            self.changed.emit()

    def close(self) -> None:
        if self.session is not None:
            self._say_problems()
            self.session = None
            self.changed.emit()

    def _say_problems(self) -> None:
        while self.session is not None and self.session.problems:
            self.failed.emit(self.session.problems.pop(0))
