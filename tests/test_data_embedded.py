"""The embedded data sets: digits (always) and fashion-mnist (when the Debian package is there)."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from modgen.data.digits import DIGITS_ATTRIBUTES_FILE, digits_loader, load_digits_zsl
from modgen.data.fashion import (
    FASHION_ATTRIBUTES_FILE,
    FASHION_FILES,
    FASHION_MNIST_DIR,
    cnn_features,
    load_fashion_mnist,
    read_idx,
)
from modgen.errors import ConfigError, DataError

HAS_FASHION = all((Path(FASHION_MNIST_DIR) / f).is_file() for pair in FASHION_FILES.values() for f in pair)
needs_fashion = pytest.mark.skipif(not HAS_FASHION, reason="apt-get install dataset-fashion-mnist")


@pytest.fixture
def one_thread():
    """Tiny CNN trainings spend their time in thread hand-offs when the cores are shared; one
    thread keeps them at a fraction of a second (the library itself never sets threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return load_digits_zsl()


@pytest.mark.parametrize(
    ("filename", "classes"), [(DIGITS_ATTRIBUTES_FILE, 10), (FASHION_ATTRIBUTES_FILE, 10)]
)
def test_attribute_tables_are_shipped_and_documented_as_hand_made(filename: str, classes: int) -> None:
    text = resources.files("modgen.data").joinpath(filename).read_text()
    assert text.startswith("# Hand-made class-attribute table")
    rows = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    header, body = rows[0].split(","), [r.split(",") for r in rows[1:]]
    n_attrs = len(header) - (2 if filename == FASHION_ATTRIBUTES_FILE else 1)
    assert len(body) == classes and 12 <= n_attrs <= 21
    values = np.array([[float(v) for v in r[len(header) - n_attrs :]] for r in body])
    assert values.shape == (classes, n_attrs) and values.min() >= 0 and values.max() <= 1
    assert np.unique(values, axis=0).shape[0] == classes  # every class has its own attribute vector


def test_digits_loads_with_the_fixed_split(digits) -> None:
    assert digits.features.shape == (1797, 64) and digits.semantics.shape == (10, 18)
    assert 0 <= digits.features.min() and digits.features.max() <= 1
    assert digits.unseen_classes.tolist() == [4, 5, 6] and digits.val_classes.tolist() == [0, 3]
    assert digits.seen_classes.tolist() == [0, 1, 2, 3, 7, 8, 9]
    for c in digits.seen_classes:
        n_fit = int((digits.labels[digits.trainval] == c).sum())
        n_all = int((digits.labels == c).sum())
        assert n_fit == round(0.8 * n_all)
    assert digits.test_unseen.size == int(np.isin(digits.labels, [4, 5, 6]).sum())
    assert np.allclose(np.linalg.norm(digits.semantics, axis=1), 1)
    assert np.array_equal(load_digits_zsl().trainval, digits.trainval)  # fixed
    # validation: train/val inside trainval, so model selection never sees a test sample
    assert set(digits.train) | set(digits.val) == set(digits.trainval)


def test_digits_validation_view_pca_and_scaling() -> None:
    data = load_digits_zsl(validation=True, pca=12, scaling="minmax")
    assert data.feature_dim == 12 and data.unseen_classes.tolist() == [0, 3]
    assert data.seen_classes.size == 5
    assert data.preprocessing["pca_fit_on"].startswith(f"trainval ({data.trainval.size}")
    assert np.allclose(data.features[data.trainval].max(axis=0), 1)


def test_digits_custom_split() -> None:
    data = digits_loader(unseen=[0, 1], val_classes=[2, 3])
    assert data.unseen_classes.tolist() == [0, 1] and data.val_classes.tolist() == [2, 3]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"semantics": "sent"},
            ConfigError,
            r"digits: semantics='sent' is not available; this data set has only 'att'",
        ),
        ({"root": "/data"}, ConfigError, r"data.root: digits is embedded in scikit-learn and takes no root"),
        (
            {"unseen": [4, 12]},
            ConfigError,
            r"digits: option unseen=\[4, 12\] must be distinct class ids in \[0, 10\)",
        ),
        ({"val_classes": [4]}, ConfigError, r"option val_classes=\[4\] overlaps unseen=\[4, 5, 6\]"),
        ({"pca": 0}, ConfigError, r"digits: option pca=0 must be an integer in \[1, 64\]"),
        (
            {"scaling": "std"},
            ConfigError,
            r"digits: scaling='std' is unknown; expected one of minmax, l2, none",
        ),
        ({"seed": -1}, ConfigError, r"digits: option seed=-1 must be a non-negative integer"),
        (
            {"unseen": list(range(9)), "val_classes": [9]},
            ConfigError,
            r"digits: no seen class is left to train on",
        ),
    ],
)
def test_digits_bad_options(options: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        digits_loader(**options)


# -- fashion-mnist --------------------------------------------------------------------------------


def test_fashion_missing_folder_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"does not exist. Install the images with `apt-get install dataset-fashion-mnist`"
    ):
        load_fashion_mnist(tmp_path / "none")


def test_fashion_missing_file_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte.gz': file not found. Install .* path option"
    ):
        load_fashion_mnist(tmp_path)


