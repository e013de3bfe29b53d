"""engine.train.data: generators, file loaders (written here to tmp_path), split and preprocessing."""
import gzip
import struct

import numpy as np
import pytest

from engine.train.config import RunConfig
from engine.train.data import Dataset, build_dataset, make_dataset, split_dataset
from engine.train.data_files import read_idx
from engine.errors import DataError


# ----------------------------------------------------------------------------- toy generators
@pytest.mark.parametrize("name,classes,expected_c", [
    ("spiral", 3, 3), ("spiral", 5, 5), ("circles", 3, 2), ("moons", 3, 2), ("xor", 3, 2), ("blobs", 4, 4)])
def test_toy_shapes_classes_and_determinism(name, classes, expected_c):
    X, y, c = make_dataset(name, n_samples=300, classes=classes, noise=0.2, seed=7)
    assert c == expected_c
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.ndim == 2 and X.shape[1] == 2 and len(X) == len(y)
    assert set(np.unique(y)) == set(range(expected_c))   # every class present, labels 0..C-1
    X2, y2, _ = make_dataset(name, n_samples=300, classes=classes, noise=0.2, seed=7)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _, _ = make_dataset(name, n_samples=300, classes=classes, noise=0.2, seed=8)
    assert not np.array_equal(X, X3)


def test_spiral_arms():
    X, y, c = make_dataset("spiral", n_samples=900, classes=4, noise=0.0, seed=0)
    assert c == 4 and X.shape == (900, 2)
    assert np.bincount(y).tolist() == [225] * 4
    # noiseless arm j: angle runs j*4..(j+1)*4 and radius 0..1, so the last point is at (sin, cos)(4j+4)
    for j in range(4):
        arm = X[y == j]
        np.testing.assert_allclose(arm[-1], [np.sin(4 * j + 4), np.cos(4 * j + 4)], atol=1e-6)
        np.testing.assert_allclose(np.hypot(arm[:, 0], arm[:, 1]), np.linspace(0, 1, 225), atol=1e-6)
    X, _, _ = make_dataset("spiral", n_samples=100, classes=3)
    assert len(X) == 99   # n_samples // classes points per arm


def test_xor_labels_follow_quadrants_when_noiseless():
    X, y, _ = make_dataset("xor", n_samples=400, noise=0.0, seed=1)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(np.int64))
    assert X.min() >= -1 and X.max() <= 1


def test_digits_shapes():
    X, y, c = make_dataset("digits")
    assert X.shape == (1797, 64) and y.shape == (1797,) and c == 10
    assert X.dtype == np.float32 and X.min() == 0 and X.max() == 16


def test_unknown_dataset_and_missing_path():
    with pytest.raises(DataError, match="unknown dataset"):
        make_dataset("imagenet")
    with pytest.raises(DataError, match="needs a data path"):
        make_dataset("file")


# ----------------------------------------------------------------------------- IDX
def idx_bytes(arr: np.ndarray, code: int = 0x08, dtype: str = ">u1") -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(dtype).tobytes()


IMAGES = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4) * 4
LABELS = np.array([3, 1, 4, 1, 5], dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder_raw_and_gzip(tmp_path, compress):
    def write(name, data):
        if compress:
            (tmp_path / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (tmp_path / name).write_bytes(data)
    write("train-images-idx3-ubyte", idx_bytes(IMAGES))
    write("train-labels-idx1-ubyte", idx_bytes(LABELS))
    X, y, c = make_dataset("idx", data_path=tmp_path)
    assert X.shape == (5, 12) and X.dtype == np.float32
    np.testing.assert_array_equal(X, IMAGES.reshape(5, 12).astype(np.float32))
    np.testing.assert_array_equal(y, [1, 0, 2, 0, 3])   # labels 1,3,4,5 remapped in sorted order
    assert c == 4


def test_idx_prefers_train_and_falls_back_to_t10k(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(IMAGES[:2]))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(LABELS[:2]))
    X, _, _ = make_dataset("idx", data_path=tmp_path)
    assert len(X) == 2
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(IMAGES))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(LABELS))
    X, _, _ = make_dataset("idx", data_path=tmp_path)
    assert len(X) == 5


