"""Reading a user's data files: MNIST-style IDX folders (raw or gzip) and CSV/NPZ tables.

    from engine.train.data_files import load_file, load_idx_folder
    X, y, n_classes = load_file("points.csv")    # X float32 (N, D), y int64 labels 0..C-1

engine.train.data's make_dataset reads the 'idx' and 'file' datasets through these. Every problem a
user can cause (a missing folder, a truncated file, a word in a CSV) raises DataError with one
line naming the file; no KeyError/struct.error/gzip error leaks out.
"""
from __future__ import annotations

import csv
import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

# CSV header names taken as the label, in this order: "y" last, since a header x,y,class names two
# coordinates and a label
LABEL_COLUMNS = ("label", "labels", "target", "class", "y")
NPZ_X_KEYS = ("X", "x", "features")
NPZ_Y_KEYS = ("y", "labels", "label", "target")
# IDX type codes (third magic byte) -> big-endian numpy dtype, per the MNIST file-format spec
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ----------------------------------------------------------------------------- IDX (MNIST format)
def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (raw or gzip) into a native-endian array of the header's shape."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    zero1, zero2, code, ndim = data[:4]
    if zero1 or zero2 or code not in _IDX_TYPES or ndim == 0:
        raise DataError(f"{path}: bad magic number 0x{data[:4].hex()}, not an IDX file")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX file: header needs {header} bytes, file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    count = math.prod(dims)
    expected, actual = count * dtype.itemsize, len(data) - header
    if actual != expected:
        shape = "x".join(map(str, dims))
        what = "truncated IDX file" if actual < expected else "IDX file has trailing bytes"
        raise DataError(f"{path}: {what}: header says {shape} values ({expected} bytes), found {actual} bytes")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))   # native order (and a writable copy)


def find_idx_pair(folder: Path) -> tuple[Path, Path]:
    """The train images/labels files in folder; the t10k (test) pair only if no train pair exists."""
    found: dict[tuple[str, str], list[Path]] = {}
    for p in folder.iterdir():
        name = p.name.lower().removesuffix(".gz")
        if not p.is_file() or p.name.startswith("."):  # hidden files, e.g. macOS "._" sidecars on copied drives
            continue
        split = "train" if "train" in name else "test" if ("t10k" in name or "test" in name) else None
        kind = "images" if ("images" in name or "idx3" in name) else \
               "labels" if ("labels" in name or "idx1" in name) else None
        if split and kind:
            found.setdefault((split, kind), []).append(p)
    for split in ("train", "test"):
        if (split, "images") in found and (split, "labels") in found:
            # prefer an uncompressed copy when both foo and foo.gz are present (faster to read)
            first = lambda ps: sorted(ps, key=lambda p: (p.suffix == ".gz", p.name))[0]  # noqa: E731
            return first(found[(split, "images")]), first(found[(split, "labels")])
    halves = [f"{s} {k}" for (s, k) in found]
    detail = f" (found only {', '.join(sorted(halves))})" if halves else ""
    raise DataError(f"{folder}: no IDX image/label pair found, expected train-images-idx3-ubyte and "
                    f"train-labels-idx1-ubyte (optionally .gz){detail}")


def load_idx_folder(folder: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Images flattened to (N, rows*cols) float32 and labels remapped to 0..C-1."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"IDX folder not found: {folder}")
    if not folder.is_dir():
        raise DataError(f"{folder}: the idx dataset needs a folder holding the IDX files, not a file")
    images_path, labels_path = find_idx_pair(folder)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim < 2:
        raise DataError(f"{images_path}: expected images (at least 2 dimensions), found a 1-D IDX array")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a 1-D label array, found shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} images but {len(labels)} labels "
                        f"({images_path.name}, {labels_path.name})")
    X = _features(images.reshape(len(images), -1), images_path)
    y, c = _encode_labels(labels, labels_path)
    return X, y, c


