"""Shared test setup: Qt runs headless (offscreen) so the GUI tests need no display."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
