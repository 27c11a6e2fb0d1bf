"""Builders of small data for the data-layer tests: xlsa17 files and ZSLData values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from modgen.data.zsldata import ZSLData

SHARED_XLSA17 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xlsa17"

#: The Proposed Split sizes of ../shared/data/README.md: (A, C, trainval, test_seen, test_unseen).
README_SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "AWA1": (85, 50, 19832, 4958, 5685),
    "AWA2": (85, 50, 23527, 5882, 7913),
    "CUB": (312, 200, 7057, 1764, 2967),
    "SUN": (102, 717, 10320, 2580, 1440),
    "APY": (64, 32, 5932, 1483, 7924),
}

# The tiny xlsa17 set: 6 classes of 6 samples (sorted by class); classes 1-4 (1-based) seen with
# 4 trainval + 2 test_seen samples each, classes 5-6 unseen; class 4 is the validation class.
N_CLASSES, PER_CLASS, D, A = 6, 6, 5, 3
N = N_CLASSES * PER_CLASS


def col(values: Any) -> np.ndarray:
    """An n x 1 MATLAB column of 1-based indices."""
    return np.asarray(values, dtype=np.uint16).reshape(-1, 1)


def xlsa17_arrays(seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(res101, att_splits)`` contents of the tiny set, in the release's layout."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(1, N_CLASSES + 1), PER_CLASS)
    sample = np.arange(1, N + 1)
    shot = np.tile(np.arange(PER_CLASS), N_CLASSES)
    seen = labels <= 4
    trainval = sample[seen & (shot < 4)]
    test_seen = sample[seen & (shot >= 4)]
    test_unseen = sample[~seen]
    res = {
        "features": rng.random((D, N)).astype(np.float32),
        "labels": labels.astype(np.float64).reshape(-1, 1),
        "image_files": np.array([[f"img{i}.jpg"] for i in range(N)], dtype=object),
    }
    att = rng.random((A, N_CLASSES))
    names = np.empty((N_CLASSES, 1), dtype=object)
    for i in range(N_CLASSES):
        names[i, 0] = f"class{i + 1}"
    splits = {
        "att": att / np.linalg.norm(att, axis=0),
        "original_att": att * 100,
        "allclasses_names": names,
        "trainval_loc": col(trainval),
        "test_seen_loc": col(test_seen),
        "test_unseen_loc": col(test_unseen),
        "train_loc": col(sample[seen & (labels != 4)]),
        "val_loc": col(sample[labels == 4]),
    }
    return res, splits


def save_xlsa17(
    folder: Path,
    res: dict[str, Any] | None = None,
    splits: dict[str, Any] | None = None,
    *,
    sent: dict[str, Any] | None = None,
) -> Path:
    """Write res101.mat and att_splits.mat (and sent_splits.mat) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if res is not None:
        scipy.io.savemat(str(folder / "res101.mat"), res)
    if splits is not None:
        scipy.io.savemat(str(folder / "att_splits.mat"), splits)
    if sent is not None:
        scipy.io.savemat(str(folder / "sent_splits.mat"), sent)
    return folder


def write_tiny_xlsa17(root: Path, name: str = "TINY", **changes: Any) -> Path:
    """The tiny set under ``root/name``; ``changes`` replace (or, with ``None``, drop) keys of
    either file (keys of res101.mat are ``features``, ``labels``; the rest go to att_splits)."""
    res, splits = xlsa17_arrays()
    for key, value in changes.items():
        target = res if key in ("features", "labels", "image_files") else splits
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return save_xlsa17(root / name, res, splits)


def toy_data(
    counts: list[int] | None = None,
    n_unseen: int = 2,
    *,
    feature_dim: int = 3,
    attr_dim: int = 2,
    seed: int = 0,
    val_classes: tuple[int, ...] = (),
    **overrides: Any,
) -> ZSLData:
    """A ZSLData whose seen classes have ``counts`` samples (all ``trainval``, except that half of
    each class's samples beyond the first are ``test_seen`` when ``counts`` allow), followed by
    ``n_unseen`` unseen classes of 2 samples each. ``features[:, 0]`` is the sample index, so
    tests can trace samples; ``overrides`` replace constructor fields."""
    rng = np.random.default_rng(seed)
    counts = counts if counts is not None else [4, 4, 4, 4]
    s = len(counts)
    labels = np.concatenate([np.repeat(np.arange(s), counts), np.repeat(np.arange(s, s + n_unseen), 2)])
    n = labels.size
    features = rng.random((n, feature_dim)).astype(np.float32)
    features[:, 0] = np.arange(n)
    rank = np.concatenate([np.arange(c) for c in counts] + [np.arange(2)] * n_unseen)
    seen_rows = labels < s
    test_seen_mask = seen_rows & (rank >= 1) & (rank % 4 == 3)
    trainval = np.flatnonzero(seen_rows & ~test_seen_mask)
    val = np.array(sorted(i for i in trainval if labels[i] in val_classes), dtype=np.int64)
    fields: dict[str, Any] = dict(
        name="toy",
        features=features,
        labels=labels,
        semantics=rng.random((s + n_unseen, attr_dim)),
        class_names=[f"c{i}" for i in range(s + n_unseen)],
        trainval=trainval,
        test_seen=np.flatnonzero(test_seen_mask),
        test_unseen=np.flatnonzero(~seen_rows),
        seen_classes=np.arange(s),
        unseen_classes=np.arange(s, s + n_unseen),
        train=np.setdiff1d(trainval, val) if val_classes else [],
        val=val,
        val_classes=sorted(val_classes),
    )
    fields.update(overrides)
    return ZSLData(**fields)
