"""Semi-synthetic xlsa17 data: real class semantics and splits, made-up features.

:func:`make_semisynthetic` takes a real ``att_splits.mat`` (its class semantics, its class
count and its split locations) and writes a ``res101.mat`` in the release's exact format whose
features are a fixed random nonlinear map of each class's semantics plus within-class noise.
It gives the true shapes (CUB's 200 classes, SUN's 717, 2048-d features, the real split
sizes) for scale, speed and plumbing work.

**Semi-synthetic data never backs an accuracy claim**: the features are a function of the
very semantics a model is given, so zero-shot accuracy on them says nothing about real
images. Every file written says so (``modgen_note``).

Example:
    >>> from modgen.data.xlsa17 import load_xlsa17
    >>> make_semisynthetic("xlsa17/CUB/att_splits.mat", "out/CUB", feature_dim=64)  # doctest: +SKIP
    >>> load_xlsa17("out", "CUB").features.shape  # doctest: +SKIP
    (11788, 64)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from modgen.data.xlsa17 import FEATURES_FILE, read_mat, write_res101
from modgen.errors import ConfigError, DataError

__all__ = ["make_semisynthetic", "NOTE"]

NOTE = (
    "semi-synthetic features made by modgen.data.semisynthetic from the class semantics of a real "
    "att_splits.mat: for shapes, scale and speed only; never backs an accuracy claim"
)
_SPLITS = ("trainval_loc", "test_seen_loc", "test_unseen_loc")
_VAL_SPLITS = ("train_loc", "val_loc")
_HIDDEN = 256
_CHUNK = 8192


def make_semisynthetic(
    att_splits_path: str | Path,
    out_dir: str | Path,
    feature_dim: int = 2048,
    samples: int | str | None = None,
    seed: int = 0,
    noise: float = 0.5,
    image_files: bool = True,
) -> Path:
    """Write a semi-synthetic ``res101.mat`` (and copies of the split files) into ``out_dir``.

    Each sample index of the split locations gets a class: the seen classes (those listed in a
    ``trainvalclasses.txt``/``testclasses.txt`` beside the file when present, otherwise a seeded
    draw of the same proportion) share ``trainval_loc`` and ``test_seen_loc`` in contiguous
    runs of indices, the unseen classes share ``test_unseen_loc``; with ``train_loc``/``val_loc``
    (from the file or from a ``sent_splits.mat`` beside it) a seeded subset of the seen classes
    becomes the validation classes, placed on ``val_loc``. So ``load_xlsa17(out_dir, ...)``
    reads it back with the real split sizes.

    Features: class means ``mu_c = softplus(2 tanh(s_c W1 + b1) W2)`` of the standardised
    semantics ``s_c`` with fixed Gaussian ``W1 (A, 256)``, ``b1``, ``W2 (256, feature_dim)``,
    then ``x = relu(mu_c + noise * spread * eps)`` with ``eps`` standard normal and ``spread``
    the mean across-class standard deviation of ``mu``: non-negative like ResNet features.

    Args:
        att_splits_path: a real ``att_splits.mat`` (or the folder holding it).
        out_dir: where to write ``res101.mat`` and the copied split files (created if needed).
        feature_dim: ``D``; 2048 as ResNet-101, smaller for quick tests.
        samples: ``None`` or ``"real"``: the real split sizes. An integer ``k``: at most ``k``
            samples per class in each of trainval, test_seen and test_unseen; the copied split
            files then get renumbered locations (the real sizes no longer hold).
        seed: seed of every random choice (classes, weights, noise).
        noise: within-class noise relative to the spread of the class means.
        image_files: also write the ``image_files`` cell array of made-up names, as the release
            has (the loader does not read it; writing it takes seconds for 30,000 samples).

    Returns:
        The path of the written ``res101.mat``.

    Raises:
        DataError: the split file is missing, lacks a key, or its locations cannot be given
            classes (overlapping splits, fewer samples than classes).
        ConfigError: a bad ``feature_dim``, ``samples``, ``seed`` or ``noise``.

    Example:
        >>> path = make_semisynthetic("xlsa17/SUN/att_splits.mat", "semi/SUN", feature_dim=256, samples=5)  # doctest: +SKIP
        >>> load_xlsa17("semi", "SUN").num_classes  # doctest: +SKIP
        717
    """
    feature_dim, cap, seed, noise = _check_options(feature_dim, samples, seed, noise)
    att_path = Path(att_splits_path).expanduser()
    if att_path.is_dir():
        att_path = att_path / "att_splits.mat"
    splits = read_mat(att_path)
    for key in ("att", *_SPLITS):
        if key not in splits:
            raise DataError(f"{str(att_path)!r}: missing key {key!r}; expected an xlsa17 att_splits.mat")
    att = np.asarray(splits["att"], dtype=np.float64)
    if att.ndim != 2 or not np.isfinite(att).all():
        raise DataError(f"{str(att_path)!r}: key 'att' must be a finite A x C matrix, got shape {att.shape}")
    num_classes = att.shape[1]
    names = _names(splits, num_classes)
    locs = {k: _loc(splits, k, att_path) for k in _SPLITS}
    sibling = att_path.with_name("sent_splits.mat")
    val_source = att_path
    if all(k in splits for k in _VAL_SPLITS):
        locs.update({k: _loc(splits, k, att_path) for k in _VAL_SPLITS})
    elif sibling.is_file() and sibling != att_path:
        sent = read_mat(sibling, _VAL_SPLITS)
        if all(k in sent for k in _VAL_SPLITS):
            locs.update({k: _loc(sent, k, sibling) for k in _VAL_SPLITS})
            val_source = sibling

    rng = np.random.default_rng(seed)
    labels, n, seen, unseen, used_txt = _assign_labels(locs, att_path, val_source, names, rng)
    keep = _keep(labels, locs, cap) if cap is not None else None

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    copies = [att_path] + ([sibling] if sibling.is_file() and sibling != att_path else [])
    for src in copies:
        dst = out / src.name
        if keep is None:
            if src.resolve() != dst.resolve():
                shutil.copyfile(src, dst)
        else:
            _write_subset(src, dst, keep, n)
    if used_txt and keep is None:
        for txt in ("trainvalclasses.txt", "testclasses.txt"):
            if (att_path.parent / txt).resolve() != (out / txt).resolve():
                shutil.copyfile(att_path.parent / txt, out / txt)

    if keep is not None:
        labels = labels[keep]
    files = (
        [f"semisynthetic/{names[c]}/{i + 1:06d}.jpg" for i, c in enumerate(labels)] if image_files else None
    )
    return write_res101(
        out / FEATURES_FILE,
        _features(att, labels, feature_dim, noise, rng).T,  # (N, D) view of the (D, N) array
        labels,
        image_files=files,
        extra={"modgen_note": NOTE, "modgen_seed": float(seed)},
    )


def _check_options(
    feature_dim: Any, samples: Any, seed: Any, noise: Any
) -> tuple[int, int | None, int, float]:
    if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
        raise ConfigError(f"feature_dim: expected a positive integer, got {feature_dim!r}")
    if samples is None or samples == "real":
        cap = None
    elif isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1:
        cap = samples
    else:
        raise ConfigError(
            f"samples: expected None, 'real' or a positive integer (per class and split), got {samples!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed: expected a non-negative integer, got {seed!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not np.isfinite(noise) or noise < 0:
        raise ConfigError(f"noise: expected a finite number >= 0, got {noise!r}")
    return feature_dim, cap, seed, float(noise)


def _names(splits: dict[str, Any], count: int) -> list[str]:
    raw = np.asarray(splits.get("allclasses_names", np.zeros(0))).reshape(-1)
    if raw.size != count:
        return [f"class_{i + 1}" for i in range(count)]
    return [
        str(np.asarray(v).reshape(-1)[0]) if np.asarray(v).size else f"class_{i + 1}"
        for i, v in enumerate(raw)
    ]


def _loc(mat: dict[str, Any], key: str, path: Path) -> np.ndarray:
    arr = np.asarray(mat[key])
    if arr.ndim > 2 or (arr.ndim == 2 and 1 not in arr.shape) or arr.dtype.kind not in "iuf":
        raise DataError(
            f"{str(path)!r}: key {key!r} must be an n x 1 vector of 1-based indices, got {arr.shape}"
        )
    loc = arr.reshape(-1).astype(np.int64)
    if loc.size and loc.min() < 1:
        raise DataError(f"{str(path)!r}: key {key!r} holds index {loc.min()}; indices are 1-based")
    if np.unique(loc).size != loc.size:
        raise DataError(f"{str(path)!r}: key {key!r} holds repeated indices")
    return loc - 1


def _split_classes(
    att_path: Path, names: list[str], locs: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Seen and unseen class ids: from the class lists beside the file, else a seeded draw."""
    c = len(names)
    lists = [att_path.parent / "trainvalclasses.txt", att_path.parent / "testclasses.txt"]
    if all(p.is_file() for p in lists):
        index = {name: i for i, name in enumerate(names)}
        seen_names, unseen_names = (
            [ln.strip() for ln in p.read_text().splitlines() if ln.strip()] for p in lists
        )
        if all(nm in index for nm in seen_names + unseen_names) and not set(seen_names) & set(unseen_names):
            return (
                np.sort([index[nm] for nm in seen_names]).astype(np.int64),
                np.sort([index[nm] for nm in unseen_names]).astype(np.int64),
                True,
            )
    sizes = {k: locs[k].size for k in _SPLITS}
    total = sum(sizes.values())
    n_unseen = int(np.clip(round(c * sizes["test_unseen_loc"] / max(total, 1)), 1, c - 1))
    unseen = np.sort(rng.choice(c, n_unseen, replace=False)).astype(np.int64)
    return np.setdiff1d(np.arange(c), unseen), unseen, False


