"""The trials table: one row per trial (stage-trial, validation accuracy and loss, status, steps,
its params), sortable by any column on its numbers; double-click asks to open the trial's run.

Rows are added when a trial starts and only the changed cells are written (steps move on every
progress batch), at most once per frame.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from .data import SweepData, Trial

STATUS_COLUMN = 3
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
STATUS_COLOURS = {"running": "#1f77b4", "finished": "#2b2b2b", "diverged": "#c62828", "crashed": "#c62828",
                  "pruned": "#8a5a00", "stopped": "#707070"}


def _num(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class TrialsTable(QTableView):
    openRequested = Signal(object)    # a trial key (stage, trial)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_ = QStandardItemModel(0, 0, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model_)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.horizontalHeader().setStretchLastSection(True)
        self.doubleClicked.connect(self._double_clicked)
        self.columns: list[str] = []
        self.keys: list[str] = []
        self._rows: dict[tuple, int] = {}

    def set_columns(self, keys: list[str]) -> None:
        """The space's keys as columns (a new sweep, or a stage with new keys): rows are rebuilt."""
        self.keys = list(keys)
        # the numbers first: in a narrow window the params scroll, the accuracy stays in view
        self.columns = ["trial", "val acc", "val loss", "status", "steps"] + self.keys
        self.model_.clear()
        self.model_.setColumnCount(len(self.columns))
        self.model_.setHorizontalHeaderLabels(self.columns)
        self._rows.clear()
        self.sortByColumn(1, Qt.SortOrder.DescendingOrder)   # the best on top

    def show_changes(self, data: SweepData, keys) -> None:
        """Write the rows of these trial keys (adding rows for new trials)."""
        self.setUpdatesEnabled(False)
        fit = False
        try:
            for key in sorted(keys):
                t = data.trials.get(key)
                if t is not None:
                    fit |= key not in self._rows or t.status != "running"
                    self._write(t)
        finally:
            self.setUpdatesEnabled(True)
        if fit:   # a new row or a final one: the columns fit their text (not on every batch of steps)
            self.horizontalHeader().resizeSections(QHeaderView.ResizeMode.ResizeToContents)

    def show_all(self, data: SweepData) -> None:
        self.set_columns(data.keys())
        self.show_changes(data, set(data.trials))

    def _write(self, t: Trial) -> None:
        cells = [(t.label, t.stage * 1_000_000 + t.trial),
                 (f"{t.val_acc:.3f}" if t.val_acc is not None else "–", _sortable(t.val_acc)),
                 (_num(t.val_loss) if t.val_loss is not None else "–", _sortable(t.val_loss)),
                 (t.status, t.status), (f"{t.steps:,}", t.steps)]
        cells += [(_num(t.params[k]), _sortable(t.params[k])) if k in t.params else ("", math.inf) for k in self.keys]
        row = self._rows.get(t.key)
        if row is None:
            row = self._rows[t.key] = self.model_.rowCount()
            items = [QStandardItem() for _ in cells]
            for item in items:
                item.setData(t.key, KEY_ROLE)
            self.model_.appendRow(items)
        colour = QBrush(QColor(STATUS_COLOURS.get(t.status, "#2b2b2b")))
        for col, (text, sort) in enumerate(cells):
            item = self.model_.item(row, col)
            if item.text() != text:
                item.setText(text)
                item.setData(sort, SORT_ROLE)
            if col == STATUS_COLUMN:
                item.setForeground(colour)
                if t.message:
                    item.setToolTip(t.message)

    # ------------------------------------------------------------------ reading and selecting
    @property
    def keys_shown(self):
        return self._rows.keys()

    def row_count(self) -> int:
        return self.proxy.rowCount()

    def key_at(self, row: int) -> tuple:
        return tuple(self.proxy.index(row, 0).data(KEY_ROLE))   # Qt hands a tuple back as a list

    def select_trial(self, key) -> None:
        row = self._rows.get(tuple(key))
        if row is None:
            return
        index = self.proxy.mapFromSource(self.model_.index(row, 0))
        self.selectRow(index.row())
        self.scrollTo(index)

    def _double_clicked(self, index) -> None:
        self.openRequested.emit(tuple(index.sibling(index.row(), 0).data(KEY_ROLE)))


def _sortable(v):
    """A number sorts as a number; a missing one sorts below every number."""
    if isinstance(v, bool) or v is None:
        return -math.inf
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else -math.inf
    return str(v)