def _write_idx(path: Path, array: np.ndarray, magic: bytes = b"\x00\x00\x08") -> None:
    header = magic + bytes([array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trip_and_bad_files(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    _write_idx(tmp_path / "ok.gz", images)
    assert np.array_equal(read_idx(tmp_path / "ok.gz"), images)
    _write_idx(tmp_path / "bad.gz", images, magic=b"\x00\x00\x0d")
    with pytest.raises(
        DataError, match=r"bad.gz': not an unsigned-byte idx file \(bad magic number 00000d03\)"
    ):
        read_idx(tmp_path / "bad.gz")
    (tmp_path / "short.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09abc"))
    with pytest.raises(DataError, match=r"short.gz': truncated idx file \(3 bytes of data for shape \[9\]\)"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "notgz.gz").write_bytes(b"plain")
    with pytest.raises(DataError, match=r"notgz.gz': cannot read"):
        read_idx(tmp_path / "notgz.gz")


def test_fashion_reads_any_folder_with_the_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for part, n in (("train", 60), ("test", 30)):
        images_name, labels_name = FASHION_FILES[part]
        _write_idx(tmp_path / images_name, rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / labels_name, np.arange(n) % 10)
    data = load_fashion_mnist(tmp_path, pca=5)
    assert data.num_classes == 10 and data.feature_dim == 5
    assert data.trainval.size == 42 and data.test_seen.size == 21 and data.test_unseen.size == 9
    assert data.class_names[0] == "T-shirt/top" and data.unseen_classes.tolist() == [0, 2, 9]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"features": "vit"},
            r"fashion-mnist: option features='vit' is unknown; expected one of pixels, cnn",
        ),
        ({"features": "cnn", "pca": 8}, r"option pca applies to features='pixels' only"),
        ({"subsample": 0}, r"fashion-mnist: option subsample=0 must be a positive integer or None"),
        ({"cnn_epochs": 0}, r"fashion-mnist: option cnn_epochs=0 must be an integer >= 1"),
        ({"semantics": "original_att"}, r"fashion-mnist: semantics='original_att' is not available"),
    ],
)
def test_fashion_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_fashion_mnist("/nonexistent", **options)


@pytest.mark.usefixtures("one_thread")
def test_cnn_features_never_learn_from_rows_outside_the_fit_set() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((40, 784)).astype(np.float32)
    labels = np.arange(40) % 4
    fit = np.flatnonzero(labels < 3)
    a = cnn_features(images, labels, fit, seed=1, epochs=1, dim=8, batch_size=16)
    changed = images.copy()
    changed[labels == 3] = 1.0 - changed[labels == 3]  # other "unseen" images
    b = cnn_features(changed, labels, fit, seed=1, epochs=1, dim=8, batch_size=16)
    assert a.shape == (40, 8) and a.dtype == np.float32
    assert np.array_equal(a[fit], b[fit])  # same seed, same fit rows: the same network
    assert not np.array_equal(a[labels == 3], b[labels == 3])


@needs_fashion
def test_fashion_mnist_loads_from_the_debian_package() -> None:
    data = load_fashion_mnist(subsample=30)
    assert data.features.shape == (30 * 10 + 30 * 7, 784) and data.semantics.shape == (10, 21)
    assert data.trainval.size == 30 * 7 and data.test_seen.size == 30 * 7 and data.test_unseen.size == 30 * 3
    assert data.unseen_classes.tolist() == [0, 2, 9] and data.val_classes.tolist() == [3, 6]
    assert np.allclose(
        data.features[data.trainval].max(axis=0)[np.ptp(data.features[data.trainval], axis=0) > 0], 1
    )
    assert data.preprocessing["subsample"] == 30


@needs_fashion
@pytest.mark.usefixtures("one_thread")
def test_fashion_cnn_features_are_cached_and_fitted_on_the_view(tmp_path: Path) -> None:
    options = dict(subsample=20, features="cnn", cnn_epochs=1, cnn_dim=16, validation=True)
    a = load_fashion_mnist(cache_dir=tmp_path, **options)
    cached = list(tmp_path.glob("fashion-mnist-cnn-*.npy"))
    assert len(cached) == 1 and a.preprocessing["cnn_cache"] == str(cached[0])
    b = load_fashion_mnist(cache_dir=tmp_path, **options)
    c = load_fashion_mnist(**options)
    assert (
        a.feature_dim == 16
        and np.array_equal(a.features, b.features)
        and np.array_equal(a.features, c.features)
    )
    # validation: the network was fitted on the view's trainval only (the val class is unseen)
    assert a.unseen_classes.tolist() == [3, 6] and "classes [1, 4, 5, 7, 8]" in a.preprocessing["cnn"]["fit"]


@needs_fashion
@pytest.mark.usefixtures("one_thread")
def test_a_torn_cache_file_is_made_again_not_read(tmp_path: Path) -> None:
    options = dict(subsample=20, features="cnn", cnn_epochs=1, cnn_dim=8, cache_dir=tmp_path)
    a = load_fashion_mnist(**options)
    (cached,) = tmp_path.glob("fashion-mnist-cnn-*.npy")
    cached.write_bytes(cached.read_bytes()[:100])  # cut short (a full disk, an older writer)
    b = load_fashion_mnist(**options)
    assert np.array_equal(a.features, b.features) and np.load(cached).shape == (a.labels.size, 8)
    assert not list(tmp_path.glob("*.tmp"))


def test_the_default_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from modgen.data.fashion import default_cache_dir

    monkeypatch.setenv("MODGEN_CACHE", "/x/cache")
    assert default_cache_dir() == Path("/x/cache")
    monkeypatch.delenv("MODGEN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/y")
    assert default_cache_dir() == Path("/y/modgen")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "modgen"
