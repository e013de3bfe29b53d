"""Diagnostics panel: the findings of engine.train.diagnostics, in plain words, each shown once.

    panel = DiagnosticsPanel()
    panel.add_finding(event)     # a "diagnosis" event from the session (or a bare finding dict)
    panel.clear()                # a new run
    controller.add_view(panel)   # or: refresh(history) once per frame picks up new "diagnosis" events

Each finding is a row: severity icon, step, and what was seen. Expanding it (or hovering)
shows the lecture idea behind it and what to try. A finding is identified by its code and
layer, so draining the same event twice (or a history and its live stream) shows it once.
Events of any other kind are ignored, so a window can pass it every event it drains.
"""
from __future__ import annotations

import html

from PySide6 import QtCore, QtGui, QtWidgets

SEVERITY_COLOURS = {"info": "#1d4f85", "warning": "#8a5a00", "error": "#b52b27"}
_SEVERITY_ICONS = {"info": QtWidgets.QStyle.StandardPixmap.SP_MessageBoxInformation,
                   "warning": QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning,
                   "error": QtWidgets.QStyle.StandardPixmap.SP_MessageBoxCritical}
_TITLES = {"initial_loss": "Initial loss", "diverged": "Diverged", "exploding_loss": "Loss exploding",
           "lr_too_low": "Learning rate too low", "update_ratio_low": "Updates too small",
           "update_ratio_high": "Updates too large", "dead_units": "Dead ReLUs", "saturation": "Saturation",
           "vanishing_activations": "Activations collapsing", "symmetry": "Symmetry not broken",
           "overfitting": "Overfitting", "underfitting": "Underfitting"}
KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole


class _WrapDelegate(QtWidgets.QStyledItemDelegate):
    """Row heights for word-wrapped text: QTreeView paints wrapped text but asks the delegate for
    a size hint without the column's width, so long findings would be elided to one line."""

    def __init__(self, tree: QtWidgets.QTreeView):
        super().__init__(tree)
        self._tree = tree

    def sizeHint(self, option, index):  # noqa: N802 (Qt's name)
        size = super().sizeHint(option, index)
        text = index.data(QtCore.Qt.ItemDataRole.DisplayRole)
        if not text:
            return size
        width = self._tree.columnWidth(index.column())
        if index.column() == 0 or width <= 0:
            return size
        # the first column of a child row is indented; the text column is not, only padded
        font = index.data(QtCore.Qt.ItemDataRole.FontRole) or option.font
        rect = QtGui.QFontMetrics(font).boundingRect(QtCore.QRect(0, 0, max(20, width - 10), 100_000),
                                                     int(QtCore.Qt.TextFlag.TextWordWrap), str(text))
        return QtCore.QSize(size.width(), max(size.height(), rect.height() + 6))


def finding_title(code: str) -> str:
    return _TITLES.get(code, code.replace("_", " ").capitalize())


