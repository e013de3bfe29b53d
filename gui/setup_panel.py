"""The setup panel: a form bound both ways to the window's run state (gui.state.RunState).

    panel = SetupPanel(state=state)          # or SetupPanel(): a state of its own
    panel.set_config(RunConfig(lr=1e-2))     # state.update(...): the widgets follow
    cfg = panel.config()                     # the state's config (may hold invalid raw values)
    panel.problems()                         # {field: reason}: the state's problems
    panel.valid_config()                     # a validated copy that fits in memory, or ConfigError

Each row is made from its field's declaration (engine.train.config.Setting). The panel holds no rules
of its own: an edit puts the field's text into the state as typed (a number when it parses, the
raw text when it does not) and the state words every complaint, shown here in place (red border
+ tooltip + a reason line) and in a summary line; a warning (lr far above the usual range) is an
amber line that does not block Start. `validityChanged(bool)` lets the window disable Start, so
an invalid value never reaches the engine.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QToolButton, QVBoxLayout, QWidget)

from engine.train.config import GROUPS as SETTING_GROUPS
from engine.train.config import STD_INITS, TOY_DATASETS, RunConfig, Setting
from engine.train.memory import data_shape


from .state import RunState
from .widgets import FloatEdit, IntEdit, set_invalid


FIELDS: dict[str, Setting] = RunConfig.settings()   # every row is made from its field's declaration
GROUPS: list[tuple[str, list[str]]] = [(title, [k for k, f in FIELDS.items() if f.group == title])
                                       for title in SETTING_GROUPS]

# rows shown only when they matter (a row with a problem is always shown, so nothing hides a complaint)
RELEVANT = {
    "data_path": lambda c: c.dataset in ("idx", "file"),
    "n_samples": lambda c: c.dataset in TOY_DATASETS,
    "noise": lambda c: c.dataset in TOY_DATASETS,
    "classes": lambda c: c.dataset in ("spiral", "blobs"),
    "momentum": lambda c: c.optimizer in ("momentum", "nesterov"),
    "beta1": lambda c: c.optimizer in ("adam", "adamw"),
    "beta2": lambda c: c.optimizer in ("adam", "adamw"),
    "eps": lambda c: c.optimizer in ("adagrad", "rmsprop", "adam", "adamw"),
    "rho": lambda c: c.optimizer == "rmsprop",
    "step_size": lambda c: c.schedule in ("step", "exponential"),
    "gamma": lambda c: c.schedule in ("step", "exponential"),
    "warmup_steps": lambda c: c.schedule == "warmup",
    "min_lr": lambda c: c.schedule == "cosine",
}
ENABLED = {"init_std": lambda c: c.init in STD_INITS}


LABEL_WIDTH = 118       # the label column, where there is room ("Validation fraction" on one line)
MIN_LABEL_WIDTH = 84    # ... and when the panel is at its narrowest (longer labels wrap)


class _FormLabel(QLabel):
    """A row's label: LABEL_WIDTH wide where there is room, wrapped down to MIN_LABEL_WIDTH where
    there is not, so that the panel fits its scroll area's narrowest width. Every label asks for
    the same widths, so the label columns of the groups (one form each) line up."""

    def __init__(self, text: str):
        super().__init__(text)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.setContentsMargins(0, 4, 0, 0)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(LABEL_WIDTH, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(MIN_LABEL_WIDTH, super().minimumSizeHint().height())


# L-BFGS's line search compares losses of one objective: the whole training set, no dropout
# (engine/train/lbfgs.py). Choosing it, or changing the data under it, sets the batch to the training set.
FULL_BATCH_KEYS = ("optimizer", "dataset", "n_samples", "classes", "val_fraction", "subset", "data_path")


def training_set_size(cfg: RunConfig) -> int | None:
    """Examples in the training split (as engine/train/data.py splits them), or None when unknown."""
    try:
        n = data_shape(cfg)[0]
        n_train = n - int(round(cfg.val_fraction * n))
        return max(1, n_train if cfg.subset is None else min(int(cfg.subset), n_train))
    except Exception:   # a raw (invalid) value or an unreadable file: the panel says why elsewhere
        return None


class SetupPanel(QWidget):
    changed = Signal()                 # any edit (valid or not)
    validityChanged = Signal(bool)

    def __init__(self, config: RunConfig | None = None, parent: QWidget | None = None, *,
                 state: RunState | None = None):
        super().__init__(parent)
        self.state = state if state is not None else RunState(config)
        self._editing: str | None = None   # the field the user is editing: its widget is not rewritten
        self._read_only = False
        self.widgets: dict[str, QWidget] = {}       # the editors, by RunConfig field
        self.rows: dict[str, QWidget] = {}          # editor + reason line (a form row)
        self.error_labels: dict[str, QLabel] = {}
        self._forms: dict[str, QFormLayout] = {}
        self._group_boxes: dict[str, QGroupBox] = {}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(8)
        self.summary = QLabel()
        self.summary.setObjectName("problemSummary")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #b52b27; background: #fdecea; border: 1px solid #f5c2bf;"
                                   "border-radius: 3px; padding: 4px;")
        self.summary.hide()
        outer.addWidget(self.summary)
        for title, keys in GROUPS:
            box = QGroupBox(title)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            form.setContentsMargins(8, 6, 8, 6)
            for key in keys:
                form.addRow(_FormLabel(FIELDS[key].label), self._make_row(key, FIELDS[key]))
            if title == "Advanced":
                self._advanced_toggle = QToolButton()
                self._advanced_toggle.setText("Advanced ▸")
                self._advanced_toggle.setCheckable(True)
                self._advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
                self._advanced_toggle.setAutoRaise(True)
                self._advanced_toggle.toggled.connect(self._show_advanced)
                box.setTitle("")
                box.hide()
                outer.addWidget(self._advanced_toggle)
            outer.addWidget(box)
            self._forms[title] = form
            self._group_boxes[title] = box
        outer.addStretch(1)
        self.state.changed.connect(self._show)
        self.state.changed.connect(lambda *_: self.changed.emit())
        self.state.checked.connect(self._refresh)
        self.state.validityChanged.connect(self.validityChanged)
        if state is not None and config is not None:
            self.state.update(config)
        for key in FIELDS:
            self._show(key, self.state.get(key))
        self._refresh()

    # ------------------------------------------------------------------ building
    def _make_row(self, key: str, f: Setting) -> QWidget:
        """The field's editor (with its unit) and its reason line under it (shown only while invalid)."""
        row = QWidget()
        lay = QVBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        editor = self._make_widget(key, f)
        if f.unit:
            line = QHBoxLayout()
            line.setSpacing(4)
            line.addWidget(editor, 1)
            unit = QLabel(f.unit)
            unit.setStyleSheet("color: #777;")
            line.addWidget(unit)
            lay.addLayout(line)
        else:
            lay.addWidget(editor)
        err = QLabel()
        err.setObjectName(f"error_{key}")
        err.setWordWrap(True)
        err.setStyleSheet("color: #b52b27; font-size: 8pt;")
        err.hide()
        lay.addWidget(err)
        self.rows[key] = row
        self.error_labels[key] = err
        return row

    def _make_widget(self, key: str, f: Setting) -> QWidget:
        if f.kind == "choice":
            w = QComboBox()
            w.addItems(list(f.choices))
            w.currentTextChanged.connect(lambda *_, k=key: self._on_edit(k))
        elif f.kind == "bool":
            w = QCheckBox()
            w.toggled.connect(lambda *_, k=key: self._on_edit(k))
        elif f.kind == "int":
            w = IntEdit(optional=f.optional, placeholder=f.placeholder)
            w.textChanged.connect(lambda *_, k=key: self._on_edit(k))
        elif f.kind == "float":
            w = FloatEdit(optional=f.optional, placeholder=f.placeholder)
            w.textChanged.connect(lambda *_, k=key: self._on_edit(k))
        elif f.kind == "path":
            edit = QLineEdit()
            edit.setPlaceholderText("choose a folder or file…")
            edit.textChanged.connect(lambda *_, k=key: self._on_edit(k))
            edit.textChanged.connect(lambda text: edit.setCursorPosition(len(text)) if not edit.hasFocus() else None)
            self.browse_button = QToolButton()
            self.browse_button.setText("…")
            self.browse_button.setToolTip("choose the folder (idx) or the .csv/.npz file (file)")
            self.browse_button.clicked.connect(self._browse)
            row = QWidget()
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(edit, 1)
            lay.addWidget(self.browse_button)
            self.widgets[key] = edit
            edit.setToolTip(f.help)
            return row
        else:  # pragma: no cover - the table above is the only caller
            raise ValueError(f.kind)
        w.setToolTip(f.help)
        w.setObjectName(f"field_{key}")
        self.widgets[key] = w
        return w

    def _show_advanced(self, on: bool) -> None:
        self._advanced_toggle.setText("Advanced ▾" if on else "Advanced ▸")
        self._group_boxes["Advanced"].setVisible(on)

    def _browse(self) -> None:
        edit: QLineEdit = self.widgets["data_path"]  # type: ignore[assignment]
        start = edit.text() or ""
        if self._combo("dataset").currentText() == "idx":
            path = QFileDialog.getExistingDirectory(self, "Choose an IDX folder", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a data file", start,
                                                  "Data files (*.csv *.npz);;All files (*)")
        if path:
            edit.setText(path)

    def _combo(self, key: str) -> QComboBox:
        return self.widgets[key]  # type: ignore[return-value]

    # ------------------------------------------------------------------ binding
    def set_config(self, cfg: RunConfig) -> None:
        """Every field of `cfg` into the state (the widgets follow)."""
        self.state.update(cfg)

    def set_value(self, key: str, value) -> None:
        """One field into the state (works while read-only)."""
        self.state.set(key, value)

    def config(self) -> RunConfig:
        """The configuration as held, invalid values included (see problems())."""
        return self.state.config()

    def problems(self) -> dict[str, str]:
        return self.state.problems()

    def is_valid(self) -> bool:
        return self.state.is_valid()

    def valid_config(self) -> RunConfig:
        """A validated RunConfig that fits in memory, or ConfigError naming the first problem."""
        return self.state.valid_config()

    def _on_edit(self, key: str) -> None:
        """A widget changed: its value (or raw text) goes into the state."""
        if self._editing is not None:   # our own write from _show
            return
        self._editing = key
        try:
            self.state.set(key, self._read(key))
        finally:
            self._editing = None
        if key in FULL_BATCH_KEYS:
            self._full_batch_for_lbfgs()

    def _full_batch_for_lbfgs(self) -> None:
        cfg = self.state.config()
        if cfg.optimizer != "lbfgs":
            return
        # unknown size: the largest batch allowed, which the trainer cuts to the training set
        n = training_set_size(cfg) or int(FIELDS["batch_size"].hi)
        self.state.update({"batch_size": n, "dropout": 0.0})

    def _show(self, key: str, value) -> None:
        """The state changed `key`: show it, unless it came from that very widget (the user types)."""
        if key not in self.widgets or key == self._editing:
            return
        self._editing = key
        try:
            self._write(key, value)
        finally:
            self._editing = None

    def _write(self, key: str, value) -> None:
        f, w = FIELDS[key], self.widgets[key]
        if f.kind == "choice":
            w.setCurrentIndex(max(0, w.findText(str(value))))
        elif f.kind == "bool":
            w.setChecked(bool(value))
        elif f.kind == "path":
            w.setText("" if value is None else str(value))
        elif isinstance(value, str):   # a raw (invalid) value: show it as it was typed
            w.setText(value)
        else:
            w.set_value(value)

    def _read(self, key: str):
        f, w = FIELDS[key], self.widgets[key]
        if f.kind == "choice":
            return w.currentText()
        if f.kind == "bool":
            return w.isChecked()
        if f.kind == "path":
            return w.text().strip() or None
        return w.value()

    # ------------------------------------------------------------------ feedback
    def _refresh(self) -> None:
        """Show the state's problems and warnings in place; rows shown only where they matter."""
        cfg, problems, warnings = self.state.config(), self.state.problems(), self.state.warnings()
        too_big = self.state.memory_problem()   # said in full in the summary, in a few words in place
        for key, w in self.widgets.items():
            reason = problems.get(key)
            set_invalid(w, reason, FIELDS[key].help)
            note = reason
            if not reason and key in warnings:     # a warning does not block Start: amber, not red
                note = f"unusually high (usual ≤ {FIELDS[key].usual_hi:g}): expect divergence"
                w.setToolTip(warnings[key])
            if not reason and key == "optimizer" and cfg.optimizer == "lbfgs":
                n = training_set_size(cfg)
                note = f"L-BFGS needs full batch: batch size = the training set{f' ({n})' if n else ''}, dropout 0"
            if too_big is not None and key in too_big.fields:
                note = too_big.short
            label = self.error_labels[key]
            label.setText(_short(key, note) if note else "")
            label.setStyleSheet(f"color: {'#b52b27' if reason else '#8a5a00'}; font-size: 8pt;")
            label.setVisible(bool(note))
        for title, keys in GROUPS:
            form = self._forms[title]
            for key in keys:
                rel = RELEVANT.get(key)
                form.setRowVisible(self.rows[key], rel is None or _safe(rel, cfg) or key in problems)
                en = ENABLED.get(key)
                if en is not None:
                    self.widgets[key].setEnabled(_safe(en, cfg) or key in problems)
        if "Advanced" in self._group_boxes and any(key in problems for key in GROUPS[-1][1]):
            self._advanced_toggle.setChecked(True)
        if too_big is not None:
            self.summary.setText(f"⚠ {too_big.message[0].upper()}{too_big.message[1:]}.")
        elif problems:
            n = len(problems)
            names = ", ".join(FIELDS[k].label if k in FIELDS else k for k in problems)
            self.summary.setText(f"⚠ {n} value{'s' if n > 1 else ''} to fix before starting: {names}")
        self.summary.setVisible(bool(problems))

    # ------------------------------------------------------------------ locking
    def set_read_only(self, on: bool, later: bool = False) -> None:
        """While a run exists the panel shows its configuration but cannot be edited. `later`:
        greyed on the next turn of the event loop (greying repaints the whole panel; Start's own
        turn stays short, and a timer between the two runs on time)."""
        if on == self._read_only:
            return
        self._read_only = on
        if later:
            QTimer.singleShot(0, self._grey)
        else:
            self._grey()

    def _grey(self) -> None:
        for box in self._group_boxes.values():
            box.setEnabled(not self._read_only)

    def is_read_only(self) -> bool:
        return self._read_only


def _short(key: str, reason: str) -> str:
    """The reason without the field's own name in front ("lr must be > 0" -> "must be > 0")."""
    return reason[len(key) + 1:] if reason.startswith(key + " ") else reason


def _safe(pred, cfg: RunConfig) -> bool:
    try:
        return bool(pred(cfg))
    except Exception:
        return True


__all__ = ["SetupPanel", "FIELDS", "GROUPS"]
