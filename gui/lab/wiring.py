"""Puts the lecture lab into the main window: tabs, a diagnostics dock, a Lab menu.

    Decision boundary tab   predicted class over the input plane (2-D datasets), refreshed a few
                            times a second while training; computed on the training thread, as
                            are those the run records (drawn too), its final one included
    Init lab tab            the forward-only init experiment
    Optimizer race tab      torch optimizers on 2-D loss surfaces, animated (lecture 7)
    Softmax tab             one example's logits, probabilities and loss, live while training
    BN at test time tab     batch vs running statistics, eval- vs train-mode validation accuracy
    Diagnostics dock        findings in plain words, each once
    Lab menu                Find learning rate… (Ctrl+L), Presets ▸ (one per resources/presets/*.toml)
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from engine.errors import BabysitError

from ..controller import DIVERGED, PAUSED, RUNNING
from .bn_panel import BatchNormPanel
from .boundary_view import BoundaryView
from .clicks import clicked_point
from .diagnostics_panel import DiagnosticsPanel
from .initlab_panel import InitLabPanel
from .preprocess_view import PreprocessView
from .lrfinder import LRFinderDialog
from .race_panel import RacePanel
from .softmax_panel import SoftmaxPanel

BOUNDARY_INTERVAL_MS = 300   # "a few times a second"
BOUNDARY_RESOLUTION = 80


class LabWiring(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        c = win.controller
        self.boundary = BoundaryView()
        self.boundary_tab = win.add_tab(self.boundary, "Decision boundary", refresh=False)
        self.init_lab = InitLabPanel()
        win.add_tab(self.init_lab, "Init lab", refresh=False)
        self.preprocess = PreprocessView()
        win.add_tab(self.preprocess, "Preprocessing", refresh=False)
        self.race = RacePanel()
        win.add_tab(self.race, "Optimizer race", refresh=False)
        self.softmax = SoftmaxPanel()
        win.add_tab(self.softmax, "Softmax")   # refreshed once per delivery, like the dashboard
        self.bn_test = BatchNormPanel()
        win.add_tab(self.bn_test, "BN at test time")
        self.diagnostics = DiagnosticsPanel()
        self.diagnostics_dock = win.add_dock(self.diagnostics, "Diagnostics", Qt.DockWidgetArea.BottomDockWidgetArea)
        self.diagnostics_dock.setObjectName("diagnosticsDock")
        # a short strip under the charts; sized once the window has its layout
        QTimer.singleShot(0, lambda: win.resizeDocks([self.diagnostics_dock], [110], Qt.Orientation.Vertical))

        c.otherReceived.connect(self._on_other)
        c.sessionChanged.connect(self._new_session)
        c.sessionChanged.connect(self.softmax.set_session)
        c.sessionChanged.connect(self.bn_test.set_session)
        self.boundary.plot.scene().sigMouseClicked.connect(self._boundary_clicked)
        self.boundary_requests = 0
        self._boundary_waiting = False   # one request in flight at a time: a slow grid never piles up
        self._boundary_key: tuple | None = None  # (step, events) of the boundary shown
        self._asked_key: tuple | None = None     # ... of the one asked for
        self._kept: dict | None = None           # the newest boundary the run sent, not drawn yet (tab hidden)
        win.tabs.currentChanged.connect(self._draw_kept)
        self.timer = QTimer(self, interval=BOUNDARY_INTERVAL_MS)
        self.timer.timeout.connect(self.ask_boundary)
        self.timer.start()
        self.lr_dialog = None
        self._make_menu()

    # ------------------------------------------------------------------ decision boundary
    def ask_boundary(self) -> None:
        """A fresh boundary while someone looks at the tab and the run is live (running, or paused:
        it applies commands while it waits), asked of the training thread, one at a time. Not
        running, it is asked again only when the model changed: a step, or a command (re-init,
        batch norm...) counted by the run's events. A diverged model has no boundary. An ended run
        is not asked: its worker sent the final weights' boundary as it ended (the run records
        its own boundaries as it trains, and the window draws those too: _on_other)."""
        self._draw_kept()
        c = self.win.controller
        s = c.session
        if s is None or s.data.n_features != 2 or not self.boundary.isVisible() or c.state == DIVERGED:
            return  # nothing to draw, or nobody looks at it: spare the training thread
        if not s.alive:
            self._boundary_waiting = False  # a loop that ended before answering never will
            return
        key = (s.step_count, len(c.history.events))
        if self._boundary_waiting or (c.state != RUNNING and self._boundary_key == key):
            return
        s.request_boundary(BOUNDARY_RESOLUTION)
        self._boundary_waiting = True
        self._asked_key = key
        self.boundary_requests += 1

    def _on_other(self, kind: str, payload) -> None:
        """A boundary from the run: the answer to the tab's request, or one the run recorded (on
        its cadence, and for its final weights as it ended). Either is drawn unless the tab shows
        a later step; while the tab is hidden the newest waits until it is shown."""
        if kind != "boundary":
            return
        if not payload.get("recorded"):
            self._boundary_waiting = False
            self._boundary_key = self._asked_key
        newest = self._kept or self.boundary.payload
        if newest is not None and payload["step"] < newest["step"]:
            return
        self._kept = payload
        self._draw_kept()

    def _draw_kept(self, *_args) -> None:
        if self._kept is not None and self.boundary.isVisible():
            payload, self._kept = self._kept, None
            self.boundary.update_boundary(payload)

    def _new_session(self, session) -> None:
        self.boundary.clear(session.data.n_features if session is not None else None)
        if session is not None:
            self.preprocess.show_dataset(session.data)
        self._boundary_waiting = False
        self._boundary_key = self._asked_key = None
        self._kept = None

    def _boundary_clicked(self, event) -> None:
        """A click on the decision boundary chooses the nearest validation point in the Softmax tab."""
        p = clicked_point(self.boundary.plot, event)
        if p is None:
            return
        index = self.softmax.select_nearest(p.x(), p.y())
        if index is not None:
            self.win.statusBar().showMessage(f"validation example {index} chosen: see the Softmax tab", 6000)

    # ------------------------------------------------------------------ menu
    def _make_menu(self) -> None:
        win = self.win
        menu = win.menuBar().addMenu("&Lab")
        self.act_lrfind = QAction("Find learning rate…", win)
        self.act_lrfind.setShortcut(QKeySequence("Ctrl+L"))
        self.act_lrfind.setStatusTip("LR range test from the current weights; suggests a learning rate")
        self.act_lrfind.triggered.connect(self.open_lr_finder)
        win.addAction(self.act_lrfind)
        menu.addAction(self.act_lrfind)
        win.toolbar.addSeparator()
        win.toolbar.addAction(self.act_lrfind)  # the button
        act_init = QAction("Init lab", win)
        act_init.triggered.connect(lambda: win.tabs.setCurrentWidget(self.init_lab))
        menu.addAction(act_init)
        for title, panel in (("Optimizer race", self.race), ("Softmax up close", self.softmax),
                             ("Batch norm at test time", self.bn_test)):
            act = QAction(title, win)
            act.triggered.connect(lambda _=False, w=panel: win.tabs.setCurrentWidget(w))
            menu.addAction(act)
        self.presets_menu = menu.addMenu("Presets")
        from engine.lab.presets import list_presets
        try:
            presets = list_presets()
        except BabysitError as exc:
            presets = []
            win.statusBar().showMessage(f"presets unavailable: {exc}", 10000)
        for p in presets:
            act = self.presets_menu.addAction(p.name.replace("_", " "))
            act.setToolTip(p.description)
            act.setStatusTip(p.description[:200])
            act.triggered.connect(lambda _=False, n=p.name: self.load_preset(n, ask=True))
        self.presets_menu.setToolTipsVisible(True)

    def load_preset(self, name: str, ask: bool = False) -> bool:
        """Load a preset into the setup panel (clearing the current run, after asking)."""
        from engine.lab.presets import load_preset
        win = self.win
        try:
            cfg = load_preset(name)
        except BabysitError as exc:
            QMessageBox.warning(win, "Preset", str(exc))
            return False
        if win.controller.session is not None:
            if ask and QMessageBox.question(win, "Load preset",
                                            f"Load the preset '{name}'? The current run's curves are cleared "
                                            "(export them first if you want to keep them).") != QMessageBox.StandardButton.Yes:
                return False
            win.reset()
        win.setup.set_config(cfg)
        self.init_lab.show_config(cfg)  # the lecture's 10 x 500 figure of this preset's init
        win.statusBar().showMessage(f"preset {name} loaded: press Start", 8000)
        return True

    # ------------------------------------------------------------------ LR finder
    def open_lr_finder(self):
        win = self.win
        if self.lr_dialog is not None:  # one finder at a time: the open one comes to the front
            self.lr_dialog.raise_()
            self.lr_dialog.activateWindow()
            return self.lr_dialog
        s = win.controller.session
        if s is None and not win.setup.is_valid():
            QMessageBox.information(win, "Learning-rate finder", "Fix the marked setup values first.")
            return None
        was_running = win.controller.state == RUNNING
        win.controller.pause(wait=2.0)  # the range test starts from the weights as they are now
        weights, note = None, ""
        if s is not None:
            try:
                weights = s.weights()    # numpy, from the run's worker (after a stop: its last weights)
            except BabysitError as exc:
                note = f"The run's weights could not be read ({exc}): the sweep starts from freshly initialised weights."
            if weights is not None and (win.controller.state == DIVERGED or not all_finite(weights)):
                # a sweep from blown-up weights records nothing: it starts from a fresh init instead
                weights = None
                note = ("The run has diverged: the sweep starts from freshly initialised weights "
                        f"({s.cfg.init}), not the run's.")
        try:
            cfg = s.cfg.copy() if s is not None else win.setup.config()
            dlg = LRFinderDialog(cfg, win, weights=weights, spare=win.controller.spare, note=note)
        except BabysitError as exc:
            QMessageBox.warning(win, "Learning-rate finder", str(exc))
            return None
        dlg.lr_chosen.connect(win.request_lr)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        taken_over = [False]  # the user resumed (or reset) meanwhile: the run is theirs again

        def on_state(state: str) -> None:
            if state != PAUSED:
                taken_over[0] = True
        win.controller.stateChanged.connect(on_state)

        def closed(_result: int) -> None:
            self.lr_dialog = None
            win.controller.stateChanged.disconnect(on_state)
            if (was_running and not taken_over[0] and win.controller.session is s
                    and win.controller.state == PAUSED):
                win.controller.resume()  # paused for the sweep only: training goes on, at the chosen rate
        dlg.finished.connect(closed)
        dlg.show()
        self.lr_dialog = dlg
        return dlg


def all_finite(weights: dict) -> bool:
    """No NaN or inf among a state dict's floating-point arrays (the step counts are integers)."""
    return all(bool(np.isfinite(v).all()) for v in weights.values() if np.issubdtype(v.dtype, np.floating))
