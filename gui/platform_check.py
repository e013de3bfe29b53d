"""Can Qt open a window here? Asked before Qt is imported, because Qt's answer is an abort.

On Linux, Qt's xcb platform plugin needs a handful of system libraries (libxcb-cursor0 and
friends since Qt 6.5). When one is missing, QApplication prints a multi-line plugin failure and
aborts the process (exit 134). `problem()` finds that case first and names the Debian/Ubuntu
packages to install, reading the plugin's missing libraries with `ldd`. No Qt import here.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

# the libraries the xcb plugin links that minimal desktops lack, and the package that brings each
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def _uses_xcb(env: dict[str, str]) -> bool:
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return env.get("XDG_SESSION_TYPE") != "wayland" and not env.get("WAYLAND_DISPLAY")


def _xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries `plugin` needs that the dynamic loader cannot find (via ldd)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing = [line.split()[0] for line in out.splitlines() if "not found" in line]
    return list(dict.fromkeys(missing))  # a library Qt's own libraries need too is listed once


def problem(env: dict[str, str] | None = None, plugin: Path | None = None) -> str | None:
    """One line saying why Qt cannot open a window here, or None when it should."""
    env = dict(os.environ) if env is None else env
    if not sys.platform.startswith("linux") or not _uses_xcb(env):
        return None
    if not env.get("DISPLAY"):
        return ("no display to open the window on (DISPLAY is not set): run it on a desktop, "
                "or headless with QT_QPA_PLATFORM=offscreen")
    plugin = plugin or _xcb_plugin()
    missing = missing_libraries(plugin) if plugin is not None else []
    if not missing:
        return None
    packages = sorted({PACKAGES.get(lib, lib) for lib in missing})
    return (f"Qt cannot open a window: this system lacks {', '.join(missing)}. "
            f"Install with: sudo apt-get install {' '.join(packages)}")
