"""Will this run fit? The memory a run needs, estimated from its configuration before anything
is built, and the memory the machine has free.

    est = estimate(cfg)                  # Estimate: bytes per part (weights, gradients, ...)
    problem = fit_problem(cfg)           # None, or MemoryProblem(message, fields) when it cannot fit
    host_available(), gpu_available()    # bytes free now (None when unknown)
    check_fits(cfg)                      # ConfigError(message) when it cannot fit (CLI: exit 2)

The parts, all float32 (4 bytes) unless said:
    weights      every parameter: hidden Linear layers, the output layer, BN's scale and shift
                 (its running mean and variance are counted here too: same size, no gradient)
    gradients    one per parameter
    optimizer    the optimizer's state per parameter: momentum/nesterov/adagrad/rmsprop one copy,
                 adam/adamw two (first and second moments), sgd none
    probes       the copy of the Linear weights taken before each probed step (update ratios)
    temporaries  two weight-sized temporaries of a step: the optimizer's update and the probes'
                 W - W_before (without them a step's peak was ~0.6-0.8 of the measured one)
    activations  one training batch: per hidden layer the Linear output and the activation output
                 (kept for backward), BN's output, dropout's mask and output; the input and the
                 logits; two layer-sized gradients alive at a time in backward. A validation pass
                 (no gradient: two layers alive at a time over every validation example) instead
                 when that is larger.
    data         the examples (float32) and labels (int64), twice: the raw arrays and the split,
                 preprocessed ones (on a GPU the second copy is on the device, the first on the host)
Torch's own allocator slack and the interpreter are not counted: the estimate is a floor.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .config import TOY_DATASETS, RunConfig
from ..errors import ConfigError

FLOAT, LABEL = 4, 8   # bytes: float32 values, int64 labels
OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adam": 2, "adamw": 2}
DIGITS = (1797, 64, 10)   # sklearn's bundled digits: examples, features, classes


@dataclass(frozen=True)
class Estimate:
    weights: int
    gradients: int
    optimizer: int
    probes: int
    temporaries: int
    activations: int
    data: int

    @property
    def total(self) -> int:
        return sum(self.parts().values())

    def parts(self) -> dict[str, int]:
        """The parts by size, largest first (zero parts left out)."""
        named = {"weights": self.weights, "gradients": self.gradients, "optimizer state": self.optimizer,
                 "probe snapshot": self.probes, "temporaries": self.temporaries, "activations": self.activations,
                 "data": self.data}
        return dict(sorted(((k, v) for k, v in named.items() if v), key=lambda kv: -kv[1]))


@dataclass(frozen=True)
class MemoryProblem:
    message: str               # one line: the estimate, its largest parts, what is free, what to change
    fields: tuple[str, ...]    # the settings to mark (the ones that make the largest part large)
    short: str = ""            # the same in a few words, for a mark beside a field


def data_shape(cfg: RunConfig) -> tuple[int, int, int] | None:
    """(examples, features, classes) without loading the data (a file's classes are taken as 10);
    None when a file cannot be read (the loader then says why, in words)."""
    if cfg.dataset in TOY_DATASETS:
        classes = cfg.classes if cfg.dataset in ("spiral", "blobs") else 2
        n = (cfg.n_samples // classes) * classes if cfg.dataset == "spiral" else cfg.n_samples
        return n, 2, classes
    if cfg.dataset == "digits":
        return DIGITS
    try:
        return _idx_shape(Path(cfg.data_path)) if cfg.dataset == "idx" else _file_shape(Path(cfg.data_path))
    except Exception:   # unreadable or odd: not this module's to explain
        return None


def estimate(cfg: RunConfig, shape: tuple[int, int, int] | None = None) -> Estimate:
    """The memory `cfg` needs, in bytes per part (see the module docstring)."""
    n, d, c = shape or data_shape(cfg) or (0, 0, 0)
    d, c = max(d, 1), max(c, 2)
    w, depth = cfg.width, cfg.depth
    linear_weights = d * w + (depth - 1) * w * w + w * c
    params = linear_weights + depth * w + c + (2 * depth * w if cfg.bn else 0)
    buffers = 2 * depth * w if cfg.bn else 0          # BN's running mean and variance
    n_val = int(round(cfg.val_fraction * n))
    n_train = n - n_val if cfg.subset is None else min(cfg.subset, n - n_val)
    b = max(1, min(cfg.batch_size, n_train)) if n_train else cfg.batch_size
    kept = 2 + (1 if cfg.bn else 0) + (2 if cfg.dropout > 0 else 0)   # per hidden layer, per example
    train_pass = b * (d + depth * kept * w + 2 * w + c)
    val_pass = n_val * (d + 2 * w + c)
    return Estimate(weights=FLOAT * (params + buffers), gradients=FLOAT * params,
                    optimizer=FLOAT * params * OPTIMIZER_COPIES.get(cfg.optimizer, 2),
                    probes=FLOAT * linear_weights, temporaries=2 * FLOAT * params,
                    activations=FLOAT * max(train_pass, val_pass),
                    data=2 * n * (FLOAT * d + LABEL))


def runs_on_gpu(device: str, *, import_torch: bool = True) -> bool | None:
    """Whether a run of `device` trains on a GPU; None when that cannot be told without starting
    CUDA here (import_torch=False, the window's GUI thread, before a run has used the GPU)."""
    if device == "cpu":
        return False
    if import_torch or "torch" in sys.modules:
        import torch
        if import_torch or torch.cuda.is_initialized():
            return torch.cuda.is_available()
    if not (os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidiactl")):
        return False   # no NVIDIA driver: the CPU (a cuda run is then refused in words when built)
    return None


def gpu_available() -> int | None:
    """The GPU memory free now (CUDA), or None."""
    try:
        import torch
        return int(torch.cuda.mem_get_info()[0])
    except Exception:
        return None


def host_available() -> int | None:
    """The host memory available to a new allocation: MemAvailable (Linux), else free pages."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def fit_problem(cfg: RunConfig, *, import_torch: bool = True) -> MemoryProblem | None:
    """Why `cfg` cannot fit in the memory available now, or None (also when either is unknown).
    A GPU run builds its model on the host first: the host needs the weights and the data, the
    GPU all but the host's copy of the data."""
    est = estimate(cfg)
    on_gpu = runs_on_gpu(cfg.device, import_torch=import_torch)
    if on_gpu is False:
        checks = [(est.parts(), host_available(), "memory")]
    else:
        checks = [({k: v for k, v in est.parts().items() if k in ("weights", "data")}, host_available(), "memory")]
        if on_gpu:
            gpu = est.parts()
            gpu["data"] = est.data // 2
            checks.append((gpu, gpu_available(), "GPU memory"))
    for parts, free, what in checks:
        need = sum(parts.values())
        if free is not None and need > free:
            return _too_big(parts, need, free, what)
    return None


def _too_big(parts: dict[str, int], need: int, free: int, what: str) -> MemoryProblem:
    largest = max(parts, key=parts.__getitem__)
    if largest == "activations":
        advice, fields = "use a smaller batch size or width", ("batch_size", "width")
    elif largest == "data":
        advice, fields = "use fewer examples (subset)", ("subset", "n_samples")
    else:
        advice, fields = "use fewer layers or a smaller width", ("depth", "width")
    shown = ", ".join(f"{k} {format_bytes(v)}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
                      if v >= 0.01 * need)
    return MemoryProblem(f"this run needs about {format_bytes(need)} ({shown}) but {format_bytes(free)} of "
                         f"{what} is available: {advice}", fields,
                         f"too big: needs about {format_bytes(need)}, {format_bytes(free)} available")


def check_fits(cfg: RunConfig) -> None:
    """ConfigError (one line) when `cfg` cannot fit in the memory available."""
    problem = fit_problem(cfg)
    if problem is not None:
        raise ConfigError(problem.message)


def format_bytes(n: float) -> str:
    """54 GB, 1.3 GB, 820 MB, 12 kB (decimal units, as memory is sold)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.2g} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n)} bytes"


# ----------------------------------------------------------------------------- file headers
def _idx_shape(folder: Path) -> tuple[int, int, int]:
    from .data_files import find_idx_pair   # the loader's own rule for which files are the pair
    images, _labels = find_idx_pair(folder)
    opener = gzip.open if images.suffix == ".gz" else open
    with opener(images, "rb") as f:
        magic = f.read(4)
        dims = struct.unpack(f">{magic[3]}I", f.read(4 * magic[3]))
    return dims[0], math.prod(dims[1:]), 10


def _file_shape(path: Path) -> tuple[int, int, int]:
    if path.suffix.lower() == ".npz":
        import numpy as np
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.removesuffix(".npy") in ("X", "x", "features"))
            with z.open(name) as f:
                fmt = np.lib.format
                major, _minor = fmt.read_magic(f)
                shape = (fmt.read_array_header_1_0(f) if major == 1 else fmt.read_array_header_2_0(f))[0]
        return shape[0], math.prod(shape[1:]), 10
    with open(path, "rb") as f:                  # csv: columns from the header, rows from the size
        first, second = f.readline(), f.readline()
    columns = first.count(b",") + 1
    rows = max(1, path.stat().st_size // max(len(second), 1))
    return rows, columns - 1, 10
