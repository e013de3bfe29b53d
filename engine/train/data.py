"""Datasets: toy 2-D generators, sklearn's bundled digits, MNIST-style IDX folders, CSV/NPZ files.

    from engine.train.config import RunConfig
    from engine.train.data import build_dataset
    ds = build_dataset(RunConfig(dataset="spiral", classes=3, preprocess="standardize"))
    ds.X_train.shape, ds.n_classes        # (720, 2), 3

`make_dataset` returns raw (X float32, y int64, n_classes); `build_dataset` adds the seeded
train/validation split, the optional `subset`, and preprocessing whose statistics come from the
training split only (validation data and `Dataset.transform` reuse them, as at test time).
Every problem a user can cause (a missing folder, a truncated file, a word in a CSV, too few
examples to split) raises DataError with one line naming the file or dataset; the file readers
are in engine/train/data_files.py.

Noise: `noise` is in the spiral's units (0.2 = the classic CS231n picture) and is scaled per
generator so the same value looks similarly "moderate" everywhere: circles use noise*0.5 (the
rings are only 0.5 apart), moons noise*1, xor noise*0.5 (quadrants span 1), blobs use
cluster_std = 1 + 4*noise (centres lie in [-10, 10]^2, so 0.2 -> 1.8 gives separable blobs).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import PREPROCESS
from .data_files import load_file, load_idx_folder
from ..errors import DataError

if TYPE_CHECKING:  # only for the annotation; config imports nothing from here
    from .config import RunConfig


@dataclass
class Dataset:
    name: str
    X_train: np.ndarray          # float32 (N, D), preprocessed
    y_train: np.ndarray          # int64 (N,), labels 0..C-1
    X_val: np.ndarray            # float32 (M, D), preprocessed with the TRAINING statistics
    y_val: np.ndarray            # int64 (M,)
    n_classes: int
    mean: np.ndarray | None      # (D,) training mean; None when preprocess is 'none'
    std: np.ndarray | None       # (D,) training std (0 replaced by 1); None unless 'standardize'
    preprocess: str
    raw_train: np.ndarray | None = None   # unpreprocessed training X, for plotting on original axes

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_val(self) -> int:
        return int(self.X_val.shape[0])

    def transform(self, X_raw: np.ndarray) -> np.ndarray:
        """Apply this dataset's preprocessing to raw inputs (e.g. a grid for decision boundaries)."""
        X = np.array(X_raw, dtype=np.float32)   # a copy: callers keep their own array untouched
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(f"transform expects an array of shape (n, {self.n_features}), got {X.shape}")
        if self.mean is not None:
            X -= self.mean
        if self.std is not None:
            X /= self.std
        return X