class DiagnosticsPanel(QtWidgets.QWidget):
    """A tree of findings; `finding_added(dict)` when a new one is shown."""

    finding_added = QtCore.Signal(dict)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._keys: set[tuple[str, str | None]] = set()
        self._seen = 0   # history events already looked at (refresh)
        self.findings: list[dict] = []
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = QtWidgets.QLabel()
        lay.addWidget(self.summary)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["", "step", "finding"])
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setRootIsDecorated(True)
        self.tree.setAlternatingRowColors(False)
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setVerticalScrollMode(QtWidgets.QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.tree.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setColumnWidth(0, 44)
        self.tree.setTextElideMode(QtCore.Qt.TextElideMode.ElideNone)
        self.tree.setItemDelegate(_WrapDelegate(self.tree))
        # word-wrapped rows get their height from the column width: re-layout when it changes
        header.sectionResized.connect(lambda *_: self.tree.doItemsLayout())
        lay.addWidget(self.tree, 1)
        self._update_summary()

    # ------------------------------------------------------------------ API
    def add_finding(self, event: dict) -> bool:
        """Show a finding (a "diagnosis" event or a finding dict). False if ignored or already shown."""
        if not isinstance(event, dict) or "code" not in event:
            return False
        if event.get("event") not in (None, "diagnosis"):
            return False
        key = (str(event["code"]), event.get("layer"))
        if key in self._keys:
            return False
        self._keys.add(key)
        finding = {k: v for k, v in event.items() if k not in ("event", "label")}
        self.findings.append(finding)
        self._add_item(finding)
        self._update_summary()
        self.finding_added.emit(finding)
        return True

    def add_events(self, events) -> int:
        """Feed any events (e.g. everything drained from the session); returns how many were new."""
        n = 0
        for ev in events:
            if isinstance(ev, dict) and ev.get("event") == "reinit":
                self._keys.clear()  # as in refresh: a fresh network's findings are new
            else:
                n += self.add_finding(ev)
        return n

    # the controller's view protocol (gui.controller.View): refreshed once per frame with the
    # window's History, whose events are all kept (never decimated), so an index is enough
    def refresh(self, history) -> None:
        events = history.events
        if len(events) < self._seen:   # a different history: start over
            self.clear()
        for ev in events[self._seen:]:
            if ev.get("event") == "diagnosis":
                self.add_finding(ev)
            elif ev.get("event") == "reinit":
                # a fresh network: the engine's diagnostics start over and may report a code again
                # (the findings shown so far stay)
                self._keys.clear()
        self._seen = len(events)

    def reset(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._seen = 0
        self._keys.clear()
        self.findings.clear()
        self.tree.clear()
        self._update_summary()

    def count(self) -> int:
        return len(self.findings)

    # ------------------------------------------------------------------ drawing
    def _add_item(self, f: dict) -> None:
        severity = f.get("severity", "info")
        colour = QtGui.QColor(SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["info"]))
        title = finding_title(f["code"]) + (f" ({f['layer']})" if f.get("layer") else "")
        item = QtWidgets.QTreeWidgetItem(["", str(f.get("step", "")), f"{title}: {f.get('message', '')}"])
        item.setData(0, KEY_ROLE, f["code"])
        item.setIcon(0, self.style().standardIcon(_SEVERITY_ICONS.get(severity, _SEVERITY_ICONS["info"])))
        item.setToolTip(0, severity)
        item.setForeground(2, colour)
        font = item.font(2)
        font.setBold(True)
        item.setFont(2, font)
        item.setTextAlignment(1, QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignTop)
        tip = (f"<b>{html.escape(title)}</b> ({severity}, step {f.get('step', '?')})<br>"
               f"{html.escape(f.get('message', ''))}"
               f"<br><br><b>Idea:</b> {html.escape(f.get('idea', ''))}<br><b>Try:</b> {html.escape(f.get('try', ''))}")
        for col in (1, 2):
            item.setToolTip(col, tip)
        for label, key in (("Idea", "idea"), ("Try", "try")):
            if f.get(key):
                child = QtWidgets.QTreeWidgetItem(["", "", f"{label}: {f[key]}"])
                child.setToolTip(2, tip)
                if key == "try":
                    child.setForeground(2, QtGui.QColor("#1f5f1f"))
                item.addChild(child)
        # newest first: the latest problem is the one to look at
        self.tree.insertTopLevelItem(0, item)
        item.setExpanded(severity == "error")

    def _update_summary(self) -> None:
        n = len(self.findings)
        if n == 0:
            self.summary.setText("No problems seen so far.")
            return
        by = {s: sum(1 for f in self.findings if f.get("severity") == s) for s in ("error", "warning", "info")}
        parts = [f"{v} {k}{'s' if v > 1 else ''}" for k, v in by.items() if v]
        self.summary.setText(f"{n} finding{'s' if n > 1 else ''}: {', '.join(parts)}. "
                             "Expand a row (or hover) for the idea behind it and what to try.")
