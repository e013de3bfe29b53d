"""The window records its runs in the run store (engine/store.py), as `babysit train` does.

A writer is opened when the controller builds a session and subscribed to the session's recorder
sinks: the writer's own thread turns the messages into rows, nothing is done on the GUI thread per
step. It is closed, with the final weights, when the run ends, is reset or replaced, or the window
closes; its status comes from the run's last state (finished, diverged, stopped, error → crashed).
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from engine.errors import BabysitError
from engine.messages import DIVERGED, ENDED_STATES, ERROR, IDLE, RUNNING


class RunRecording(QObject):
    changed = Signal()        # a run was opened or closed in the store (the browser lists it again)
    failed = Signal(str)      # the store could not be used, in words (training goes on, unrecorded)

    def __init__(self, controller, parent: QObject | None = None):
        super().__init__(parent)
        self.writer = None
        self.session = None
        self.diverged = False   # the run diverged and was not resumed: it stays "diverged" when stopped
        self.started = False    # the run was started or stepped (a diverged first step has no step count)
        controller.sessionChanged.connect(self._on_session)
        controller.stateChanged.connect(self._on_state)

    @property
    def run_id(self) -> str | None:
        return self.writer.id if self.writer is not None else None

    def _on_session(self, session) -> None:
        self.close()  # the run this one replaces (or a reset)
        if session is None:
            return
        from engine.store import RunStore
        try:
            with RunStore() as store:   # BABYSIT_RUNS_DIR, else the user's data folder
                self.writer = store.create_run(session.cfg.to_dict(), total_steps=session.total_steps)
        except BabysitError as exc:
            self.failed.emit(f"this run is not recorded: {exc}")
            return
        self.session = session
        session.recorder.sinks.append(self.writer.ingest)  # called on the training thread; only queues
        self.changed.emit()

    def _on_state(self, state: str) -> None:
        if state != IDLE:
            self.started = True
        if state in (DIVERGED, RUNNING):
            self.diverged = state == DIVERGED
        if state in ENDED_STATES:
            self.close()

    def close(self) -> None:
        """End the recorded run: final weights, then the status its last state says."""
        writer, session = self.writer, self.session
        if writer is None:
            return
        self.writer = self.session = None
        diverged, started, self.diverged, self.started = self.diverged, self.started, False, False
        try:
            session.recorder.sinks.remove(writer.ingest)
        except ValueError:
            pass
        if not started and session.step_count == 0:  # built but never trained: not worth a row
            writer.close("stopped")
            from engine.store import RunStore
            try:
                with RunStore(writer.dir) as store:
                    store.delete(writer.id)
            except BabysitError:
                pass
        else:
            if session.state != ERROR:
                try:
                    writer.save_weights(session.model.state_dict())
                except (OSError, RuntimeError) as exc:
                    self.failed.emit(f"the run's final weights were not saved: {exc}")
            writer.close("diverged" if diverged else None)
        if writer.error:
            self.failed.emit(writer.error)
        self.changed.emit()
