"""Puts the run store into the main window: recording, the Runs dock, reopening with a step
scrubber, the Compare tab, and continuing a run from its final weights.

    Runs dock      every recorded run (gui/runs/browser.py); listed again when a run starts or ends
    Open           the dashboard shows the run as recorded (the window is not training); the
                   scrubber beside the dashboard's tabs (and under the decision boundary) moves the
                   activation histograms and the boundary to step N (gui/runs/scrubber.py)
    Compare        overlays 2+ runs in the Compare tab (gui/runs/compare.py)
    Continue       the run's config (lr ÷ 10) into the setup, and a new run from its final weights
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox

from engine.train.config import RunConfig
from engine.errors import BabysitError
from engine.runs.history import MAX_SNAPSHOTS, History
from engine.runs.store import RunStore

from .browser import RunsBrowser
from .compare import CompareView
from .recording import RunRecording
from .scrubber import StepScrubber

CONTINUE_LR_FACTOR = 0.1   # fine-tune at a lower rate than the run ended with (CS231n lecture 7)
MESSAGE_PX = 400           # the room the status bar's own fields leave a message in a 1280 px window


def read_run(store: RunStore, run_id: str) -> History:
    """A recorded run as Open shows it: every step and probe row, and the snapshots with
    histograms that the live window kept (the scrubber reads any other from the store)."""
    return store.history(run_id, full=True, max_snapshots=MAX_SNAPSHOTS)


class RunsWiring(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        c = win.controller
        self.recording = RunRecording(c, self)
        self.browser = RunsBrowser()
        self.dock = win.add_dock(self.browser, "Runs", Qt.DockWidgetArea.BottomDockWidgetArea, refresh=False)
        self.dock.setObjectName("runsDock")
        # a tab beside the diagnostics: side by side, the two strips made the window wider than 1280 px
        win.tabifyDockWidget(win.lab.diagnostics_dock, self.dock)
        win.lab.diagnostics_dock.raise_()
        self.compare = CompareView()
        self.compare_tab = win.add_tab(self.compare, "Compare", refresh=False)
        self.scrubber = StepScrubber(win.dashboard.activations, win.lab.boundary)
        win.dashboard.tabs.setCornerWidget(self.scrubber, Qt.Corner.TopRightCorner)
        win.lab.boundary.layout().addWidget(self.scrubber.twin)
        self.opened: str | None = None   # the recorded run the dashboard shows

        self.recording.changed.connect(self.browser.refresh_list)
        self.recording.failed.connect(lambda m: win.statusBar().showMessage(m, 10000))
        c.sessionChanged.connect(self._new_session)
        self.browser.openRequested.connect(self.open_run)
        self.browser.compareRequested.connect(self.compare_runs)
        self.browser.continueRequested.connect(self.continue_run)
        win.closed.connect(self.recording.close)   # after the controller joined the training thread

    def _new_session(self, session) -> None:
        if session is not None:   # a new run: the dashboard is live again
            self.opened = None
            self.scrubber.set_run(None)
            self.win.refresh_title()

    def _busy(self) -> bool:
        if self.win.controller.live:
            QMessageBox.information(self.win, "A run is going", "Stop the current run first (Stop, or Reset).")
            return True
        return False

    def open_run(self, run_id: str) -> bool:
        """The dashboard shows the recorded run, every step and probe row the store holds; the
        scrubber moves over every probe step."""
        if self._busy():
            return False
        try:
            with RunStore() as store:
                run = store.resolve(run_id)
                history = read_run(store, run.id)
                boundary_steps = store.boundary_steps(run.id)
        except BabysitError as exc:
            QMessageBox.warning(self.win, "Open run", str(exc))
            return False
        self.win.controller.show_history(history)
        self.opened = run.id
        self.scrubber.set_run(run.id, history.layer_column("step"), boundary_steps, run.config)
        self.win.tabs.setCurrentWidget(self.win.dashboard)
        c = run.config
        self.win.refresh_title(f"{run.name} ({c.get('dataset')} · {c.get('depth')}×{c.get('width')} "
                               f"{c.get('activation')} · {c.get('optimizer')} lr {c.get('lr'):g})")
        # the name elided to fit: a status message wider than the window widens the window
        bar = self.win.statusBar()
        words = f"recorded run {{}} ({run.status}, {run.steps:,} steps)"
        room = MESSAGE_PX - bar.fontMetrics().horizontalAdvance(words.format(""))
        bar.showMessage(words.format(bar.fontMetrics().elidedText(run.name, Qt.TextElideMode.ElideMiddle, room)), 0)
        return True

    def compare_runs(self, run_ids: list[str]) -> None:
        try:
            self.compare.show_runs(run_ids)
        except BabysitError as exc:
            QMessageBox.warning(self.win, "Compare runs", str(exc))
            return
        self.win.tabs.setCurrentIndex(self.compare_tab)

    def continue_run(self, run_id: str) -> bool:
        """A new run from the recorded run's final weights, its config with a lower lr."""
        if self._busy():
            return False
        try:
            with RunStore() as store:
                run = store.resolve(run_id)
                weights = store.load_weights(run.id)
            cfg = RunConfig.from_dict(run.config)
            cfg = cfg.copy(lr=cfg.lr * CONTINUE_LR_FACTOR)
        except (BabysitError, TypeError, ValueError) as exc:
            QMessageBox.warning(self.win, "Continue run", str(exc))
            return False
        self.win.setup.set_config(cfg)
        c = self.win.controller
        if not c.build(self.win.setup.valid_config()):
            return False
        try:
            c.session.load_weights(weights)
        except BabysitError as exc:
            c.reset()
            QMessageBox.warning(self.win, "Continue run", str(exc))
            return False
        ok = self.win.start()
        self.win.statusBar().showMessage(f"continuing {run.name} from its final weights at lr {cfg.lr:g}", 10000)
        return ok
