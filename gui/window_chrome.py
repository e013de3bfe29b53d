"""The main window's chrome: its actions (Start, Pause, Step, Stop, Reset, configuration files,
exports, Quit, each with its shortcut and tooltip), the menus and run toolbar that show them, and
the status bar (the run's state, step, epoch, steps/s and progress).

A mixin of MainWindow (gui/main_window.py), whose slots the actions call.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QProgressBar, QStyle, QToolBar

from .widgets import ElidedLabel, StatusBar


class WindowChrome:
    """_make_actions, _make_menus_and_toolbar and _make_status_bar, for MainWindow."""

    def _make_actions(self) -> None:
        style = self.style()
        SP = QStyle.StandardPixmap

        def action(text: str, slot, keys: str | QKeySequence.StandardKey | None = None, tip: str = "",
                   icon: QStyle.StandardPixmap | None = None) -> QAction:
            a = QAction(text, self)
            if icon is not None:
                a.setIcon(style.standardIcon(icon))
            if keys is not None:
                a.setShortcut(QKeySequence(keys))
            if tip:
                a.setToolTip(f"{tip} ({a.shortcut().toString()})" if keys is not None else tip)
                a.setStatusTip(tip)
            a.triggered.connect(slot)
            self.addAction(a)   # shortcuts work even with the toolbar hidden
            return a

        self.act_start = action("Start", self.start, "F5", "build the run from the setup and train", SP.SP_MediaPlay)
        self.act_pause = action("Pause", self.toggle_pause, "Space", "pause / resume training", SP.SP_MediaPause)
        self.act_step = action("Step", self.step, "F10", "take exactly one optimizer step", SP.SP_MediaSkipForward)
        self.act_stop = action("Stop", self.stop, "Shift+F5", "end the run; its curves stay", SP.SP_MediaStop)
        self.act_reset = action("Reset", self.reset, "Ctrl+R", "clear the run and edit the setup again",
                                SP.SP_BrowserReload)
        self.act_save_cfg = action("Save configuration…", self.save_config_dialog, QKeySequence.StandardKey.Save)
        self.act_load_cfg = action("Load configuration…", self.load_config_dialog, QKeySequence.StandardKey.Open)
        self.act_export_png = action("Export dashboard PNG…", self.export_png_dialog)
        self.act_export_all = action("Export all plots…", self.export_all_dialog)
        self.act_export_metrics = action("Export metrics…", self.export_metrics_dialog)
        self.act_quit = action("Quit", self.close, QKeySequence.StandardKey.Quit)

    def _make_menus_and_toolbar(self) -> None:
        m = self.menuBar().addMenu("&File")
        for a in (self.act_save_cfg, self.act_load_cfg, None, self.act_export_png, self.act_export_all,
                  self.act_export_metrics, None, self.act_quit):
            m.addSeparator() if a is None else m.addAction(a)
        r = self.menuBar().addMenu("&Run")
        for a in (self.act_start, self.act_pause, self.act_step, self.act_stop, None, self.act_reset):
            r.addSeparator() if a is None else r.addAction(a)
        self.view_menu = self.menuBar().addMenu("&View")

        tb = QToolBar("Run")
        tb.setObjectName("runToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.act_start, self.act_pause, self.act_step, self.act_stop, None, self.act_reset):
            tb.addSeparator() if a is None else tb.addAction(a)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb
        self.view_menu.addAction(tb.toggleViewAction())
        toggle_setup = QAction("Setup panel", self, checkable=True, checked=True)
        toggle_setup.toggled.connect(self.setup_scroll.setVisible)
        self.view_menu.addAction(toggle_setup)
        toggle_knobs = QAction("Live knobs", self, checkable=True, checked=True)
        toggle_knobs.toggled.connect(self.knobs.setVisible)
        self.view_menu.addAction(toggle_knobs)

    def _make_status_bar(self) -> None:
        sb = StatusBar(self)
        self.setStatusBar(sb)
        self.state_label = ElidedLabel()
        self.state_label.setObjectName("stateLabel")
        self.step_label = QLabel()
        self.epoch_label = QLabel()
        self.rate_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        for w in (self.step_label, self.epoch_label, self.rate_label):
            w.setContentsMargins(6, 0, 6, 0)
        self.rate_label.setMinimumWidth(self.rate_label.fontMetrics().horizontalAdvance("99,999 steps/s") + 14)
        self.epoch_label.setMinimumWidth(self.epoch_label.fontMetrics().horizontalAdvance("epoch 99,999") + 14)
        sb.add_state_widget(self.state_label)
        for w in (self.step_label, self.epoch_label, self.rate_label, self.progress):
            sb.addPermanentWidget(w)
        self._on_progress({"step": 0, "epoch": 0, "total_steps": 0, "steps_per_s": 0.0})