# ----------------------------------------------------------------------------- CSV / NPZ
def load_file(path: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """A .csv or .npz of features and integer labels; labels remapped to 0..C-1 (sorted)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise DataError(f"{path}: unknown data file type '{path.suffix}' (expected .csv or .npz)")
    X, y = _load_csv(path) if suffix == ".csv" else _load_npz(path)
    X = _features(X, path)
    y, c = _encode_labels(y, path)
    return X, y, c


def _load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        text = _read_bytes(path).decode("utf-8-sig")   # -sig: tolerate Excel's byte-order mark
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    reader = csv.reader(text.splitlines())
    rows, lines = [], []    # lines: the file's line number of each row, for error messages
    for row in reader:
        if any(cell.strip() for cell in row):
            rows.append(row)
            lines.append(reader.line_num)
    if not rows:
        raise DataError(f"{path}: the file is empty")

    # A header is a first row that is all words, or that names a label column. A first row of
    # numbers with one typo is data, so the typo is reported below instead of vanishing.
    first = [cell.strip() for cell in rows[0]]
    words = [not _is_number(cell) for cell in first]
    has_label_name = any(cell.lower() in LABEL_COLUMNS for cell in first)
    header = first if (all(words) or (any(words) and has_label_name)) else None
    if header is not None:
        rows, lines = rows[1:], lines[1:]
    width = len(first)
    if not rows:
        raise DataError(f"{path}: the file has a header but no data rows")
    if width < 2:
        raise DataError(f"{path}: need at least one feature column and a label column, found {width} column")
    for row, line in zip(rows, lines):
        if len(row) != width:
            raise DataError(f"{path}: row {line} has {len(row)} columns, expected {width}")
    try:
        table = np.array(rows, dtype=np.float64)   # fast path; on failure find the cell in words
    except ValueError:
        for row, line in zip(rows, lines):
            for col, cell in enumerate(row):
                if not _is_number(cell):
                    name = f" ('{header[col]}')" if header else ""
                    raise DataError(f"{path}: row {line}, column {col + 1}{name}: '{cell.strip()}' is not a number")
        raise DataError(f"{path}: could not read the values as numbers") from None

    label_col = width - 1
    if header is not None:
        lowered = [h.lower() for h in header]
        for candidate in LABEL_COLUMNS:
            if candidate in lowered:
                label_col = lowered.index(candidate)
                break
    return np.delete(table, label_col, axis=1), table[:, label_col]


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:   # no pickle: a data file must not run code
            x_key = next((k for k in NPZ_X_KEYS if k in npz.files), None)
            y_key = next((k for k in NPZ_Y_KEYS if k in npz.files), None)
            if x_key is None or y_key is None:
                missing = "features (X, x or features)" if x_key is None else "labels (y, labels, label or target)"
                raise DataError(f"{path}: no array of {missing}; it holds {', '.join(npz.files) or 'nothing'}")
            X, y = npz[x_key], npz[y_key]
    except DataError:
        raise
    except Exception as exc:   # BadZipFile, EOFError, ValueError (object arrays), OSError: all say "unreadable"
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if X.ndim < 2:
        raise DataError(f"{path}: features must be 2-D (examples x features), found shape {X.shape}")
    if len(X) == 0:
        raise DataError(f"{path}: no examples (features of shape {X.shape})")
    if y.ndim != 1 or len(y) != len(X):
        raise DataError(f"{path}: labels must be 1-D with one per example; features {X.shape}, labels {y.shape}")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{path}: features and labels must be numeric (found {X.dtype}, {y.dtype})")
    return X.reshape(len(X), -1).astype(np.float64), y   # images (N, h, w) become (N, h*w)


# ----------------------------------------------------------------------------- shared checks
def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip (by magic bytes or a .gz name)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    if not data:
        raise DataError(f"{path}: the file is empty")
    if data[:2] == b"\x1f\x8b" or path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc})") from None
    return data


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _features(X: np.ndarray, source: Path) -> np.ndarray:
    """The features as the model's float32, checked: examples and features present, every value
    finite. Checked after the conversion: a value beyond float32's range (about 3.4e38) becomes
    infinite in it, and would surface as a "diverged" loss at the first step."""
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{source}: no examples or no features (shape {X.shape})")
    if not np.all(np.isfinite(X)):
        raise DataError(f"{source}: features contain NaN or infinite values")
    with np.errstate(over="ignore"):  # an overflow is reported below, in words
        X32 = X.astype(np.float32)
    if not np.all(np.isfinite(X32)):
        big = X[~np.isfinite(X32)].flat[0]
        raise DataError(f"{source}: feature value {big:g} is too large (float32, the model's type, ends near 3.4e38)")
    return X32


def _encode_labels(y: np.ndarray, source: Path) -> tuple[np.ndarray, int]:
    """Integer labels of any values -> 0..C-1 in sorted order; at least 2 classes."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DataError(f"{source}: labels must be integers, found {y[bad][0]:g}")
    elif y.dtype.kind not in "iub":
        raise DataError(f"{source}: labels must be integers (found {y.dtype})")
    values, codes = np.unique(y, return_inverse=True)
    if len(values) < 2:
        raise DataError(f"{source}: need at least 2 classes, all labels are {values[0]:g}")
    return codes.reshape(-1).astype(np.int64), int(len(values))
