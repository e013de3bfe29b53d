"""Before Qt is imported, a machine that cannot open a window is told why in one line."""
import subprocess
import sys
from pathlib import Path

import pytest

from gui import platform_check

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's")


def _plugin_needing(tmp_path: Path, old: bytes, new: bytes) -> Path:
    """A copy of Qt's real xcb plugin whose dependency `old` is renamed to `new` (same length)."""
    plugin = platform_check._xcb_plugin()
    if plugin is None:
        pytest.skip("PySide6's xcb plugin is not installed")
    data = plugin.read_bytes()
    assert old in data and len(old) == len(new)
    # the same layout as the real one, so its $ORIGIN/../../lib finds Qt's own libraries
    (tmp_path / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (tmp_path / "Qt" / "lib").symlink_to(plugin.parents[2] / "lib")
    copy = tmp_path / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    copy.write_bytes(data.replace(old + b"\0", new + b"\0"))
    return copy


def test_a_missing_library_is_named_with_the_command_that_installs_it(tmp_path):
    plugin = _plugin_needing(tmp_path, b"libxcb-cursor.so.0", b"libxcb-cursoX.so.0")
    if platform_check.missing_libraries(plugin) != ["libxcb-cursoX.so.0"]:
        pytest.skip("ldd is not available or resolves differently here")
    line = platform_check.problem({"DISPLAY": ":0"}, plugin)
    assert line is not None and "\n" not in line
    assert "libxcb-cursoX.so.0" in line and "apt-get install" in line


def test_known_libraries_map_to_their_packages():
    assert platform_check.PACKAGES["libxcb-cursor.so.0"] == "libxcb-cursor0"


def test_nothing_is_reported_when_the_plugin_loads_or_qt_is_headless(tmp_path):
    plugin = platform_check._xcb_plugin()
    if plugin is None or platform_check.missing_libraries(plugin):
        pytest.skip("this machine lacks the xcb plugin's libraries itself")
    assert platform_check.problem({"DISPLAY": ":0"}, plugin) is None
    assert platform_check.problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert platform_check.problem({"WAYLAND_DISPLAY": "wayland-0"}) is None


def test_the_app_without_a_display_exits_with_one_line():
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    out = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0
    assert "QT_QPA_PLATFORM=offscreen" in out.stderr and "Traceback" not in out.stderr
