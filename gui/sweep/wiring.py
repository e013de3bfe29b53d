"""Puts the Sweep tab into the main window: the tab, and a trial opened the way the Runs browser
opens a recorded run (gui/runs/wiring.py's open_run: the dashboard shows the run from the store)."""
from __future__ import annotations

from PySide6.QtCore import QObject

from .tab import SweepTab


class SweepWiring(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.tab = SweepTab()
        self.index = win.add_tab(self.tab, "Sweep", refresh=False)
        self.tab.openRequested.connect(win.runs.open_run)
        win.closed.connect(self.tab.shutdown)   # every worker stopped before the window is gone
