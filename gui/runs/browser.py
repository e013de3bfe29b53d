"""The runs browser (a dock): every recorded run, sortable and filterable, renamed in place,
with notes; Open, Compare, Continue and Delete act on the selected runs.

Listing reads the store's `runs` table only (RunStore.runs: one row a run, no steps). While a
listed run is running, the rows of the running runs are read again every POLL_MS (one query), so
its step count and status follow its training, from this window or another process.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLineEdit, QMessageBox,
                               QPlainTextEdit, QPushButton, QTableView, QVBoxLayout, QWidget)

from engine.errors import BabysitError
from engine.runs.store import RunInfo, RunStore

COLUMNS = ("Name", "Date", "Dataset", "Model", "Optimizer", "Steps", "Train acc", "Val acc", "Status")
ID_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
NOTES_ROLE = Qt.ItemDataRole.UserRole + 3
STATUS = COLUMNS.index("Status")
_PROGRESS = {COLUMNS.index(c) for c in ("Steps", "Train acc", "Val acc", "Status")}  # what changes while a run trains
POLL_MS = 1500   # a running run's row is read again this often


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _cells(r: RunInfo) -> tuple[tuple[str, object], ...]:
    """A run's row: (text, sort key) per column of COLUMNS."""
    return ((r.name, r.name.lower()),
            (time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)), r.created),
            (r.dataset or "–", r.dataset or ""), (r.model or "–", r.model or ""),
            (r.optimizer or "–", r.optimizer or ""), (f"{r.steps:,}", r.steps),
            (_pct(r.train_acc), -1.0 if r.train_acc is None else r.train_acc),
            (_pct(r.val_acc), -1.0 if r.val_acc is None else r.val_acc), (r.status, r.status))


def _folder_name(name: str) -> str:
    """A run's name as one folder (a renamed run may hold a slash)."""
    return "".join("_" if ch in '/\\:' else ch for ch in name).strip(". ") or "run"


