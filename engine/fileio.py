"""Atomic file writes: a reader (or a crash) never sees half a file.

Write to a temporary file in the same folder, flush, then `os.replace` it over the target
(atomic on POSIX and Windows when both are on one file system).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator


def _default_mode() -> int:
    # mkstemp creates 0600 files; an export should get the user's usual permissions (umask)
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _default_mode()


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path`, on error it is removed.
    For writers that insist on a file name (Qt's image writer, pyqtgraph exporters)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_with(path: str | Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Call write(fileobj) on a temp file, then move it into place."""
    with atomic_path(path) as tmp:
        kwargs = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with open(tmp, mode, **kwargs) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())


def json_safe(obj: Any) -> Any:
    """NaN/inf become None (JSON has no such numbers); numpy scalars/arrays become Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return json_safe(obj.tolist())
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(json_safe(obj), allow_nan=False, separators=(",", ":"))
