"""The step scrubber of a reopened run: a slider over the steps the store holds a reading of, which
moves the Activations tab's histograms and the Decision boundary tab to step N.

    scrubber = StepScrubber(dashboard.activations, lab.boundary)   # a row for the dashboard's tab bar
    boundary_view.layout().addWidget(scrubber.twin)                # the same slider, under the boundary
    scrubber.set_run(run_id, probe_steps, boundary_steps, config)  # starts at the newest; None hides it

A step shows the last probe record and the last recorded boundary at or before it, each read
from the store as the slider moves (a long run has too many of either to hold).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from engine.train.config import TOY_DATASETS
from engine.errors import BabysitError
from engine.runs.store import RunStore

OLD_RUN = ("No decision boundary was recorded with this run: it was recorded before babysit kept them. "
           "Runs on 2-D data record theirs as they train, and the slider above moves through them.")
NOT_2D = ("A decision boundary needs 2-D inputs: this run's data ({dataset}) is not a plane of two features, "
          "so none was recorded. The toy datasets (spiral, circles, moons, xor, blobs) are 2-D.")


def last_at_or_before(steps: np.ndarray, step: int) -> int | None:
    i = int(np.searchsorted(steps, step, side="right")) - 1
    return int(steps[i]) if i >= 0 else None


class StepScrubber(QWidget):
    def __init__(self, activations, boundary=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.activations, self.boundary = activations, boundary
        self.run_id: str | None = None
        self.steps = np.zeros(0, np.int64)           # every step the slider stops at
        self.probe_steps = np.zeros(0, np.int64)
        self.boundary_steps = np.zeros(0, np.int64)
        self._shown: tuple[int | None, int | None] = (None, None)   # (probe step, boundary step) drawn
        self.slider = QSlider(Qt.Orientation.Horizontal, minimumWidth=220)
        self.slider.valueChanged.connect(self._moved)
        self.label = QLabel()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 4, 0)
        row.addWidget(QLabel("histograms and boundary at"))
        row.addWidget(self.slider)
        row.addWidget(self.label)
        # the same slider for the Decision boundary tab, where the dashboard's tab bar is not seen
        self.twin = QWidget()
        self.twin_slider = QSlider(Qt.Orientation.Horizontal)
        self.twin_label = QLabel()
        twin_row = QHBoxLayout(self.twin)
        twin_row.setContentsMargins(4, 0, 4, 4)
        twin_row.addWidget(QLabel("recorded run at"))
        twin_row.addWidget(self.twin_slider, 1)
        twin_row.addWidget(self.twin_label)
        self.slider.valueChanged.connect(self.twin_slider.setValue)   # equal values stop the echo
        self.twin_slider.valueChanged.connect(self.slider.setValue)
        self.hide()
        self.twin.hide()

    def set_run(self, run_id: str | None, probe_steps=(), boundary_steps=(), config: dict | None = None) -> None:
        """Scrub run `run_id`'s probe records and boundaries at these steps (each in order), starting
        at the newest (the dashboard already draws its histograms); None hides the scrubber (a live run)."""
        self.run_id = run_id
        self.probe_steps = np.asarray(probe_steps, np.int64)
        self.boundary_steps = np.asarray(boundary_steps, np.int64)
        self.steps = np.union1d(self.probe_steps, self.boundary_steps)
        self._shown = (int(self.probe_steps[-1]) if len(self.probe_steps) else None, None)
        shown = run_id is not None and len(self.steps) > 0
        self.setVisible(shown)
        self.twin.setVisible(shown)
        for slider in (self.slider, self.twin_slider):
            slider.blockSignals(True)
            slider.setRange(0, max(len(self.steps) - 1, 0))
            slider.setValue(slider.maximum())
            slider.blockSignals(False)
        self._say(f"step {self.step:,}" if self.step is not None else "")
        if run_id is None or self.boundary is None:
            return
        dataset = (config or {}).get("dataset")
        if not len(self.boundary_steps):
            self.boundary.clear(None, OLD_RUN if dataset in TOY_DATASETS else NOT_2D.format(dataset=dataset))
            return
        try:
            with RunStore() as store:
                self._show_boundary(store, int(self.boundary_steps[-1]))
        except BabysitError as exc:
            self.boundary.clear(None, f"This run's decision boundary could not be read: {exc}")

    def show_step(self, step: int) -> None:
        """Move to the last step at or before `step` that the store holds a reading of."""
        self.slider.setValue(max(int(np.searchsorted(self.steps, step, side="right")) - 1, 0))

    @property
    def step(self) -> int | None:
        return int(self.steps[self.slider.value()]) if len(self.steps) else None

    def _moved(self, i: int) -> None:
        if self.run_id is None or not len(self.steps):
            return
        step = int(self.steps[i])
        probe = last_at_or_before(self.probe_steps, step)
        drawn = last_at_or_before(self.boundary_steps, step)
        try:
            with RunStore() as store:
                if probe is not None and probe != self._shown[0]:
                    records = store.records(self.run_id, probe, probe)
                    if not records:  # deleted meanwhile
                        self._say(f"step {step:,}: no longer in the store")
                        return
                    self.activations.show_snapshot(records[0])
                    self._shown = (probe, self._shown[1])
                if drawn is not None and drawn != self._shown[1]:
                    self._show_boundary(store, drawn)
        except BabysitError as exc:
            self._say(f"step {step:,}: not readable ({exc})")
            return
        self._say(f"step {step:,}")

    def _show_boundary(self, store: RunStore, step: int) -> None:
        if self.boundary is None:
            return
        payload = store.boundary(self.run_id, step)
        if payload is not None:
            self.boundary.update_boundary(payload)
            self._shown = (self._shown[0], step)

    def _say(self, text: str) -> None:
        self.label.setText(text)
        self.twin_label.setText(text)
