"""Semi-synthetic res101.mat beside real (and tiny) att_splits.mat, read back by the real loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from data_fixtures import README_SIZES, SHARED_XLSA17, col, write_tiny_xlsa17, xlsa17_arrays

from modgen.data.semisynthetic import NOTE, make_semisynthetic
from modgen.data.xlsa17 import load_xlsa17
from modgen.errors import ConfigError, DataError

# seen / unseen / validation class counts of the Proposed Split (no validation split in APY)
CLASS_COUNTS = {
    "AWA1": (40, 10, 13),
    "AWA2": (40, 10, 13),
    "CUB": (150, 50, 50),
    "SUN": (645, 72, 65),
    "APY": (20, 12, 0),
}


@pytest.mark.parametrize("dataset", sorted(README_SIZES))
def test_real_att_splits_load_beside_a_semisynthetic_res101(tmp_path: Path, dataset: str) -> None:
    source = SHARED_XLSA17 / dataset / "att_splits.mat"
    if not source.is_file():
        pytest.skip(f"{source} is not here (../shared is absent)")
    path = make_semisynthetic(source, tmp_path / dataset, feature_dim=16, seed=1, image_files=False)
    res = scipy.io.loadmat(str(path))
    attr_dim, classes, trainval, test_seen, test_unseen = README_SIZES[dataset]
    n = trainval + test_seen + test_unseen
    assert res["features"].shape == (16, n) and res["features"].dtype == np.float32
    assert res["labels"].shape == (n, 1) and res["labels"].dtype == np.float64
    assert str(res["modgen_note"][0]) == NOTE

    data = load_xlsa17(tmp_path, dataset)
    assert data.semantics.shape == (classes, attr_dim) and data.features.shape == (n, 16)
    assert (data.trainval.size, data.test_seen.size, data.test_unseen.size) == (
        trainval,
        test_seen,
        test_unseen,
    )
    assert np.intersect1d(data.seen_classes, data.unseen_classes).size == 0
    seen, unseen, val = CLASS_COUNTS[dataset]
    assert (data.seen_classes.size, data.unseen_classes.size, data.val_classes.size) == (seen, unseen, val)
    listed = (SHARED_XLSA17 / dataset / "trainvalclasses.txt").read_text().split()
    assert sorted(data.class_names_of(data.seen_classes)) == sorted(listed)
    if val:
        view = load_xlsa17(tmp_path, dataset, validation=True)
        assert view.unseen_classes.size == val and view.seen_classes.size == seen - val


def test_cub_sentence_semantics_and_its_validation_split(tmp_path: Path) -> None:
    source = SHARED_XLSA17 / "CUB" / "att_splits.mat"
    if not source.is_file():
        pytest.skip("../shared is absent")
    make_semisynthetic(source, tmp_path / "CUB", feature_dim=4, samples=2)
    data = load_xlsa17(tmp_path, "CUB", semantics="sent")
    assert data.attr_dim == 1024 and data.num_classes == 200
    view = load_xlsa17(
        tmp_path, "CUB", validation=True
    )  # att_splits has no train_loc: taken from sent_splits
    assert view.preprocessing["validation_split_from"] == "sent_splits.mat train_loc/val_loc"


def test_tiny_split_file_gives_the_same_sizes_and_a_validation_split(tmp_path: Path) -> None:
    folder = write_tiny_xlsa17(tmp_path / "src")
    path = make_semisynthetic(folder / "att_splits.mat", tmp_path / "out", feature_dim=3)
    files = scipy.io.loadmat(str(path))["image_files"]
    assert files.shape == (36, 1) and str(files[0, 0][0]).startswith("semisynthetic/")
    data = load_xlsa17(tmp_path, "out", scaling="none")
    _, splits = xlsa17_arrays()
    assert np.array_equal(data.trainval + 1, splits["trainval_loc"].ravel())
    assert data.unseen_classes.size == 2  # 12 of 36 samples unseen: 6 classes * 1/3
    assert data.val_classes.size == 1 and data.features.min() >= 0
    view = load_xlsa17(tmp_path, "out", validation=True)
    assert view.unseen_classes.tolist() == data.val_classes.tolist()


def test_per_class_cap_renumbers_the_split_files(tmp_path: Path) -> None:
    folder = write_tiny_xlsa17(tmp_path / "src")
    make_semisynthetic(folder, tmp_path / "out", feature_dim=3, samples=1)
    data = load_xlsa17(tmp_path, "out", scaling="none")
    # one sample per class in each split: 4 seen classes in trainval and test_seen, 2 unseen
    assert (data.trainval.size, data.test_seen.size, data.test_unseen.size) == (4, 4, 2)
    assert data.num_samples == 10
    for split in (data.trainval, data.test_seen, data.test_unseen):
        assert np.bincount(data.labels[split]).max() == 1
    assert scipy.io.loadmat(str(tmp_path / "out" / "att_splits.mat"))["trainval_loc"].max() <= 10


def test_same_seed_same_file_other_seed_other_features(tmp_path: Path) -> None:
    folder = write_tiny_xlsa17(tmp_path / "src")
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        make_semisynthetic(folder / "att_splits.mat", tmp_path / name, feature_dim=4, seed=seed)
    read = {k: scipy.io.loadmat(str(tmp_path / k / "res101.mat")) for k in "abc"}
    assert np.array_equal(read["a"]["features"], read["b"]["features"])
    assert np.array_equal(read["a"]["labels"], read["b"]["labels"])
    assert not np.array_equal(read["a"]["features"], read["c"]["features"])


def test_class_means_differ_more_than_the_noise(tmp_path: Path) -> None:
    folder = write_tiny_xlsa17(tmp_path / "src")
    make_semisynthetic(folder, tmp_path / "out", feature_dim=32, noise=0.1)
    data = load_xlsa17(tmp_path, "out", scaling="none")
    means = np.stack([data.features[data.labels == c].mean(axis=0) for c in range(6)])
    within = np.mean([data.features[data.labels == c].std(axis=0).mean() for c in range(6)])
    between = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(6, 1)].min()
    assert between > within


def test_missing_att_key(tmp_path: Path) -> None:
    folder = write_tiny_xlsa17(tmp_path / "src", att=None)
    with pytest.raises(
        DataError, match=r"att_splits.mat': missing key 'att'; expected an xlsa17 att_splits.mat"
    ):
        make_semisynthetic(folder, tmp_path / "out")


def test_missing_split_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"att_splits.mat': file not found"):
        make_semisynthetic(tmp_path, tmp_path / "out")


def test_overlapping_locations(tmp_path: Path) -> None:
    _, splits = xlsa17_arrays()
    folder = write_tiny_xlsa17(tmp_path / "src", test_unseen_loc=col([1, *splits["test_unseen_loc"].ravel()]))
    with pytest.raises(DataError, match=r"keys 'trainval_loc' and 'test_unseen_loc' overlap"):
        make_semisynthetic(folder, tmp_path / "out")


def test_train_val_that_do_not_cover_the_seen_samples_are_accepted_as_the_loader_does(tmp_path: Path) -> None:
    folder = write_tiny_xlsa17(tmp_path / "src", val_loc=col([19, 20]))
    make_semisynthetic(folder, tmp_path / "out")
    view = load_xlsa17(tmp_path / "out", "TINY", validation=True)
    assert len(view.unseen_classes) >= 1 and not set(view.unseen_classes) & set(view.seen_classes)


def test_overlapping_train_val_are_refused(tmp_path: Path) -> None:
    folder = write_tiny_xlsa17(tmp_path / "src", val_loc=col([1, 2]), train_loc=col([1, 3]))
    with pytest.raises(DataError, match=r"keys 'train_loc' and 'val_loc' must be disjoint"):
        make_semisynthetic(folder, tmp_path / "out")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"feature_dim": 0}, r"feature_dim: expected a positive integer, got 0"),
        (
            {"samples": "all"},
            r"samples: expected None, 'real' or a positive integer \(per class and split\), got 'all'",
        ),
        ({"seed": -2}, r"seed: expected a non-negative integer, got -2"),
        ({"noise": float("nan")}, r"noise: expected a finite number >= 0, got nan"),
    ],
)
def test_bad_options(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_semisynthetic(tmp_path, tmp_path / "out", **options)