def _spread(labels: np.ndarray, items: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> None:
    """Give ``items`` (sorted) to ``classes`` in contiguous, nearly equal runs."""
    if classes.size == 0:
        return
    order = rng.permutation(classes)
    for cls, run in zip(order, np.array_split(np.sort(items), classes.size), strict=True):
        labels[run] = cls


def _assign_labels(
    locs: dict[str, np.ndarray], att_path: Path, val_source: Path, names: list[str], rng: np.random.Generator
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, bool]:
    trainval, test_seen, test_unseen = (locs[k] for k in _SPLITS)
    for a, b in (
        ("trainval_loc", "test_seen_loc"),
        ("trainval_loc", "test_unseen_loc"),
        ("test_seen_loc", "test_unseen_loc"),
    ):
        if np.intersect1d(locs[a], locs[b]).size:
            raise DataError(f"{str(att_path)!r}: keys {a!r} and {b!r} overlap; the splits must be disjoint")
    n = int(max(int(v.max()) + 1 for v in locs.values() if v.size))
    seen, unseen, used_txt = _split_classes(att_path, names, locs, rng)
    if seen.size > trainval.size or unseen.size > test_unseen.size:
        raise DataError(
            f"{str(att_path)!r}: {seen.size} seen and {unseen.size} unseen classes cannot each get a sample from "
            f"trainval_loc ({trainval.size}) and test_unseen_loc ({test_unseen.size})"
        )
    labels = np.full(n, -1, dtype=np.int64)
    regions: list[tuple[np.ndarray, np.ndarray]] = []
    rest = np.empty(0, dtype=np.int64)
    if "val_loc" in locs:
        # any split the loader accepts: train_loc and val_loc disjoint, both among the seen samples
        # (the release's split them exactly; samples in neither get any seen class)
        train, val = locs["train_loc"], locs["val_loc"]
        seen_samples = np.union1d(trainval, test_seen)
        outside = np.setdiff1d(np.union1d(train, val), seen_samples)
        if np.intersect1d(train, val).size or outside.size:
            raise DataError(
                f"{str(val_source)!r}: keys 'train_loc' and 'val_loc' must be disjoint and hold only samples of "
                f"trainval_loc or test_seen_loc (sample {int((outside if outside.size else np.intersect1d(train, val))[0]) + 1}, "
                "1-based, is not)"
            )
        n_val = int(
            np.clip(round(seen.size * val.size / max(seen_samples.size, 1)), 1, max(seen.size - 1, 1))
        )
        val_classes = np.sort(rng.choice(seen, n_val, replace=False))
        regions = [(train, np.setdiff1d(seen, val_classes)), (val, val_classes)]
        rest = np.setdiff1d(seen_samples, np.union1d(train, val))
    else:
        regions = [(np.union1d(trainval, test_seen), seen)]
    for region, classes in regions:
        part = np.intersect1d(region, trainval)
        if part.size < classes.size:
            raise DataError(
                f"{str(val_source)!r}: {classes.size} classes must share only {part.size} trainval samples; "
                "every seen class needs one"
            )
        _spread(labels, part, classes, rng)
        _spread(labels, np.intersect1d(region, test_seen), classes, rng)
    _spread(labels, test_unseen, unseen, rng)
    if rest.size:
        labels[rest] = rng.choice(regions[0][1], rest.size)  # training classes: never a val class
    gaps = np.flatnonzero(labels < 0)
    # indices in no split are never read by the loader; give them seen classes so labels stay valid
    labels[gaps] = rng.choice(seen, gaps.size)
    return labels, n, seen, unseen, used_txt


def _keep(labels: np.ndarray, locs: dict[str, np.ndarray], cap: int) -> np.ndarray:
    """Sorted old sample indices kept when each class keeps at most ``cap`` per split."""
    kept: list[np.ndarray] = []
    for key in _SPLITS:
        idx = np.sort(locs[key])
        lab = labels[idx]
        order = np.argsort(lab, kind="stable")
        idx, lab = idx[order], lab[order]
        _, starts, counts = np.unique(lab, return_index=True, return_counts=True)
        rank = np.arange(idx.size) - np.repeat(starts, counts)
        kept.append(idx[rank < cap])
    return np.sort(np.concatenate(kept))


def _write_subset(src: Path, dst: Path, keep: np.ndarray, n: int) -> None:
    """Copy a split file with every ``*_loc`` renumbered to the kept samples."""
    import scipy.io

    mat = {k: v for k, v in read_mat(src).items() if not k.startswith("__")}
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep] = np.arange(keep.size)
    for key, value in list(mat.items()):
        if key.endswith("_loc"):
            old = np.asarray(value).reshape(-1).astype(np.int64) - 1
            new = new_index[old[old < n]]
            mat[key] = (np.sort(new[new >= 0]) + 1).astype(np.int64).reshape(-1, 1)
    mat["modgen_note"] = NOTE + f"; locations renumbered to {keep.size} kept samples"
    scipy.io.savemat(str(dst), mat, do_compression=False)


def _features(
    att: np.ndarray, labels: np.ndarray, dim: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """``(D, N)`` float32 features of the class means plus noise (see :func:`make_semisynthetic`)."""
    sem = att.T
    sem = (sem - sem.mean(axis=0)) / (sem.std(axis=0) + 1e-8)
    a = sem.shape[1]
    w1 = rng.standard_normal((a, _HIDDEN)) / np.sqrt(a)
    b1 = rng.standard_normal(_HIDDEN) * 0.5
    w2 = rng.standard_normal((_HIDDEN, dim)) / np.sqrt(_HIDDEN)
    mu = np.logaddexp(0.0, 2.0 * np.tanh(sem @ w1 + b1) @ w2).astype(np.float32)
    spread = float(mu.std(axis=0).mean()) or 1.0
    out = np.empty((dim, labels.size), dtype=np.float32)
    for start in range(0, labels.size, _CHUNK):
        lab = labels[start : start + _CHUNK]
        eps = rng.standard_normal((lab.size, dim), dtype=np.float32)
        out[:, start : start + lab.size] = np.maximum(mu[lab] + np.float32(noise * spread) * eps, 0.0).T
    return out
