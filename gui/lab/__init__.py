"""Lab widgets, each standalone (the main window embeds them):

    InitLabPanel      the lecture's init experiment: histograms per layer, mean/std across depth
    DiagnosticsPanel  engine.diagnostics findings in plain words, each once
    LRFinderDialog    LR range test in a background thread; emits lr_chosen(float)
    BoundaryView      predicted class over the input plane with the training points
    PreprocessView    the training inputs under none / center / standardize, side by side
"""
from .boundary_view import BoundaryView
from .preprocess_view import PreprocessView
from .diagnostics_panel import DiagnosticsPanel
from .initlab_panel import InitLabPanel
from .lrfinder import LRFinderDialog

__all__ = ["BoundaryView", "DiagnosticsPanel", "InitLabPanel", "LRFinderDialog", "PreprocessView"]
