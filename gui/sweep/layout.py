"""The Sweep tab's widgets and where they sit (the tab's logic is in tab.py).

    left    what Run will do (the plan), the spec editor, trials and workers, Run / Stop, the
            status line, earlier sweeps
    right   tabs: Space (the preview) | Trials (loss curves and scatter side by side, the edge
            warning above them, refine and ensemble buttons below, the table under a splitter) |
            Parallel coordinates; the two keys drawn are chosen in the tabs' corner

Sized for 1280 x 720: the window gives the tab about 960 x 390 there.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from .editor import SpaceEditor
from .live import LossCurves, TrialScatter
from .parallel import ParallelCoords
from .preview import PreviewView
from .stages import Plan
from .table import TrialsTable

WARN_STYLE = "color: #8a5a00; background: #fff4d6; padding: 2px 4px;"


class SweepTabLayout:
    """Builds the widgets as attributes of the tab; the tab connects what they do."""

    def _make_widgets(self) -> None:
        self._make_left()
        self._make_right()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.left)
        split.addWidget(self.views)
        split.setStretchFactor(1, 1)
        split.setSizes([330, 750])
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(split)

    def _make_left(self) -> None:
        self.plan_label = QLabel(wordWrap=True)
        self.new_button = QPushButton("New sweep", toolTip="forget the shown sweep: Run makes a new one")
        self.new_button.clicked.connect(lambda: self._set_plan(Plan()))
        self.editor = SpaceEditor()
        self.editor.changed.connect(self._spec_changed)
        self.editor.edited.connect(self._edited)
        self.trials = QSpinBox(minimum=1, maximum=100_000, toolTip="trials in this stage")
        self.trials.valueChanged.connect(lambda _v: self._stale())
        self.workers = QSpinBox(minimum=1, maximum=256, value=os.cpu_count() or 1,
                                toolTip="trials trained at once, each in a process of its own (default: one per core)")
        self.run_button = QPushButton("Run", clicked=self.run)
        self.stop_button = QPushButton("Stop", clicked=self.stop, toolTip="every trial ends within 2 s")
        self.status = QLabel(wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.earlier = QComboBox(toolTip="sweeps run before (from the command line too)")
        self.earlier.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.earlier.setMinimumContentsLength(12)
        self.open_button = QPushButton("Open", clicked=lambda: self.open_sweep(self.earlier.currentData()))

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("Trials"), 0, 0)
        grid.addWidget(self.trials, 0, 1)
        grid.addWidget(QLabel("Workers"), 0, 2)
        grid.addWidget(self.workers, 0, 3)
        grid.addWidget(self.run_button, 1, 0, 1, 2)
        grid.addWidget(self.stop_button, 1, 2, 1, 2)
        plan = QHBoxLayout()
        plan.addWidget(self.plan_label, 1)
        plan.addWidget(self.new_button)
        earlier = QHBoxLayout()
        earlier.addWidget(QLabel("Earlier"))
        earlier.addWidget(self.earlier, 1)
        earlier.addWidget(self.open_button)
        self.left = QWidget()
        self.left.setMinimumWidth(280)
        lay = QVBoxLayout(self.left)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(4)
        lay.addLayout(plan)
        lay.addWidget(self.editor, 1)
        lay.addLayout(grid)
        lay.addWidget(self.status)
        lay.addLayout(earlier)

    def _make_right(self) -> None:
        self.xkey = QComboBox(toolTip="the key across: the scatter's and the preview's x axis")
        self.ykey = QComboBox(toolTip="the key up (or the validation accuracy itself)")
        for combo in (self.xkey, self.ykey):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentTextChanged.connect(lambda _t: self._keys_changed())
        keys = QWidget()
        row = QHBoxLayout(keys)
        row.setContentsMargins(0, 0, 4, 0)
        row.addWidget(QLabel("x"))
        row.addWidget(self.xkey)
        row.addWidget(QLabel("y"))
        row.addWidget(self.ykey)

        self.preview = PreviewView()
        self.curves = LossCurves()
        self.scatter = TrialScatter()
        self.scatter.pointClicked.connect(lambda key: self.table.select_trial(key))
        self.scatter.pointDoubleClicked.connect(self._open_trial)
        self.scatter.boxChanged.connect(self._sync_buttons)
        self.table = TrialsTable()
        self.table.openRequested.connect(self._open_trial)
        self.parallel = ParallelCoords()
        self.warning = QLabel(wordWrap=True, styleSheet=WARN_STYLE)
        self.warning.hide()
        self.top_button = QPushButton("Zoom to the top quarter", clicked=self.refine_top,
                                      toolTip="the next stage's space around the best quarter of this stage's trials")
        self.box_button = QPushButton("Refine to the box", clicked=self.refine_box,
                                      toolTip="drag a box on the scatter: the next stage searches inside it")
        self.k = QSpinBox(minimum=2, maximum=50, value=3, toolTip="how many of the best trials to average")
        self.ensemble_button = QPushButton("Ensemble top k", clicked=self.ensemble,
                                           toolTip="average the validation predictions of the k best trials")
        self.ensemble_label = QLabel(wordWrap=True)

        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.curves)
        plots.addWidget(self.scatter)
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        for w in (self.top_button, self.box_button, QLabel("  k"), self.k, self.ensemble_button):
            actions.addWidget(w)
        actions.addWidget(self.ensemble_label, 1)
        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(self.warning)
        ml.addWidget(plots, 1)
        ml.addLayout(actions)
        live = QSplitter(Qt.Orientation.Vertical)
        live.addWidget(middle)
        live.addWidget(self.table)
        live.setStretchFactor(0, 3)
        live.setStretchFactor(1, 2)
        live.setSizes([300, 200])   # in proportion: at 1280 x 720 the table keeps a few rows
        live.setChildrenCollapsible(False)
        self.live_page = live

        self.views = QTabWidget()
        self.views.setDocumentMode(True)
        self.views.addTab(self.preview, "Space")
        self.views.addTab(live, "Trials")
        self.parallel_index = self.views.addTab(self.parallel, "Parallel coordinates")
        self.views.setCornerWidget(keys, Qt.Corner.TopRightCorner)
        self.views.currentChanged.connect(lambda _i: self._wake())   # the page shown is drawn if it is behind

