"""babysit's training engine: data, model, probes, a controllable session, history, export.

Pure Python + numpy + torch. Nothing here may import Qt (PySide6, pyqtgraph) or gui/:
tests/engine/test_no_qt.py imports every module in a fresh interpreter to prove it.
"""
