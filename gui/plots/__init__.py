"""Live charts of a training run (pyqtgraph). The window embeds `Dashboard` and calls
`refresh(history)` ~30 Hz; see dashboard.py."""
from .base import BasePlot
from .dashboard import PLOT_NAMES, Dashboard
from .smoothing import IncrementalEma, ema_smooth

__all__ = ["BasePlot", "Dashboard", "PLOT_NAMES", "IncrementalEma", "ema_smooth"]
