"""Small shared widgets: a log-scale slider, a number field that accepts "1e-3", and the one way
a field is marked invalid (red border + the reason as its tooltip).

Widgets here hold no run logic: they parse and display. Validation lives in engine.train.config.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QLayout, QLineEdit, QSlider, QStatusBar, QToolButton,
                               QVBoxLayout, QWidget)

INVALID_STYLE = "border: 1px solid #d9534f; background: #fff3f2;"


def set_invalid(widget: QWidget, reason: str | None, hint: str = "") -> None:
    """Mark `widget` invalid with `reason` (red border, tooltip), or clear the mark (reason None).

    The mark is also a dynamic property `invalid` so tests and stylesheets can read it."""
    bad = bool(reason)
    widget.setProperty("invalid", bad)
    # scoped to the widget's Qt class (QLineEdit, QComboBox...) so a combo's popup keeps its look
    qt_class = next(c.__name__ for c in type(widget).__mro__ if c.__module__.startswith("PySide6"))
    widget.setStyleSheet(f"{qt_class} {{ {INVALID_STYLE} }}" if bad else "")
    widget.setToolTip(reason if bad else hint)


def parse_float(text: str) -> float:
    """'1e-3', ' 0.5 ', '3E-4' -> float; raises ValueError for anything else (Python's own rules)."""
    return float(text.strip())


def format_float(x: float) -> str:
    """The shortest text that reads back as exactly `x`, at least 6 significant digits' worth:
    0.003 -> '0.003', 1e-05 -> '1e-05', 0.00123456789 -> '0.00123456789' (a field that rounded
    would hand the run a different number than the file or the caller gave it)."""
    if x == 0:
        return "0"
    text = f"{x:.6g}"
    return text if float(text) == x else repr(float(x))  # repr: the shortest text that reads back exactly


class _NumberEdit(QLineEdit):
    """A line edit holding a number (or None when `optional` and empty). `value()` returns the
    number, None, or the raw text when it is not one, so the caller can put it in a RunConfig and
    let RunConfig.problems() word the complaint."""

    def __init__(self, value=None, *, optional: bool = False, placeholder: str = "",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.optional = optional
        if placeholder:
            self.setPlaceholderText(placeholder)
        self.set_value(value)

    def _parse(self, text: str):
        raise NotImplementedError

    def _format(self, value) -> str:
        raise NotImplementedError

    def value(self):
        text = self.text().strip()
        if not text and self.optional:
            return None
        try:
            return self._parse(text)
        except ValueError:
            return text

    def set_value(self, value) -> None:
        self.setText("" if value is None else self._format(value))


class FloatEdit(_NumberEdit):
    """A float field ("1e-3" accepted)."""

    def _parse(self, text: str) -> float:
        return parse_float(text)

    def _format(self, value) -> str:
        return format_float(float(value))


class IntEdit(_NumberEdit):
    """An int field ("10_000" and "1e4" accepted)."""

    def _parse(self, text: str) -> int:
        text = text.replace("_", "")
        try:
            return int(text)
        except ValueError:
            f = float(text)  # "1e4" is a fine way to write ten thousand steps
            if math.isfinite(f) and f == int(f):
                return int(f)
            raise

    def _format(self, value) -> str:
        return str(int(value))


class LogSlider(QSlider):
    """A horizontal slider over [lo, hi] on a log10 scale. `valueChangedFloat(x)` while moving.

    Positions are integers 0..resolution; value = lo * (hi/lo) ** (pos/resolution)."""

    valueChangedFloat = Signal(float)

    def __init__(self, lo: float = 1e-6, hi: float = 10.0, per_decade: int = 100, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        if not (0 < lo < hi):
            raise ValueError("LogSlider needs 0 < lo < hi")
        self.lo, self.hi = lo, hi
        decades = math.log10(hi / lo)
        self.setRange(0, max(1, round(per_decade * decades)))
        self.setSingleStep(max(1, per_decade // 10))   # arrow keys: 10 steps per decade
        self.setPageStep(per_decade)                   # page keys: one decade
        self.valueChanged.connect(lambda pos: self.valueChangedFloat.emit(self.to_float(pos)))

    def to_float(self, pos: int) -> float:
        t = pos / self.maximum()
        return float(10 ** (math.log10(self.lo) + t * (math.log10(self.hi) - math.log10(self.lo))))

    def to_pos(self, x: float) -> int:
        x = min(max(x, self.lo), self.hi)
        t = (math.log10(x) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return int(round(t * self.maximum()))

    def float_value(self) -> float:
        return self.to_float(self.value())

    def set_float_value(self, x: float) -> None:
        """Move to x without emitting (programmatic sync, not a user request)."""
        blocked = self.blockSignals(True)
        self.setValue(self.to_pos(x))
        self.blockSignals(blocked)


class Banner(QFrame):
    """A non-modal message strip above the plots: error, warning or info, with a close button."""

    COLORS = {"error": ("#fdecea", "#b52b27", "#f5c2bf"), "warning": ("#fff6e0", "#8a5a00", "#f2d79b"),
              "info": ("#e8f1fb", "#1d4f85", "#bcd4ef")}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.level = "info"
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("dismiss")
        close.clicked.connect(self.hide)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        bg, fg, border = self.COLORS.get(level, self.COLORS["info"])
        self.setStyleSheet(f"#banner {{ background: {bg}; border: 1px solid {border}; border-radius: 4px; }}"
                           f"#banner QLabel {{ color: {fg}; }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""


class FlowLayout(QLayout):
    """Lays items left to right and wraps to a new line when the width runs out (Qt's flow
    layout example), so a strip of controls never forces the window wider than the screen."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6, gap: int = 12):
        super().__init__(parent)
        self._items: list = []
        self._spacing = spacing   # between lines
        self._gap = gap           # between items on a line
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item) -> None:  # noqa: N802 (Qt's name)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, i: int):  # noqa: N802
        return self._items[i] if 0 <= i < len(self._items) else None

    def takeAt(self, i: int):  # noqa: N802
        return self._items.pop(i) if 0 <= i < len(self._items) else None

    def expandingDirections(self):  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _arrange(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line_h = area.x(), area.y(), 0
        for item in self._items:
            if item.widget() is not None and item.widget().isHidden():
                continue
            hint = item.sizeHint()
            if x > area.x() and x + hint.width() > area.right() + 1:
                x, y, line_h = area.x(), y + line_h + self._spacing, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._gap
            line_h = max(line_h, hint.height())
        return y + line_h - rect.y() + m.bottom()


class ElidedLabel(QLabel):
    """One line that ends in "…" where it does not fit, the whole text in its tooltip: a long
    state or message never widens the window (a diverged run's state did, at 1280 px)."""

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        self.style().drawItemText(painter, rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                                  self.palette(), self.isEnabled(), shown, QPalette.ColorRole.WindowText)


class StatusBar(QStatusBar):
    """A status bar whose passing messages never hide the run's state. QStatusBar's own
    temporary message covers every normal widget (the state label too), so a "preset loaded:
    press Start" stayed over a running or diverged run; here a message is a label of its own
    beside them, cleared after its time or by `clearMessage()`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.note = ElidedLabel()
        self.note.setContentsMargins(12, 0, 6, 0)
        self._expiry = QTimer(self, singleShot=True, timeout=self.clearMessage)

    def add_state_widget(self, widget: QWidget) -> None:
        """The run's state, then the passing messages after it."""
        self.addWidget(widget)
        self.addWidget(self.note, 1)

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802 (Qt's name)
        self.note.setText(text)
        self._expiry.stop()
        if timeout > 0:
            self._expiry.start(timeout)

    def currentMessage(self) -> str:  # noqa: N802
        return self.note.text()

    def clearMessage(self) -> None:  # noqa: N802
        self._expiry.stop()
        self.note.clear()
        self.note.setToolTip("")


class LazyTab(QWidget):
    """A tab page whose content is made when first shown or asked for (`content()`): a tab nobody
    opens costs the window's start nothing."""

    def __init__(self, make, parent: QWidget | None = None):
        super().__init__(parent)
        self._make = make
        self._content: QWidget | None = None
        QVBoxLayout(self).setContentsMargins(0, 0, 0, 0)

    def content(self) -> QWidget:
        if self._content is None:
            self._content = self._make()
            self.layout().addWidget(self._content)
        return self._content

    @property
    def made(self) -> bool:
        return self._content is not None

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.content()
        super().showEvent(event)
