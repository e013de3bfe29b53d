"""Start the window as `python main.py` does and exit the moment it is first painted.

    python benchmarks/startup_probe.py        (bench_startup.py times this process from spawn)

An application-wide event filter watches for the first Paint event of the main window (or any
widget inside it); it then prints the time since this interpreter started its own code and
leaves at once with os._exit, so the measured span is: interpreter start, imports, building the
window, first paint. Settings go to a temporary folder, not the user's.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

T0 = time.perf_counter()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("BABYSIT_SETTINGS_DIR", tempfile.mkdtemp(prefix="babysit-bench-settings-"))


def main() -> int:
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QMainWindow

    from gui.app import ensure_app

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
            if event.type() == QEvent.Type.Paint and hasattr(obj, "window"):
                win = obj.window()
                if isinstance(win, QMainWindow) and win.isVisible():
                    print(f"first paint {time.perf_counter() - T0:.3f} s after the script began", flush=True)
                    os._exit(0)
            return False

    app = ensure_app()
    watcher = FirstPaint()
    app.installEventFilter(watcher)
    import main as entry
    return entry.main(["gui"])


if __name__ == "__main__":
    code = main()
    print("the window closed without being painted", file=sys.stderr)
    sys.exit(code or 3)
