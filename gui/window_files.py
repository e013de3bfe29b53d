"""The window's files: its configuration as TOML, the exports (PNG/SVG/CSV, metrics), and the
remembered settings (geometry, splitter, the last configuration and folder). A part of MainWindow
(a mixin): it reads the window's setup panel, controller, dashboard and status bar.

    win.save_config("run.toml"); win.load_config("run.toml")
    win.export_everything("out/")            # every plot as PNG, SVG, CSV + the dashboard + metrics
    win.store_settings(); win.restore_settings()
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.train.config import RunConfig
from engine.errors import BabysitError
from engine.fileio import atomic_write_text

from .knobs import WATCHABLE_PACE

SETTINGS_ENV = "BABYSIT_SETTINGS_DIR"


def open_settings(settings_dir: str | os.PathLike | None = None) -> QSettings:
    """The window's settings: `settings_dir` or $BABYSIT_SETTINGS_DIR (tests), else the user's."""
    folder = settings_dir or os.environ.get(SETTINGS_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(folder) / "babysit.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "babysit", "babysit")


class WindowFiles:
    def _last_dir(self) -> str:
        return str(open_settings(self._settings_dir).value("last_dir", str(Path.home())))

    def _remember_dir(self, path: str | Path) -> None:
        p = Path(path)
        open_settings(self._settings_dir).setValue("last_dir", str(p if p.is_dir() else p.parent))

    def save_config(self, path: str | Path) -> None:
        """Write the setup as TOML; ConfigError (naming the problem) if a value is invalid."""
        atomic_write_text(path, self.setup.valid_config().to_toml())

    def load_config(self, path: str | Path) -> RunConfig:
        """Read a TOML file into the setup panel; ConfigError leaves the panel as it was."""
        cfg = RunConfig.from_toml(path)
        self.setup.set_config(cfg)
        return cfg

    def save_config_dialog(self) -> None:
        if not self.setup.is_valid():
            QMessageBox.warning(self, "Cannot save the configuration",
                                "Fix these first:\n" + "\n".join(self.setup.problems().values()))
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save configuration", str(Path(self._last_dir()) / "run.toml"),
                                              "TOML (*.toml)")
        if not path:
            return
        try:
            self.save_config(path)
        except (OSError, BabysitError) as exc:
            QMessageBox.warning(self, "Cannot save the configuration", str(exc))
            return
        self._remember_dir(path)
        self.statusBar().showMessage(f"saved {path}", 5000)

    def load_config_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load configuration", self._last_dir(), "TOML (*.toml);;All files (*)")
        if not path:
            return
        try:
            self.load_config(path)
        except BabysitError as exc:
            QMessageBox.warning(self, "Cannot load the configuration", f"{exc}\n\nThe current setup is unchanged.")
            return
        self._remember_dir(path)
        self.statusBar().showMessage(f"loaded {path}", 5000)

    def export_metrics(self, directory: str | Path, stem: str = "metrics") -> list[Path]:
        d = Path(directory)
        csv_path, json_path = d / f"{stem}.csv", d / f"{stem}.json"
        self.controller.history.to_csv(csv_path)
        self.controller.history.to_json(json_path)
        return [csv_path, json_path]

    def export_everything(self, directory: str | Path) -> list[Path]:
        """Every plot as PNG, SVG and CSV, the dashboard PNG, and metrics.csv + metrics.json."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        files = list(self.dashboard.export_all(d))
        return files + self.export_metrics(d)

    def _export(self, what: str, fn: Callable[[], object], path: str) -> None:
        try:
            result = fn()
        except Exception as exc:   # disk full, permissions, an exporter's complaint: in words
            QMessageBox.warning(self, f"Cannot export {what}", f"{type(exc).__name__}: {exc}")
            return
        self._remember_dir(path)
        n = len(result) if isinstance(result, list) else 1
        self.statusBar().showMessage(f"exported {what}: {n} file{'s' if n != 1 else ''} in {path}", 8000)

    def export_png_dialog(self) -> None:
        if self._nothing_recorded():
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export dashboard PNG", str(Path(self._last_dir()) / "dashboard.png"),
                                              "PNG image (*.png)")
        if path:
            if Path(path).suffix.lower() != ".png":   # "dash" typed without the extension
                path += ".png"
            self._export("the dashboard", lambda: self.dashboard.export_dashboard_png(path), path)

    def export_all_dialog(self) -> None:
        if self._nothing_recorded():
            return
        path = QFileDialog.getExistingDirectory(self, "Export all plots into a folder", self._last_dir())
        if path:
            self._export("all plots", lambda: self.dashboard.export_all(path), path)

    def export_metrics_dialog(self) -> None:
        if self._nothing_recorded():
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics (CSV and JSON)",
                                              str(Path(self._last_dir()) / "metrics.csv"), "CSV (*.csv)")
        if path:
            p = Path(path)
            self._export("metrics", lambda: self.export_metrics(p.parent, p.stem), str(p.parent))

    def _nothing_recorded(self) -> bool:
        """True (and the user is told) when there is no run's data to export yet."""
        if len(self.controller.history) == 0:
            QMessageBox.information(self, "Nothing to export yet",
                                    "No step has been recorded yet: start a run (F5) first.")
            return True
        return False

    def restore_settings(self) -> None:
        s = open_settings(self._settings_dir)
        geometry = s.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        splitter = s.value("splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        pace = s.value("pace", WATCHABLE_PACE)  # a new user's run lasts long enough to watch
        self.knobs.set_pace(None if pace in (None, "", "none") else float(pace))
        text = s.value("config")
        if isinstance(text, str) and text.strip():
            try:
                self.setup.set_config(RunConfig.from_dict(tomllib.loads(text)))
            except (tomllib.TOMLDecodeError, BabysitError, TypeError) as exc:
                self.statusBar().showMessage(f"the last configuration could not be restored: {exc}", 10000)

    def store_settings(self) -> None:
        s = open_settings(self._settings_dir)
        s.setValue("geometry", self.saveGeometry())
        s.setValue("splitter", self.splitter.saveState())
        s.setValue("pace", "none" if self.knobs.pace is None else self.knobs.pace)
        if self.setup.is_valid():
            s.setValue("config", self.setup.config().to_toml())
        s.sync()
