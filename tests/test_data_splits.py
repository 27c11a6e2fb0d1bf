"""Rotated class splits of the embedded data sets (``data.options.split=K``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from modgen.config import DataConfig
from modgen.data import load_dataset
from modgen.data._common import rotated_class_split
from modgen.data.digits import DIGITS_UNSEEN, DIGITS_VAL_CLASSES, load_digits_zsl
from modgen.data.fashion import FASHION_FILES, FASHION_UNSEEN, FASHION_VAL_CLASSES, load_fashion_mnist
from modgen.errors import ConfigError
from modgen.plugins import get_registries
from modgen.train.checkpoint import data_fingerprint

DIGITS = (DIGITS_UNSEEN, DIGITS_VAL_CLASSES)


def test_split_0_is_the_fixed_split_unchanged() -> None:
    today, zero = load_digits_zsl(), load_digits_zsl(split=0)
    assert zero.name == today.name == "digits"
    assert zero.preprocessing == today.preprocessing
    for field in ("features", "labels", "trainval", "test_seen", "test_unseen", "train", "val"):
        assert np.array_equal(getattr(zero, field), getattr(today, field)), field
    assert zero.unseen_classes.tolist() == [4, 5, 6] and zero.val_classes.tolist() == [0, 3]


def test_rotated_splits_are_valid_disjoint_and_all_different() -> None:
    seen_sets = set()
    unseen_count = np.zeros(10, int)
    for k in range(1, 11):
        data = load_digits_zsl(split=k)
        u, v = set(data.unseen_classes.tolist()), set(data.val_classes.tolist())
        assert len(u) == 3 and len(v) == 2 and not u & v
        assert set(data.seen_classes.tolist()) == set(range(10)) - u
        assert not np.isin(data.labels[data.trainval], list(u)).any()
        assert set(data.labels[data.test_unseen].tolist()) == u
        assert set(data.labels[data.val].tolist()) == v
        assert set(data.labels[data.train].tolist()) == set(range(10)) - u - v
        seen_sets.add(frozenset(u))
        unseen_count[list(u)] += 1
    assert len(seen_sets) == 10  # the ten splits of a cycle all differ
    assert unseen_count.tolist() == [3] * 10  # and each class is unseen in three of them


def test_a_split_is_reproducible_and_named() -> None:
    a, b = load_digits_zsl(split=4), load_digits_zsl(split=4)
    assert np.array_equal(a.trainval, b.trainval) and np.array_equal(a.unseen_classes, b.unseen_classes)
    assert a.name == "digits-split4" and a.preprocessing["class_split"] == 4
    assert data_fingerprint(a) != data_fingerprint(load_digits_zsl(split=5))
    assert data_fingerprint(load_digits_zsl()) != data_fingerprint(a)


def test_the_rule_never_looks_at_data() -> None:
    # the same class ids for any data set of 10 classes with the same counts
    assert rotated_class_split("x", 7, 10, *DIGITS, DIGITS) == rotated_class_split(
        "y", 7, 10, FASHION_UNSEEN, FASHION_VAL_CLASSES, (FASHION_UNSEEN, FASHION_VAL_CLASSES)
    )
    # a second cycle uses another permutation
    assert rotated_class_split("x", 11, 10, *DIGITS, DIGITS) != rotated_class_split(
        "x", 1, 10, *DIGITS, DIGITS
    )


def test_the_option_reaches_the_loader_through_the_data_config() -> None:
    regs = get_registries(entry_points=False)
    data = load_dataset(regs, DataConfig(dataset="digits", options={"split": 2}))
    assert data.name == "digits-split2"
    assert data.unseen_classes.tolist() == load_digits_zsl(split=2).unseen_classes.tolist()
    view = load_dataset(regs, DataConfig(dataset="digits", validation=True, options={"split": 2}))
    assert view.unseen_classes.tolist() == data.val_classes.tolist()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", None])
def test_a_bad_split_is_a_one_line_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"digits: option split=.* must be an integer >= 0") as err:
        load_digits_zsl(split=bad)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"fashion-mnist: option split=-1 must be an integer >= 0"):
        load_fashion_mnist("/nonexistent", split=-1)


def test_a_rotated_split_refuses_a_hand_chosen_class_list() -> None:
    with pytest.raises(ConfigError, match=r"option split=3 chooses the unseen and validation classes itself"):
        load_digits_zsl(split=3, unseen=(0, 1))


def _write_idx(path: Path, array: np.ndarray) -> None:
    array = np.asarray(array, dtype=np.uint8)
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def test_fashion_rotated_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for part, n in (("train", 60), ("test", 30)):
        images_name, labels_name = FASHION_FILES[part]
        _write_idx(tmp_path / images_name, rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / labels_name, np.arange(n) % 10)
    fixed, rotated = load_fashion_mnist(tmp_path), load_fashion_mnist(tmp_path, split=1)
    assert fixed.name == "fashion-mnist" and rotated.name == "fashion-mnist-split1"
    expected = rotated_class_split(
        "fashion-mnist", 1, 10, FASHION_UNSEEN, FASHION_VAL_CLASSES, (FASHION_UNSEEN, FASHION_VAL_CLASSES)
    )
    assert (rotated.unseen_classes.tolist(), rotated.val_classes.tolist()) == expected
    # seen classes train from the training file; the unseen ones are measured on the test file only
    assert rotated.trainval.size == 42 and rotated.test_unseen.size == 9
    assert not np.isin(rotated.labels[rotated.trainval], rotated.unseen_classes).any()
