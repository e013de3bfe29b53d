"""The sweep spec as TOML, editable, checked as it is typed, with the presets one pick away.

    editor = SpaceEditor()
    editor.load_preset("lr_reg_coarse_to_fine")
    editor.spec()        # the SweepSpec, or None while the text is not a valid sweep
    editor.error         # why not, in words (shown under the text)
    editor.changed       # after each check (typing is checked 300 ms after it pauses)

The check is the engine's own (engine.sweep.space.parse_spec): the message the command line
prints for a file is the message shown here.
"""
from __future__ import annotations

import tomllib

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from engine.errors import ConfigError
from engine.sweep.cli import preset_names, preset_path
from engine.sweep.space import SweepSpec, parse_spec

from ..plots.theme import MUTED
from ..widgets import set_invalid

CHECK_DELAY_MS = 300
ERROR_COLOUR = "#c62828"


def check_text(text: str) -> tuple[SweepSpec | None, str | None]:
    """(the spec, None) or (None, what is wrong in words)."""
    try:
        return parse_spec(tomllib.loads(text)), None
    except tomllib.TOMLDecodeError as exc:
        return None, f"not valid TOML: {exc}"
    except ConfigError as exc:
        return None, f"not a valid sweep: {exc}"


def summary(spec: SweepSpec) -> str:
    keys = ", ".join(f"{k} ({p.scale.replace('_', ' ')})" if p.is_range else
                     f"{k} ({len(p.choices)} {'grid values' if p.grid else 'choices'})" for k, p in spec.space.items())
    return f"{spec.sampler} sampler · {spec.steps:,} steps a trial · {keys}"


class SpaceEditor(QWidget):
    changed = Signal()
    edited = Signal()      # the user typed (not a text set by the program)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.presets = QComboBox(toolTip="load a preset sweep from resources/sweeps")
        self.presets.addItem("load a preset…")
        for name in preset_names():
            self.presets.addItem(name)
        self.presets.activated.connect(self._preset_chosen)
        self.text = QPlainTextEdit()
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setTabChangesFocus(True)
        self.message = QLabel(wordWrap=True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._timer = QTimer(self, singleShot=True, interval=CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check)
        self._setting = False
        self.text.textChanged.connect(self._typed)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Sweep spec"))
        top.addStretch(1)
        top.addWidget(self.presets)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        lay.addLayout(top)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.message)
        self._spec: SweepSpec | None = None
        self.error: str | None = "empty"

    # ------------------------------------------------------------------ text in
    def load_preset(self, name: str) -> None:
        path = preset_path(name)
        self.set_text(path.read_text(encoding="utf-8"))
        self.presets.setToolTip(self._spec.description if self._spec else "")

    def set_text(self, text: str) -> None:
        """Replace the text (a preset, a stage's spec) and check it at once."""
        self._setting = True
        try:
            self.text.setPlainText(text)
        finally:
            self._setting = False
        self.check()

    def _preset_chosen(self, index: int) -> None:
        if index > 0:
            self.load_preset(self.presets.itemText(index))
            self.edited.emit()   # a new text the user chose: a new sweep

    def _typed(self) -> None:
        if self._setting:
            return
        self._timer.start()
        self.edited.emit()

    # ------------------------------------------------------------------ checking
    def check(self) -> None:
        self._timer.stop()
        self._spec, self.error = check_text(self.text.toPlainText())
        if self.error:
            self.message.setText(self.error)
            self.message.setStyleSheet(f"color: {ERROR_COLOUR};")
        else:
            self.message.setText(summary(self._spec))
            self.message.setStyleSheet(f"color: {MUTED};")
        set_invalid(self.text, self.error)
        self.changed.emit()

    def spec(self) -> SweepSpec | None:
        if self._timer.isActive():   # typed but not yet checked: the text as it is now
            self.check()
        return self._spec

    def toml(self) -> str:
        return self.text.toPlainText()
