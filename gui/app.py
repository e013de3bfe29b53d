"""Start the window: `run_gui()` (main.py calls it), or a scripted run that trains and exports.

    run_gui()                                           # the window, as a user opens it
    run_gui(config="presets/x.toml")                    # ... with a configuration loaded
    run_gui(steps=300, export="out/", quit=True)        # train 300 steps live, export, exit 0

The scripted run uses the default setup (RunConfig, `steps` overriding its steps, or the file
given by `config`), presses Start in the real window, and when the target is reached writes every
plot as PNG, SVG and CSV, the dashboard PNG, metrics.csv and metrics.json into `export`. It
returns non-zero, with a message on stderr, when anything fails. It never touches the user's
remembered settings.

Startup is kept short by never importing torch in the window's process to show or train a run:
runs train in worker processes (engine/runs/worker.py), whose forkserver imports torch once, after
the first paint.
"""
from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from PySide6.QtCore import QEvent, QEventLoop, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QApplication

from .garbage import collect_garbage_on_the_gui_thread

APP_NAME = "babysit"
ORG_NAME = "babysit"


def make_icon() -> QIcon:
    """A falling loss curve on a rounded square, painted (no image file to ship)."""
    pm = QPixmap(64, 64)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor("#1f3b57"))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(2, 2, 60, 60, 12, 12)
    path = QPainterPath(QPointF(10, 14))
    path.cubicTo(QPointF(18, 46), QPointF(30, 48), QPointF(54, 50))
    p.setPen(QPen(QColor("#ffb347"), 5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(path)
    p.end()
    return QIcon(pm)


def ensure_app() -> QApplication:
    """The QApplication (reused when one exists, e.g. under pytest-qt)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setStyle("Fusion")   # the same look on every platform
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setWindowIcon(make_icon())
    collect_garbage_on_the_gui_thread()
    return app


class _AfterFirstPaint(QObject):
    """Calls `then` once, `delay_ms` after `widget` is first painted (or after `latest_ms`, should
    it never be painted: a window opened minimised)."""

    def __init__(self, widget, then, delay_ms: int, latest_ms: int):
        super().__init__(widget)
        self._then, self._delay_ms = then, delay_ms
        widget.installEventFilter(self)
        QTimer.singleShot(latest_ms, self, self._fire)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            QTimer.singleShot(self._delay_ms, self, self._fire)
        return False

    def _fire(self) -> None:
        if self._then is not None:
            then, self._then = self._then, None
            then()


def export_folder_problem(folder: str) -> str | None:
    """Why `folder` cannot take the exported files (it is created if missing), or None."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        return f"--export needs a folder, and {folder} is a file"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the export folder {folder}: {exc.strerror or exc}"
    if not os.access(path, os.W_OK):
        return f"cannot write into the export folder {folder}"
    return None


def run_gui(steps: int | None = None, export: str | None = None, quit: bool = False,
            config: str | None = None) -> int:
    """Open the window. With steps/export/quit: a scripted run (see the module docstring).
    Returns the process exit code."""
    if export is not None:  # a folder that cannot be written is said now, not after the training
        problem = export_folder_problem(export)
        if problem:
            print(f"babysit: error: {problem}", file=sys.stderr)
            return 2
    app = ensure_app()
    from .main_window import MainWindow
    from engine.errors import BabysitError

    scripted = steps is not None or export is not None or quit
    win = MainWindow(restore=not scripted, save_settings=not scripted)
    win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, not quit)
    if config:
        try:
            win.load_config(config)
        except BabysitError as exc:
            print(f"babysit: error: {exc}", file=sys.stderr)
            if scripted:
                win.close()
                return 2
            win.banner.show_message(f"{exc}\nThe default setup is shown instead.", "error")
    if steps is not None:
        win.setup.set_value("steps", int(steps))
        win.setup.set_value("epochs", None)
    # the window's own objects live as long as the process: out of the collector's sight, the GUI
    # thread's first collection does not walk them all (it came before the first paint)
    gc.freeze()
    win.show()
    if scripted:
        win.controller.warm()   # Start comes at once: its worker process is made now
    else:
        # the first run's worker process: its forkserver loads torch in a process of its own, but
        # on a core the first paint needs, so after it
        _AfterFirstPaint(win, win.controller.warm, delay_ms=0, latest_ms=5000)
        # what the first paint made lives as long as the window: out of the collector's sight too
        _AfterFirstPaint(win, gc.freeze, delay_ms=300, latest_ms=5000)
        return app.exec()

    result: dict = {"code": None, "handled": False}
    loop = QEventLoop()

    def finish(code: int, message: str | None = None) -> None:
        if result["code"] is not None:
            return
        result["code"] = code
        if message:
            print(f"babysit: {'' if code == 0 else 'error: '}{message}", file=sys.stderr)
        if quit:
            loop.quit()

    def on_state(state: str) -> None:
        if state in ("finished", "diverged", "error", "stopped") and not result["handled"]:
            result["handled"] = True   # once: stopping a diverged run reports "stopped" too
            problem = None
            if state == "diverged":
                problem = f"the run diverged: {win.controller.error}"
                win.controller.stop()
            elif state == "error":
                problem = win.controller.error or "training failed"
            elif state == "stopped":
                problem = "the run was stopped before its target"
            code = 0 if problem is None else 1
            if export:
                try:
                    files = win.export_everything(export)
                    print(f"babysit: wrote {len(files)} files to {export}", file=sys.stderr)
                except Exception as exc:
                    finish(1, f"export failed: {type(exc).__name__}: {exc}")
                    return
            finish(code, problem)

    def on_error(message: str) -> None:
        if win.controller.session is None:     # the run could not even be built
            finish(2, message)

    win.controller.stateChanged.connect(on_state)
    win.controller.errorOccurred.connect(on_error)
    win.closed.connect(lambda: finish(1, "the window was closed before the run ended"))
    def go() -> None:
        if not win.start() and win.controller.session is None:   # e.g. steps=0: invalid setup
            finish(2, win.banner.text() or "the run could not start")

    QTimer.singleShot(0, go)
    if not quit:
        code = app.exec()
        return int(result["code"] or code)
    loop.exec()
    for signal, slot in ((win.controller.stateChanged, on_state), (win.controller.errorOccurred, on_error)):
        try:
            signal.disconnect(slot)
        except (RuntimeError, TypeError):
            pass
    win.close()
    win.deleteLater()
    return int(result["code"] or 0)
