"""Puts the Sweep tab into the main window: the tab, and a trial opened the way the Runs browser
opens a recorded run (gui/runs/wiring.py's open_run: the dashboard shows the run from the store).
The tab, and gui/sweep with it, is made when first shown or asked for: a window that never
sweeps does not load it at start."""
from __future__ import annotations

from PySide6.QtCore import QObject

from gui.widgets import LazyTab


class SweepWiring(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.page = LazyTab(self._make)
        self.index = win.add_tab(self.page, "Sweep", refresh=False)
        win.closed.connect(self._shutdown)   # every worker stopped before the window is gone

    @property
    def tab(self):
        """The Sweep tab (gui/sweep/tab.py's SweepTab), made now if it was not yet."""
        return self.page.content()

    def _make(self):
        from .tab import SweepTab
        tab = SweepTab()
        tab.openRequested.connect(self.win.runs.open_run)
        return tab

    def _shutdown(self) -> None:
        if self.page.made:
            self.tab.shutdown()