def test_read_idx_other_dtypes(tmp_path):
    arr = np.array([[1.5, -2.0], [3.25, 1e6]])
    (tmp_path / "f.idx").write_bytes(idx_bytes(arr, 0x0E, ">f8"))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), arr)
    shorts = np.array([-300, 0, 300])
    (tmp_path / "s.idx").write_bytes(idx_bytes(shorts, 0x0B, ">i2"))
    np.testing.assert_array_equal(read_idx(tmp_path / "s.idx"), shorts)


def test_idx_errors(tmp_path):
    good = idx_bytes(IMAGES)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(good[:-7])
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(LABELS))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated IDX file: header says 5x3x4"):
        make_dataset("idx", data_path=tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: bad magic number 0x1234"):
        make_dataset("idx", data_path=tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(IMAGES[:4]))
    with pytest.raises(DataError, match="4 images but 5 labels"):
        make_dataset("idx", data_path=tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        make_dataset("idx", data_path=tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(DataError, match="not a valid gzip file"):
        make_dataset("idx", data_path=tmp_path)


def test_idx_folder_problems(tmp_path):
    with pytest.raises(DataError, match="IDX folder not found"):
        make_dataset("idx", data_path=tmp_path / "nope")
    with pytest.raises(DataError, match="no IDX image/label pair"):
        make_dataset("idx", data_path=tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(IMAGES))
    with pytest.raises(DataError, match="found only train images"):
        make_dataset("idx", data_path=tmp_path)


# ----------------------------------------------------------------------------- CSV / NPZ
def test_csv_with_header_and_named_label_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,target,b\n1.0,7,2\n3,9,4.5\n\n5,7,6\n")
    X, y, c = make_dataset("file", data_path=path)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5], [5, 6]])
    np.testing.assert_array_equal(y, [0, 1, 0])   # 7 -> 0, 9 -> 1
    assert c == 2


def test_csv_without_header_uses_last_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("0.5,1,-2\n1.5,2,10\n2.5,3,-2\n")
    X, y, c = make_dataset("file", data_path=path)
    np.testing.assert_array_equal(X, [[0.5, 1], [1.5, 2], [2.5, 3]])
    np.testing.assert_array_equal(y, [0, 1, 0])   # -2 -> 0, 10 -> 1
    assert c == 2 and X.dtype == np.float32 and y.dtype == np.int64


