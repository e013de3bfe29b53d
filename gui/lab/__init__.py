"""Lab widgets, each standalone (the main window embeds them):

    InitLabPanel      the lecture's init experiment: histograms per layer, mean/std across depth
    DiagnosticsPanel  engine.train.diagnostics findings in plain words, each once
    LRFinderDialog    LR range test in a worker process of its own; emits lr_chosen(float)
    BoundaryView      predicted class over the input plane with the training points
    PreprocessView    the training inputs under none / center / standardize, side by side
    RacePanel         torch optimizers raced on 2-D loss surfaces, animated step by step
    SoftmaxPanel      one example's logits, softmax bars, hard max and loss
    BatchNormPanel    batch vs running statistics; eval- vs train-mode validation accuracy
"""
from .bn_panel import BatchNormPanel
from .boundary_view import BoundaryView
from .preprocess_view import PreprocessView
from .diagnostics_panel import DiagnosticsPanel
from .initlab_panel import InitLabPanel
from .lrfinder import LRFinderDialog
from .race_panel import RacePanel
from .softmax_panel import SoftmaxPanel

__all__ = ["BatchNormPanel", "BoundaryView", "DiagnosticsPanel", "InitLabPanel", "LRFinderDialog", "PreprocessView",
           "RacePanel", "SoftmaxPanel"]