# ----------------------------------------------------------------------------- raw datasets
def make_dataset(name: str, *, n_samples: int = 900, classes: int = 3, noise: float = 0.2,
                 seed: int = 0, data_path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Raw X (float32, (N, D)), y (int64, (N,)) and the number of classes. Deterministic in seed.

    n_samples/classes/noise apply to the toy generators only; circles, moons and xor always have
    2 classes; digits, idx and file use every example they hold."""
    if name == "spiral":
        X, y, c = _spiral(n_samples, classes, noise, seed)
    elif name == "circles":
        from sklearn.datasets import make_circles   # lazy: sklearn is slow to import
        X, y = make_circles(n_samples=n_samples, factor=0.5, noise=noise * 0.5, random_state=seed)
        c = 2
    elif name == "moons":
        from sklearn.datasets import make_moons
        X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
        c = 2
    elif name == "xor":
        rng = np.random.default_rng(seed)
        clean = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
        y = (clean[:, 0] * clean[:, 1] > 0).astype(np.int64)   # labels from the clean quadrant
        X = clean + rng.standard_normal(clean.shape) * noise * 0.5
        c = 2
    elif name == "blobs":
        from sklearn.datasets import make_blobs
        X, y = make_blobs(n_samples=n_samples, centers=classes, cluster_std=1.0 + 4.0 * noise,
                          random_state=seed)
        c = classes
    elif name == "digits":
        from sklearn.datasets import load_digits    # bundled with sklearn: no download
        X, y = load_digits(return_X_y=True)
        c = 10
    elif name in ("idx", "file"):
        if not data_path:
            raise DataError(f"dataset '{name}' needs a data path")
        data_path = Path(data_path).expanduser()  # "~/mnist" in a TOML file or the setup panel
        X, y, c = load_idx_folder(data_path) if name == "idx" else load_file(data_path)
    else:
        raise DataError(f"unknown dataset '{name}'")
    return np.ascontiguousarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64), int(c)


def _spiral(n_samples: int, classes: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """CS231n's spiral: `classes` arms of n_samples//classes points, radius 0..1, angle noise."""
    per_arm = n_samples // classes
    if per_arm < 1:
        raise DataError(f"spiral: {n_samples} samples are too few for {classes} arms")
    rng = np.random.default_rng(seed)
    X = np.zeros((per_arm * classes, 2))
    y = np.zeros(per_arm * classes, dtype=np.int64)
    for j in range(classes):
        ix = slice(per_arm * j, per_arm * (j + 1))
        r = np.linspace(0.0, 1.0, per_arm)
        t = np.linspace(j * 4, (j + 1) * 4, per_arm) + rng.standard_normal(per_arm) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y, classes


# ----------------------------------------------------------------------------- split + preprocess
def split_dataset(X: np.ndarray, y: np.ndarray, n_classes: int, *, name: str = "data",
                  val_fraction: float = 0.2, seed: int = 0, subset: int | None = None,
                  preprocess: str = "standardize") -> Dataset:
    """Seeded shuffle, hold out round(val_fraction*N), keep the first `subset` training examples,
    then preprocess with statistics of that (subset) training split only."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    n = len(X)
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(val_fraction * n))
    if n - n_val < 1:
        raise DataError(f"{name}: {n} examples are too few to hold out a validation fraction of {val_fraction:g}")
    val_idx, train_idx = order[:n_val], order[n_val:]
    if subset is not None:
        train_idx = train_idx[:subset]   # larger than the training set: slicing keeps all of it
    raw_train, raw_val = X[train_idx], X[val_idx]

    mean, std = preprocess_stats(raw_train, preprocess)
    ds = Dataset(name=name, X_train=raw_train, y_train=y[train_idx], X_val=raw_val, y_val=y[val_idx],
                 n_classes=int(n_classes), mean=mean, std=std, preprocess=preprocess, raw_train=raw_train)
    if preprocess != "none":
        ds.X_train, ds.X_val = ds.transform(raw_train), ds.transform(raw_val)
    return ds


def preprocess_stats(raw_train: np.ndarray, preprocess: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(mean, std) that `preprocess` subtracts and divides by, from the training inputs (None: not used)."""
    if preprocess not in PREPROCESS:
        raise DataError(f"unknown preprocessing '{preprocess}'")
    mean = std = None
    if preprocess != "none":
        # float64 sums: float32 accumulation drifts on 60000-row MNIST
        mean = raw_train.mean(axis=0, dtype=np.float64).astype(np.float32)
    if preprocess == "standardize":
        std64 = raw_train.astype(np.float64).std(axis=0)
        # constant features (digits' corner pixels, a 1-example subset) would divide by 0 -> NaN
        std = np.where(std64 < 1e-8, 1.0, std64).astype(np.float32)
    return mean, std


def preprocessing_views(raw_train: np.ndarray) -> dict[str, np.ndarray]:
    """The training inputs under each preprocessing (none, center, standardize), as the lecture's
    "original data / zero-centered / normalized" figure shows them."""
    raw = np.asarray(raw_train, dtype=np.float32)
    views = {}
    for name in PREPROCESS:
        mean, std = preprocess_stats(raw, name)
        X = raw.copy()
        if mean is not None:
            X -= mean
        if std is not None:
            X /= std
        views[name] = X
    return views


def build_dataset(cfg: "RunConfig") -> Dataset:
    """The dataset a run configuration describes, split and preprocessed."""
    X, y, n_classes = make_dataset(cfg.dataset, n_samples=cfg.n_samples, classes=cfg.classes,
                                   noise=cfg.noise, seed=cfg.seed, data_path=cfg.data_path)
    return split_dataset(X, y, n_classes, name=cfg.dataset, val_fraction=cfg.val_fraction,
                         seed=cfg.seed, subset=cfg.subset, preprocess=cfg.preprocess)