def test_csv_errors(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x1,x2,label\n1,2,0\n3,oops,1\n")
    with pytest.raises(DataError, match=r"d\.csv: row 3, column 2 \('x2'\): 'oops' is not a number"):
        make_dataset("file", data_path=path)
    path.write_text("1,2,0\n3,4,1.5\n")
    with pytest.raises(DataError, match="labels must be integers, found 1.5"):
        make_dataset("file", data_path=path)
    path.write_text("1,2,0\n3,4,0\n")
    with pytest.raises(DataError, match="at least 2 classes"):
        make_dataset("file", data_path=path)
    path.write_text("1,2,0\n3,4\n")
    with pytest.raises(DataError, match="row 2 has 2 columns, expected 3"):
        make_dataset("file", data_path=path)
    path.write_text("")
    with pytest.raises(DataError, match=r"d\.csv: the file is empty"):
        make_dataset("file", data_path=path)
    with pytest.raises(DataError, match="data file not found"):
        make_dataset("file", data_path=tmp_path / "missing.csv")
    (tmp_path / "d.txt").write_text("1,2,0\n")
    with pytest.raises(DataError, match=r"unknown data file type '\.txt'"):
        make_dataset("file", data_path=tmp_path / "d.txt")


def test_npz(tmp_path):
    path = tmp_path / "d.npz"
    feats = np.random.default_rng(0).normal(size=(6, 2, 2))
    np.savez(path, features=feats, labels=np.array([10, 20, 30, 10, 20, 30]))
    X, y, c = make_dataset("file", data_path=path)
    assert X.shape == (6, 4) and c == 3
    np.testing.assert_allclose(X, feats.reshape(6, 4).astype(np.float32))
    np.testing.assert_array_equal(y, [0, 1, 2, 0, 1, 2])
    np.savez(path, X=feats.reshape(6, 4))
    with pytest.raises(DataError, match=r"d\.npz: no array of labels"):
        make_dataset("file", data_path=path)
    path.write_bytes(b"PK but not a zip")
    with pytest.raises(DataError, match=r"d\.npz: not a readable \.npz file"):
        make_dataset("file", data_path=path)


# ----------------------------------------------------------------------------- split + preprocess
def test_standardize_uses_training_statistics():
    cfg = RunConfig(dataset="blobs", n_samples=400, classes=3, seed=3, val_fraction=0.25,
                    preprocess="standardize")
    ds = build_dataset(cfg)
    assert isinstance(ds, Dataset) and (ds.n_train, ds.n_val, ds.n_features) == (300, 100, 2)
    np.testing.assert_allclose(ds.X_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.X_train.std(0), 1, atol=1e-4)
    # recompute from the raw split by hand: same permutation, stats from train rows only
    X, y, _ = make_dataset("blobs", n_samples=400, classes=3, seed=3)
    order = np.random.default_rng(3).permutation(400)
    raw_tr, raw_va = X[order[100:]], X[order[:100]]
    mean, std = raw_tr.astype(np.float64).mean(0), raw_tr.astype(np.float64).std(0)
    np.testing.assert_allclose(ds.X_val, (raw_va - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ds.y_val, y[order[:100]])
    np.testing.assert_array_equal(ds.raw_train, raw_tr)
    assert np.abs(ds.X_val.mean(0)).max() > 1e-3          # val is NOT re-centred on itself
    np.testing.assert_allclose(ds.transform(raw_va), ds.X_val, atol=1e-6)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64


def test_center_and_none():
    X, y, c = make_dataset("moons", n_samples=200, seed=0)
    ds = split_dataset(X, y, c, preprocess="center", seed=0)
    assert ds.std is None
    np.testing.assert_allclose(ds.X_train.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(ds.X_train + ds.mean, ds.raw_train, atol=1e-6)
    ds = split_dataset(X, y, c, preprocess="none", seed=0)
    assert ds.mean is None and ds.std is None
    np.testing.assert_array_equal(ds.X_train, ds.raw_train)


def test_digits_standardize_has_no_nans():
    ds = build_dataset(RunConfig(dataset="digits", preprocess="standardize"))
    assert ds.n_train + ds.n_val == 1797 and ds.n_features == 64 and ds.n_classes == 10
    assert np.isfinite(ds.X_train).all() and np.isfinite(ds.X_val).all()
    assert (ds.std == 1).any()   # constant corner pixels divide by 1


def test_subset_and_val_fraction_zero():
    base = RunConfig(dataset="spiral", n_samples=300, classes=3, seed=5)
    full = build_dataset(base)
    small = build_dataset(base.copy(subset=10))
    assert small.n_train == 10 and small.n_val == full.n_val == 60
    np.testing.assert_array_equal(small.raw_train, full.raw_train[:10])
    np.testing.assert_allclose(small.X_train.mean(0), 0, atol=1e-5)   # stats from the subset
    assert small.n_classes == 3
    assert build_dataset(base.copy(subset=10_000)).n_train == 240    # too large: all of it
    none_val = build_dataset(base.copy(val_fraction=0.0))
    assert none_val.n_train == 300 and none_val.X_val.shape == (0, 2) and none_val.y_val.shape == (0,)
    assert none_val.X_val.dtype == np.float32 and none_val.y_val.dtype == np.int64


def test_split_is_deterministic_and_seeded():
    cfg = RunConfig(dataset="xor", n_samples=200, seed=11)
    a, b = build_dataset(cfg), build_dataset(cfg)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.X_train, build_dataset(cfg.copy(seed=12)).X_train)


def test_transform_checks_shape():
    ds = build_dataset(RunConfig(dataset="moons", n_samples=100))
    with pytest.raises(DataError, match=r"shape \(n, 2\)"):
        ds.transform(np.zeros((4, 3)))


def test_csv_header_x_y_class_takes_class_as_the_label(tmp_path):
    # "y" is a label name only when no better one is there: in x,y,class it is a coordinate
    path = tmp_path / "d.csv"
    path.write_text("x,y,class\n1,5,0\n2,3,1\n5,1,0\n2,9,1\n")
    X, y, c = make_dataset("file", data_path=path)
    np.testing.assert_array_equal(X, [[1, 5], [2, 3], [5, 1], [2, 9]])
    np.testing.assert_array_equal(y, [0, 1, 0, 1])
    assert c == 2
    path.write_text("x,y\n1,0\n2,1\n3,0\n")   # alone, y is the label
    X, y, _ = make_dataset("file", data_path=path)
    np.testing.assert_array_equal(X.ravel(), [1, 2, 3])
    np.testing.assert_array_equal(y, [0, 1, 0])


@pytest.mark.parametrize("kind", ["csv", "npz"])
def test_values_beyond_float32_are_named_not_left_to_diverge(tmp_path, kind):
    X = np.array([[0.5, 1.0], [1e39, 2.0], [0.1, 0.2]])
    y = np.array([0, 1, 0])
    if kind == "csv":
        path = tmp_path / "big.csv"
        path.write_text("a,b,label\n" + "\n".join(f"{a:g},{b:g},{l}" for (a, b), l in zip(X, y)) + "\n")
    else:
        path = tmp_path / "big.npz"
        np.savez(path, X=X, y=y)
    with pytest.raises(DataError, match=r"big\.(csv|npz): feature value 1e\+39 is too large"):
        make_dataset("file", data_path=path)


def test_npz_with_no_examples_is_named(tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(path, X=np.zeros((0, 4)), y=np.zeros(0, dtype=int))
    with pytest.raises(DataError, match=r"empty\.npz: no examples"):
        make_dataset("file", data_path=path)


def test_idx_folder_ignores_hidden_and_macos_sidecar_files(tmp_path):
    # a drive copied from macOS holds "._name" files beside the real ones; they sort first
    (tmp_path / "._train-images-idx3-ubyte").write_bytes(b"\x00\x05\x16\x07junk")
    (tmp_path / "._train-labels-idx1-ubyte").write_bytes(b"\x00\x05\x16\x07junk")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(IMAGES))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(LABELS))
    X, y, c = make_dataset("idx", data_path=tmp_path)
    assert X.shape == (5, 12) and c == 4


def test_preprocessing_views_are_the_training_inputs_as_each_preprocessing_leaves_them():
    from engine.train.data import build_dataset, preprocessing_views
    from engine.train.config import RunConfig
    ds = build_dataset(RunConfig(dataset="digits", preprocess="standardize"))
    views = preprocessing_views(ds.raw_train)
    np.testing.assert_array_equal(views["none"], ds.raw_train)
    np.testing.assert_allclose(views["center"].mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(views["standardize"], ds.X_train, rtol=1e-6)   # what the run trains on
    raw = ds.raw_train.astype(np.float64)
    varying = raw.std(axis=0) > 1e-8
    np.testing.assert_allclose(views["standardize"].std(axis=0)[varying], 1.0, rtol=1e-3)
    np.testing.assert_allclose(views["standardize"][:, ~varying], 0.0, atol=1e-6)  # constant pixels: 0, not NaN