class RunsBrowser(QWidget):
    openRequested = Signal(str)        # a run id
    compareRequested = Signal(list)    # run ids (2 or more)
    continueRequested = Signal(str)    # a run id

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.filter = QLineEdit(placeholderText="filter runs (name, dataset, model, status…)")
        self.filter.setClearButtonEnabled(True)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(-1)  # any column
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # double-click opens a run; a name is edited with F2 or a click on a selected name
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.SelectedClicked)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)  # rows in a short dock
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _i: self._open())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.model.itemChanged.connect(self._renamed)

        self.notes = QPlainTextEdit(placeholderText="notes on the selected run")
        self.notes.setMaximumWidth(220)
        buttons = QHBoxLayout()
        buttons.addWidget(self.filter, 1)
        self.open_button = QPushButton("Open", clicked=self._open, toolTip="show the run in the dashboard")
        self.compare_button = QPushButton("Compare", clicked=self._compare, toolTip="overlay 2 or more runs")
        self.continue_button = QPushButton("Continue", clicked=self._continue,
                                           toolTip="a new run from this run's final weights (lower lr)")
        self.export_button = QPushButton("Export…", clicked=self.export_selected,
                                         toolTip="TensorBoard event files (tensorboard --logdir FOLDER)")
        self.delete_button = QPushButton("Delete…", clicked=self.delete_selected)
        self.notes_button = QPushButton("Save notes", clicked=self._save_notes)
        for b in (self.open_button, self.compare_button, self.continue_button, self.export_button,
                  self.delete_button,
                  self.notes_button):
            buttons.addWidget(b)
        body = QHBoxLayout()  # the dock is a short strip: notes beside the table, buttons beside the filter
        body.addWidget(self.table, 1)
        body.addWidget(self.notes)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addLayout(body, 1)
        self._filling = False
        self.poll = QTimer(self, interval=POLL_MS)   # runs only while a listed run is running
        self.poll.timeout.connect(self.refresh_running)
        self._listed = False   # the store is read when the list is first shown, not before the window's first paint

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        # a dock tab behind another is shown and hidden again as the window first lays out: the
        # list is read only if it is still in view once the event loop turns
        QTimer.singleShot(0, lambda: self.refresh_list() if self.isVisible() and not self._listed else None)

    # ------------------------------------------------------------------ listing
    def refresh_list(self) -> None:
        self._listed = True
        selected = set(self.selected_ids())
        try:
            with RunStore() as store:
                runs = store.runs()
        except BabysitError as exc:
            self._warn("Runs", str(exc))
            return
        self._filling = True
        self.model.removeRows(0, self.model.rowCount())
        for r in runs:
            row = []
            for col, (text, key) in enumerate(_cells(r)):
                item = QStandardItem(text)
                item.setData(key, SORT_ROLE)
                item.setData(r.id, ID_ROLE)
                item.setData(r.notes, NOTES_ROLE)
                item.setToolTip(r.notes)
                item.setEditable(col == 0)
                row.append(item)
            self.model.appendRow(row)
        self._filling = False
        sel = self.table.selectionModel()
        for i in range(self.proxy.rowCount()):
            if self.proxy.index(i, 0).data(ID_ROLE) in selected:
                sel.select(self.proxy.index(i, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
        self._selection_changed()
        self._poll_while_running()

    def refresh_running(self) -> None:
        """Read the rows of the listed runs still running again (one query) and update their
        steps, accuracies and status in place: the selection, sort and an edit stay as they are."""
        rows = {self.model.item(i, 0).data(ID_ROLE): i for i in range(self.model.rowCount())
                if self.model.item(i, STATUS).text() == "running"}
        if not rows:
            self.poll.stop()
            return
        try:
            with RunStore() as store:
                runs = store.runs(list(rows))
        except BabysitError:
            return  # said when the list is read again; not a dialog every POLL_MS
        if len(runs) < len(rows):  # deleted elsewhere
            self.refresh_list()
            return
        self._filling = True
        for r in runs:
            for col, (text, key) in enumerate(_cells(r)):
                if col in _PROGRESS:
                    item = self.model.item(rows[r.id], col)
                    item.setText(text)
                    item.setData(key, SORT_ROLE)
        self._filling = False
        self._poll_while_running()

    def _poll_while_running(self) -> None:
        running = any(self.model.item(i, STATUS).text() == "running" for i in range(self.model.rowCount()))
        if running and not self.poll.isActive():
            self.poll.start()
        elif not running:
            self.poll.stop()

    def run_ids(self) -> list[str]:
        """The listed runs' ids in the order shown (sorted and filtered)."""
        return [self.proxy.index(i, 0).data(ID_ROLE) for i in range(self.proxy.rowCount())]

    def select(self, run_ids: list[str]) -> None:
        sel = self.table.selectionModel()
        sel.clearSelection()
        for i in range(self.proxy.rowCount()):
            if self.proxy.index(i, 0).data(ID_ROLE) in run_ids:
                sel.select(self.proxy.index(i, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)

    def selected_ids(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return [r.data(ID_ROLE) for r in sorted(rows, key=lambda r: r.row())]

    def _selection_changed(self) -> None:
        ids = self.selected_ids()
        one = len(ids) == 1
        self.open_button.setEnabled(one)
        self.continue_button.setEnabled(one)
        self.compare_button.setEnabled(len(ids) >= 2)
        self.delete_button.setEnabled(bool(ids))
        self.export_button.setEnabled(bool(ids))
        self.notes.setEnabled(one)
        self.notes_button.setEnabled(one)
        notes = ""
        if one:
            for i in range(self.model.rowCount()):
                if self.model.item(i, 0).data(ID_ROLE) == ids[0]:
                    notes = self.model.item(i, 0).data(NOTES_ROLE) or ""
        self.notes.setPlainText(notes)

    # ------------------------------------------------------------------ changes
    def rename(self, run_id: str, name: str) -> bool:
        try:
            with RunStore() as store:
                store.rename(run_id, name)
        except BabysitError as exc:
            self._warn("Rename", str(exc))
            self.refresh_list()  # the old name back
            return False
        return True

    def _renamed(self, item: QStandardItem) -> None:
        if self._filling or item.column() != 0:
            return
        if self.rename(item.data(ID_ROLE), item.text()):
            self._filling = True
            item.setData(item.text().lower(), SORT_ROLE)
            self._filling = False

    def _save_notes(self) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        try:
            with RunStore() as store:
                store.set_notes(ids[0], self.notes.toPlainText())
        except BabysitError as exc:
            self._warn("Notes", str(exc))
        self.refresh_list()

    def delete_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        what = "this run" if len(ids) == 1 else f"these {len(ids)} runs"
        answer = QMessageBox.question(self, "Delete runs", f"Delete {what} and their weights? This cannot be undone.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        problems = []
        with RunStore() as store:
            for run_id in ids:
                try:
                    store.delete(run_id)
                except BabysitError as exc:
                    problems.append(str(exc))
        if problems:
            self._warn("Delete", "\n".join(problems))
        self.refresh_list()

    def export_selected(self) -> list:
        """The selected runs as TensorBoard event files, a folder per run, under a folder asked for."""
        ids = self.selected_ids()
        folder = QFileDialog.getExistingDirectory(self, "Export runs for TensorBoard") if ids else ""
        if not folder:
            return []
        from engine.runs.export import export_tensorboard  # tensorboard's writer: imported on first export
        written = []
        try:
            with RunStore() as store:
                for run_id in ids:  # sibling folders: TensorBoard overlays them
                    written.append(export_tensorboard(store, run_id, Path(folder) / _folder_name(store.resolve(run_id).name)))
        except (BabysitError, OSError) as exc:
            self._warn("Export", str(exc))
        return written

    # ------------------------------------------------------------------ requests
    def _open(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.openRequested.emit(ids[0])

    def _compare(self) -> None:
        ids = self.selected_ids()
        if len(ids) >= 2:
            self.compareRequested.emit(ids)

    def _continue(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.continueRequested.emit(ids[0])

    def _warn(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)
