"""The main window: setup panel | live knobs + dashboard (tabs), a run toolbar and a status bar.

    win = MainWindow()                       # settings from BABYSIT_SETTINGS_DIR or the user's own
    win.show(); win.start()                  # what the Start button does
    win.dashboard, win.controller.session, win.controller.history
    win.add_tab(widget, "Lab")               # a centre tab; refreshed with the dashboard if it can
    win.add_dock(widget, "Notes")            # a dock, listed in the View menu

The window is thin: the controller owns the session and the history; the run's settings live in
one place, `win.run_state` (gui.state), which the setup panel and the live knobs both show and
edit. The window's gate on that state sends a change of lr, optimizer or bn to a running session
as a command; a refused command leaves the state (and so every view of it) as it was. Reset keeps
the state: what was found while training becomes the next run's setup. Start builds the run off
the GUI thread (the controller's "building" state). Configuration files, exports and remembered
settings are the window's part in gui.window_files; its actions, menus, toolbar and status bar
are made in gui.window_chrome.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QSplitter, QStyle, QTabWidget, QVBoxLayout, QWidget

from engine.errors import ConfigError

from .controller import (BUILDING, DIVERGED, ENDED_STATES, ERROR, FINISHED, IDLE, LIVE_STATES, PAUSED,
                         RUNNING, STOPPED, Controller)
from .garbage import collect_garbage_on_the_gui_thread
from .knobs import KnobsPanel, check_lr
from .plots import Dashboard
from .setup_panel import SetupPanel
from .state import RunState
from .widgets import Banner
from .window_chrome import WindowChrome
from .window_files import WindowFiles

STATE_COLORS = {BUILDING: "#1d4f85", RUNNING: "#2e7d32", PAUSED: "#8a5a00", DIVERGED: "#c62828", FINISHED: "#1d4f85",
                STOPPED: "#555555", ERROR: "#c62828", IDLE: "#555555"}


class MainWindow(WindowFiles, WindowChrome, QMainWindow):
    closed = Signal()   # after the training thread is stopped, as the window closes

    def __init__(self, *, settings_dir: str | os.PathLike | None = None, restore: bool = True,
                 save_settings: bool = True):
        super().__init__()
        collect_garbage_on_the_gui_thread()  # never in the training thread (see gui.garbage)
        self.setWindowTitle("babysit")
        self._settings_dir = settings_dir
        self._save_settings = save_settings
        self.controller = Controller(self)

        # ---- the one run state; centre: setup panel | (banner, knobs, tabs[dashboard])
        self.run_state = RunState()
        self.run_state.set_gate(self._to_the_run)
        self.setup = SetupPanel(state=self.run_state)
        self.setup_scroll = QScrollArea()
        self.setup_scroll.setWidget(self.setup)
        self.setup_scroll.setWidgetResizable(True)
        self.setup_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setup_scroll.setMinimumWidth(270)

        self.dashboard = Dashboard()
        self.controller.add_view(self.dashboard)

        self.banner = Banner()
        self.knobs = KnobsPanel(self.run_state)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabBarAutoHide(True)        # one tab: no tab bar
        self.tabs.addTab(self.dashboard, "Dashboard")

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 0)
        rl.setSpacing(4)
        rl.addWidget(self.banner)
        rl.addWidget(self.knobs)
        rl.addWidget(self.tabs, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.setup_scroll)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([310, 1090])
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self._make_actions()
        self._make_menus_and_toolbar()
        self._make_status_bar()
        from gui.lab.wiring import LabWiring   # tabs, diagnostics dock, Lab menu
        self.lab = LabWiring(self)
        from gui.runs.wiring import RunsWiring   # recording, Runs dock, Compare tab (gui/runs)
        self.runs = RunsWiring(self)
        from gui.sweep.wiring import SweepWiring   # the Sweep tab (gui/sweep)
        self.sweep = SweepWiring(self)

        # ---- wiring (one way each)
        c = self.controller
        c.stateChanged.connect(self._on_state)
        c.progressed.connect(self._on_progress)
        c.errorOccurred.connect(self._on_error)
        self.run_state.checked.connect(self._on_setup_changed)
        self.knobs.reinitRequested.connect(self.request_reinit)
        self.knobs.paceRequested.connect(self.controller.set_pace)

        self.resize(1400, 900)
        if restore:
            self.restore_settings()
        self._on_setup_changed()
        self._on_state(IDLE)

    # ================================================================== extension points
    def add_tab(self, widget: QWidget, title: str, *, refresh: bool = True) -> int:
        """A centre tab beside the dashboard. With refresh=True and a widget that has refresh(history)
        and reset(), it is refreshed once per delivery like the dashboard."""
        if refresh and hasattr(widget, "refresh") and hasattr(widget, "reset"):
            self.controller.add_view(widget)  # type: ignore[arg-type]
        return self.tabs.addTab(widget, title)

    def add_dock(self, widget: QWidget, title: str,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea, *, refresh: bool = True) -> QDockWidget:
        """A dockable panel (listed in the View menu), refreshed like add_tab."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        if refresh and hasattr(widget, "refresh") and hasattr(widget, "reset"):
            self.controller.add_view(widget)  # type: ignore[arg-type]
        return dock

    # ================================================================== run control
    def start(self) -> bool:
        """Start a run from the setup panel (or resume a paused one)."""
        c = self.controller
        if c.state in (PAUSED, DIVERGED):
            c.resume()
            return True
        if c.live:
            return True
        try:
            cfg = self.setup.valid_config()
        except ConfigError as exc:       # Start is disabled then; this is the keyboard's way in
            self._show_error(str(exc))
            return False
        self.banner.hide()
        ok = c.start(cfg)   # built off the GUI thread: the window stays responsive ("building the run…")
        self._update_actions()
        return ok

    def toggle_pause(self) -> None:
        self.controller.toggle_pause()

    def step(self) -> None:
        c = self.controller
        if c.session is None:
            try:
                cfg = self.setup.valid_config()
            except ConfigError as exc:
                self._show_error(str(exc))
                return
            if self.banner.level == "error":
                self.banner.hide()  # a new attempt: the error of an earlier one is over
            c.step(cfg)
        elif c.live:
            c.step()
        self._update_actions()

    def stop(self) -> None:
        self.controller.stop()

    def reset(self) -> None:
        self.controller.reset()
        self.banner.hide()
        self._on_progress({"step": 0, "epoch": 0, "total_steps": 0, "steps_per_s": 0.0})
        self._update_actions()

    # ================================================================== the run state's gate
    LIVE_COMMANDS = {"lr": "set_lr", "optimizer": "set_optimizer", "bn": "set_bn",
                     "average_decay": "set_average_decay", "augment": "set_augment"}

    def _to_the_run(self, key: str, value: object) -> bool:
        """The run state asks before a field changes: nothing changes while a run is being built;
        a live run gets lr, optimizer, bn, averaging and augmentation as commands, and a command it refuses (said through
        errorOccurred) keeps the old value."""
        if self.controller.building:   # the run is being built from the settings as they are
            self.statusBar().showMessage("the run is being built: change it once it trains", 5000)
            return False
        command = self.LIVE_COMMANDS.get(key)
        if command is None or not self.controller.live:
            return True
        if not getattr(self.controller, command)(value):
            return False
        if key == "lr":   # a rate far above the usual range mid-run: a finding, as at Start
            unusual = self.run_state.config().copy(lr=value).warning_findings()
            self.controller.add_findings([f for f in unusual if f["code"] == "unusual_lr"], self.controller.step_count)
        return True

    # Public so other panels (an LR finder's "use this rate", a preset) take the knobs' path.
    def request_lr(self, lr: float) -> bool:
        problem = check_lr(lr)
        if problem:
            self._show_error(problem)
            return False
        return self.run_state.set("lr", float(lr))

    def request_optimizer(self, name: str) -> bool:
        return self.run_state.set("optimizer", name)

    def request_bn(self, on: bool) -> bool:
        return self.run_state.set("bn", bool(on))

    def request_average(self, decay: float | None) -> bool:
        """Validate an average of the weights with this decay beside them (None: off)."""
        return self.run_state.set("average_decay", decay)

    def request_reinit(self, scheme: str, std: float | None = None) -> bool:
        """Fresh weights (an action: the same scheme again draws new ones); the state follows."""
        if self.controller.live and not self.controller.reinit(scheme, std):
            return False
        return self.run_state.update({"init": scheme} if std is None else {"init": scheme, "init_std": std})

    # ================================================================== feedback
    def refresh_title(self, recorded: str | None = None) -> None:
        """The title names what the dashboard shows: the setup's run, or a recorded run opened."""
        if recorded is not None:
            self.setWindowTitle(f"babysit — recorded run {recorded}")
            return
        cfg = self.run_state.config()
        try:
            title = (f"babysit — {cfg.dataset} · {cfg.depth}×{cfg.width} {cfg.activation}"
                     f"{' +BN' if cfg.bn else ''} · {cfg.optimizer} lr {cfg.lr:g}")
        except (TypeError, ValueError):
            title = "babysit"
        self.setWindowTitle(title)

    def _on_setup_changed(self) -> None:
        self.refresh_title()
        if self.controller.session is None and self.controller.error is None:
            self._on_state(IDLE)
        else:
            self._update_actions()

    def _on_state(self, state: str) -> None:
        c = self.controller
        text = {IDLE: self._idle_text(), BUILDING: "building the run… (the window stays usable; Stop cancels)",
                RUNNING: "running", PAUSED: "paused — Space resumes, F10 steps",
                FINISHED: "finished — the target is reached; Reset (Ctrl+R) to set up a new run",
                STOPPED: "stopped — Reset (Ctrl+R) to set up a new run",
                DIVERGED: f"diverged — {c.error or 'the loss is not finite'}",
                ERROR: f"error — {c.error or 'training failed'}"}.get(state, state)
        self.state_label.setText(text)
        if state != IDLE:  # what a passing message said ("preset loaded: press Start") is over
            self.statusBar().clearMessage()
        colour = STATE_COLORS.get(state, "#333")
        if state == IDLE and c.session is None and not self.setup.is_valid():
            colour = STATE_COLORS[ERROR]
        self._colour_state(colour)
        if state in ENDED_STATES or state == PAUSED:
            self.rate_label.setText("– steps/s")
        if state == DIVERGED:
            self.banner.show_message(
                f"Training diverged and is paused: {c.error or 'the loss is not finite'}.\n"
                "The curves are kept. Lower the learning rate or re-initialise, then Resume (Space).", "warning")
        elif state == RUNNING and self.banner.level == "warning":
            self.banner.hide()
        elif state in ENDED_STATES and self.banner.level == "warning" and self.banner.isVisible():
            # the diverged banner asked for Resume, which an ended run no longer offers
            self.banner.show_message("Training diverged; the run has ended. The curves are kept: export "
                                     "them, or Reset (Ctrl+R) to set up a new run.", "warning")
        self._update_actions()

    def _colour_state(self, colour: str) -> None:
        # a style sheet is parsed and the label restyled at each set: only when it changes
        if self.state_label.property("colour") != colour:
            self.state_label.setProperty("colour", colour)
            self.state_label.setStyleSheet(f"color: {colour}; font-weight: bold;")

    def _idle_text(self) -> str:
        if self.controller.session is not None:
            return "ready"
        n = len(self.setup.problems())
        if self.run_state.memory_problem() is not None:
            return "the run is too big for the memory available (marked in red) — make it smaller to start"
        if n:
            return f"the setup has {n} invalid value{'s' if n > 1 else ''} (marked in red) — fix {'them' if n > 1 else 'it'} to start"
        return "ready — set up a run and press Start (F5)"

    def _on_progress(self, p: dict) -> None:
        step, total = p.get("step", 0), p.get("total_steps", 0)
        self.step_label.setText(f"step {step:,}" + (f" / {total:,}" if total else ""))
        # room for the widest this run can show, so the label does not jitter or clip
        widest = self.step_label.fontMetrics().horizontalAdvance(f"step {total:,} / {total:,}") + 14
        if self.step_label.minimumWidth() != widest:
            self.step_label.setMinimumWidth(widest)
        self.epoch_label.setText(f"epoch {p.get('epoch', 0)}")
        rate = (p.get("steps_per_s") or 0.0) if self.controller.state == RUNNING else 0.0
        self.rate_label.setText(f"{rate:,.0f} steps/s" if rate else "– steps/s")
        # QProgressBar holds 32-bit ints: a target beyond them (epochs=1e9) is shown in thousandths
        scale = 1 if total < 2**31 else total / 1000
        top = max(int(total / scale), 1)
        self.progress.setRange(0, top)
        self.progress.setValue(min(int(step / scale), top))

    def _on_error(self, message: str) -> None:
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.banner.show_message(message, "error")
        self.statusBar().showMessage(message, 15000)
        if self.controller.session is None:
            self.state_label.setText("could not start — see the message above")
            self._colour_state(STATE_COLORS[ERROR])

    def _update_actions(self) -> None:
        c = self.controller
        # a run that exists or is being built fixes the setup
        state, has_session, valid = c.state, c.session is not None or c.building, self.setup.is_valid()
        self.act_start.setEnabled(not has_session and valid)   # a paused run resumes with Pause/Resume
        self.act_pause.setEnabled(state in (RUNNING, PAUSED, DIVERGED))
        paused = state in (PAUSED, DIVERGED)
        self.act_pause.setText("Resume" if paused else "Pause")
        self.act_pause.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause))
        self.act_step.setEnabled((not has_session and valid) or state in LIVE_STATES)
        self.act_stop.setEnabled(has_session and state not in ENDED_STATES)
        self.act_reset.setEnabled(c.session is not None)
        self.act_load_cfg.setEnabled(not has_session)
        self.setup.set_read_only(has_session, later=True)  # the one place: a run's setup is fixed while it exists

    # ================================================================== closing
    def closeEvent(self, event: QCloseEvent) -> None:
        self.controller.shutdown(1.5)   # stop and join the training thread
        if self._save_settings:
            try:
                self.store_settings()
            except Exception:            # never let a settings problem keep the window open
                pass
        super().closeEvent(event)
        self.closed.emit()
