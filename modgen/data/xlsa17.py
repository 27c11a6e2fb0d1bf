"""The xlsa17 loader: the standard GZSL benchmarks exactly as distributed.

Xian et al.'s xlsa17 release ("Zero-Shot Learning — A Comprehensive Evaluation of the Good,
the Bad and the Ugly", TPAMI 2018) holds, per data set (AWA1, AWA2, CUB, SUN, APY), a folder
with

* ``res101.mat``: ``features`` (``D x N``, 2048-d ResNet-101 features, one column per image),
  ``labels`` (``N x 1``, 1-based class ids) and ``image_files``;
* ``att_splits.mat``: ``att`` (``A x C``, class-wise L2-normalised attributes, one column per
  class), ``original_att`` (raw values; AwA uses 0..100 and -1 for missing),
  ``allclasses_names``, and the Proposed Split's 1-based sample indices ``trainval_loc``,
  ``test_seen_loc``, ``test_unseen_loc`` plus (except APY) ``train_loc`` and ``val_loc``;
* CUB only: ``sent_splits.mat``, the same split keys with ``att`` the 1024-d CNN-RNN sentence
  embeddings of each class (the text side information the AMAZ paper uses for CUB).

Note that in the release ``train_loc`` and ``val_loc`` together cover ``trainval_loc`` and
``test_seen_loc``; the loader keeps them as they are.

Example:
    >>> data = load_xlsa17("~/xlsa17/data", "AWA2")  # doctest: +SKIP
    >>> data.features.shape, data.semantics.shape  # doctest: +SKIP
    ((37322, 2048), (50, 85))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from modgen.data.zsldata import SCALINGS, ZSLData
from modgen.errors import ConfigError, DataError

__all__ = [
    "load_xlsa17",
    "xlsa17_loader",
    "find_xlsa17_folder",
    "read_mat",
    "write_res101",
    "write_att_splits",
    "XLSA17_DATASETS",
    "SEMANTICS",
    "FEATURES_FILE",
    "SPLIT_FILES",
]

#: The data sets of the xlsa17 release.
XLSA17_DATASETS: tuple[str, ...] = ("AWA1", "AWA2", "CUB", "SUN", "APY")
#: Semantics choices: ``att`` and ``original_att`` of att_splits.mat, ``sent`` of sent_splits.mat.
SEMANTICS: tuple[str, ...] = ("att", "original_att", "sent")
FEATURES_FILE = "res101.mat"
#: Which file holds each kind of semantics, and under which key.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "att": ("att_splits.mat", "att"),
    "original_att": ("att_splits.mat", "original_att"),
    "sent": ("sent_splits.mat", "att"),
}
_SPLIT_KEYS = ("trainval_loc", "test_seen_loc", "test_unseen_loc")


def find_xlsa17_folder(root: str | Path, dataset: str) -> Path:
    """The folder holding ``res101.mat``: ``root/<dataset>`` (the release's layout, matched
    without regard to case) or ``root`` itself.

    Raises:
        DataError: neither holds ``res101.mat``.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(
            f"xlsa17 root {str(base)!r} is not a folder (data.root); expected the folder "
            f"holding {dataset}/{FEATURES_FILE} or {FEATURES_FILE}"
        )
    candidates = [base / dataset]
    candidates += [p for p in sorted(base.iterdir()) if p.is_dir() and p.name.lower() == dataset.lower()]
    for folder in [*candidates, base]:
        if (folder / FEATURES_FILE).is_file():
            return folder
    raise DataError(
        f"{FEATURES_FILE} not found: looked in {str(base / dataset)!r} and {str(base)!r}. Point data.root at "
        f"the xlsa17 'data' folder (holding {dataset}/) or at the {dataset} folder itself; res101.mat comes "
        "with the xlsa17 download, or make a stand-in with `modgen data make-semisynthetic`."
    )


def read_mat(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Read the variables ``keys`` (all when ``None``) of a MATLAB file.

    Raises:
        DataError: the file is missing or is not a MATLAB v5 file scipy can read.
    """
    import scipy.io

    if not path.is_file():
        raise DataError(f"{str(path)!r}: file not found")
    try:
        return scipy.io.loadmat(str(path), variable_names=list(keys) if keys else None)
    except NotImplementedError as err:  # MATLAB v7.3 (HDF5) files
        raise DataError(
            f"{str(path)!r}: cannot read this MATLAB file ({err}); save it as a v5/v7 .mat"
        ) from err
    except Exception as err:  # noqa: BLE001 - scipy raises many kinds on a corrupt file
        raise DataError(f"{str(path)!r}: not a readable MATLAB file ({type(err).__name__}: {err})") from err


def write_res101(
    path: str | Path,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    image_files: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a ``res101.mat`` in the release's format (the one writer of that file in modgen).

    Args:
        path: the file to write.
        features: ``(N, D)`` float features (stored ``D x N``, one column per sample, as float32).
        labels: ``(N,)`` 0-based class ids (stored ``N x 1``, 1-based).
        image_files: ``N`` image names for the ``image_files`` cell array (optional).
        extra: further variables to store (``modgen_note``, ...).

    Returns:
        ``path``.

    Example:
        >>> import tempfile
        >>> out = write_res101(Path(tempfile.mkdtemp()) / FEATURES_FILE, np.ones((3, 2)), np.array([0, 1, 1]))
        >>> read_mat(out)["features"].shape
        (2, 3)
    """
    import scipy.io

    feats = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels).reshape(-1)
    if feats.ndim != 2 or feats.shape[0] != labels.size:
        raise DataError(
            f"{str(path)!r}: features {feats.shape} and labels {labels.shape} do not give N x D and N"
        )
    contents: dict[str, Any] = {
        "features": feats.T,  # D x N
        "labels": (labels.astype(np.int64) + 1).astype(np.float64).reshape(-1, 1),
        **dict(extra or {}),
    }
    if image_files is not None:
        cells = np.empty((labels.size, 1), dtype=object)
        for i, name in enumerate(image_files):
            cells[i, 0] = str(name)
        contents["image_files"] = cells
    scipy.io.savemat(str(path), contents, do_compression=False)
    return Path(path)


def write_att_splits(
    path: str | Path,
    attributes: np.ndarray,
    class_names: Sequence[str],
    locations: Mapping[str, np.ndarray],
    *,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an ``att_splits.mat`` in the release's format.

    ``att`` is the class attributes L2-normalised per class and ``original_att`` the raw values
    (both ``A x C``, one column per class), ``allclasses_names`` a ``C x 1`` cell array, and each
    location an ``n x 1`` vector of 1-based sample indices.

    Args:
        path: the file to write.
        attributes: ``(C, A)`` raw class attributes; no class may be all zeros.
        class_names: ``C`` names.
        locations: 0-based sample indices by key (``trainval_loc``, ``test_seen_loc``,
            ``test_unseen_loc`` and, for a validation split, ``train_loc`` and ``val_loc``).
        extra: further variables to store.

    Returns:
        ``path``.

    Raises:
        DataError: a class whose attributes are all zero (``att`` would divide by zero).
    """
    import scipy.io

    raw = np.asarray(attributes, dtype=np.float64)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    if raw.ndim != 2 or raw.shape[0] != len(class_names):
        raise DataError(f"{str(path)!r}: {raw.shape} attributes for {len(class_names)} class names")
    if (norms == 0).any():
        c = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise DataError(
            f"{str(path)!r}: class {class_names[c]!r} has all-zero attributes, which cannot be L2-normalised "
            "for 'att'; give it at least one non-zero attribute"
        )
    names = np.empty((len(class_names), 1), dtype=object)
    for i, name in enumerate(class_names):
        names[i, 0] = str(name)
    contents: dict[str, Any] = {
        "att": (raw / norms).T,
        "original_att": raw.T,
        "allclasses_names": names,
        **{
            key: (np.sort(np.asarray(loc, dtype=np.int64)) + 1).astype(np.float64).reshape(-1, 1)
            for key, loc in locations.items()
        },
        **dict(extra or {}),
    }
    scipy.io.savemat(str(path), contents, do_compression=False)
    return Path(path)


def _require(mat: dict[str, Any], key: str, path: Path, hint: str = "") -> np.ndarray:
    if key not in mat:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(
            f"{str(path)!r}: missing key {key!r} (keys present: {', '.join(present) or 'none'}){hint}"
        )
    return np.asarray(mat[key])


def _vector(arr: np.ndarray, path: Path, key: str) -> np.ndarray:
    if arr.ndim > 2 or (arr.ndim == 2 and 1 not in arr.shape):
        raise DataError(f"{str(path)!r}: key {key!r} has shape {arr.shape}; expected an n x 1 vector")
    return arr.reshape(-1)


def _integers(arr: np.ndarray, path: Path, key: str) -> np.ndarray:
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    raise DataError(f"{str(path)!r}: key {key!r} must hold integers (1-based), got dtype {arr.dtype}")


def _locations(mat: dict[str, Any], key: str, path: Path, n: int, hint: str = "") -> np.ndarray:
    loc = _integers(_vector(_require(mat, key, path, hint), path, key), path, key)
    if loc.size and (loc.min() < 1 or loc.max() > n):
        bad = loc[(loc < 1) | (loc > n)][0]
        raise DataError(
            f"{str(path)!r}: key {key!r} holds index {bad}, out of range: expected 1-based sample indices "
            f"in [1, {n}] ({n} samples in {FEATURES_FILE})"
        )
    if np.unique(loc).size != loc.size:
        raise DataError(f"{str(path)!r}: key {key!r} holds repeated sample indices")
    return loc - 1


def _class_names(mat: dict[str, Any], count: int, path: Path) -> tuple[str, ...]:
    if "allclasses_names" not in mat:
        return tuple(f"class_{i + 1}" for i in range(count))
    raw = np.asarray(mat["allclasses_names"]).reshape(-1)
    if raw.size != count:
        raise DataError(
            f"{str(path)!r}: key 'allclasses_names' names {raw.size} classes but the semantics have "
            f"{count} columns; the class counts must match"
        )

    def text(v: Any) -> str:
        v = np.asarray(v).reshape(-1)
        return str(v[0]) if v.size else ""

    return tuple(text(v) for v in raw)


def _read_features(folder: Path) -> tuple[np.ndarray, np.ndarray, Path]:
    path = folder / FEATURES_FILE
    mat = read_mat(path, ("features", "labels"))
    features = _require(mat, "features", path)
    labels = _integers(_vector(_require(mat, "labels", path), path, "labels"), path, "labels")
    if features.ndim != 2 or features.dtype.kind not in "fiu":
        raise DataError(f"{str(path)!r}: key 'features' must be a numeric D x N matrix, got {features.shape}")
    n = labels.size
    if features.shape[1] != n:
        if features.shape[0] == n:
            raise DataError(
                f"{str(path)!r}: key 'features' has shape {features.shape}, which is N x D (one row per "
                f"sample); the xlsa17 format stores D x N (one column per sample, here {n} labels). "
                "Save its transpose."
            )
        raise DataError(
            f"{str(path)!r}: key 'features' has shape {features.shape} but 'labels' has {n} entries; "
            "expected D x N with N the number of labels"
        )
    finite = np.isfinite(features)
    if not finite.all():
        bad_samples = np.flatnonzero(~finite.all(axis=0))
        raise DataError(
            f"{str(path)!r}: key 'features' holds NaN or infinite values in {bad_samples.size} samples "
            f"(first: sample {bad_samples[0] + 1}, 1-based)"
        )
    return np.ascontiguousarray(features.T, dtype=np.float32), labels, path


def load_xlsa17(
    root: str | Path,
    dataset: str,
    semantics: str = "att",
    validation: bool = False,
    scaling: str = "minmax",
) -> ZSLData:
    """Load an xlsa17 data set (``res101.mat`` + ``att_splits.mat`` or ``sent_splits.mat``).

    Args:
        root: the folder holding ``<dataset>/res101.mat`` (the release's ``data`` folder) or the
            data set's folder itself.
        dataset: ``AWA1``, ``AWA2``, ``CUB``, ``SUN``, ``APY`` (any other name works for a folder in
            the same format).
        semantics: ``att`` (L2-normalised attributes), ``original_att`` (raw values) or ``sent``
            (``sent_splits.mat``, CUB's sentence embeddings).
        validation: return the validation view built from ``train_loc``/``val_loc``: seen
            classes are those of ``train_loc``, unseen those of ``val_loc`` (see
            :meth:`ZSLData.validation_view`). When the semantics file lacks these keys, those of
            the other split file in the folder are used if its split is the same (CUB's
            ``att_splits.mat`` has none, its ``sent_splits.mat`` has them).
        scaling: ``minmax`` (fitted on ``trainval`` only, as f-CLSWGAN), ``l2`` or ``none``;
            applied after the validation view is built.

    Returns:
        ``ZSLData`` with features ``(N, D)``, semantics ``(C, A)`` (the file's ``A x C``
        transposed), 0-based labels and indices.

    Raises:
        DataError: a missing file or key, features stored N x D, an index out of range,
            overlapping seen and unseen classes, NaN/inf features, semantics whose class count
            does not match, an empty class, or no validation split; the message names the file
            and the key.
        ConfigError: an unknown ``semantics`` or ``scaling``.

    Example:
        >>> data = load_xlsa17("~/xlsa17/data", "CUB", semantics="sent")  # doctest: +SKIP
        >>> data.attr_dim  # doctest: +SKIP
        1024
    """
    _check_options(dataset, semantics, scaling)
    folder = find_xlsa17_folder(root, dataset)
    dataset = dataset.upper() if dataset.upper() in XLSA17_DATASETS else dataset
    split_name, sem_key = SPLIT_FILES[semantics]
    split_path = folder / split_name
    if not split_path.is_file():
        hint = " (only CUB has sent_splits.mat; use semantics='att')" if semantics == "sent" else ""
        raise DataError(f"{str(split_path)!r}: file not found{hint}")

    features, raw_labels, features_path = _read_features(folder)
    n = raw_labels.size
    splits = read_mat(split_path)
    sem = _read_semantics(splits, sem_key, split_path)
    num_classes = sem.shape[1]
    names = _class_names(splits, num_classes, split_path)
    labels = _check_labels(raw_labels, num_classes, features_path, split_path, sem_key)
    trainval, test_seen, test_unseen = _read_splits(splits, split_path, n)
    seen, unseen = _check_classes(labels, trainval, test_seen, test_unseen, names, split_path)
    _check_every_class_has_samples(labels, num_classes, names, features_path, split_name, sem_key)
    train, val, val_from = _validation_split(splits, split_path, folder, n, trainval, test_seen, validation)
    val_classes = _check_validation(labels, train, val, unseen, names, val_from)

    data = ZSLData(
        name=dataset,
        features=features,
        labels=labels,
        semantics=np.ascontiguousarray(sem.T, dtype=np.float32),
        class_names=names,
        trainval=trainval,
        test_seen=test_seen,
        test_unseen=test_unseen,
        seen_classes=seen,
        unseen_classes=unseen,
        train=train,
        val=val,
        val_classes=val_classes,
        preprocessing={
            "features": f"{FEATURES_FILE} 'features' ({features.shape[1]}-d)",
            "semantics": f"{split_name} {sem_key!r}" + (" (raw)" if semantics == "original_att" else ""),
            "split": "xlsa17 Proposed Split",
            "scaling": "none",
        },
        source=str(folder),
    )
    if validation:
        data = data.validation_view()
        prep = dict(data.preprocessing, validation_split_from=f"{val_from.name} train_loc/val_loc")
        data = attrs.evolve(data, preprocessing=prep)
    return data.scaled(scaling)


def _check_options(dataset: Any, semantics: str, scaling: str) -> None:
    if semantics not in SEMANTICS:
        raise ConfigError(
            f"data.semantics: unknown value {semantics!r}; expected one of {', '.join(SEMANTICS)}"
        )
    if scaling not in SCALINGS:
        raise ConfigError(f"scaling: unknown value {scaling!r}; expected one of {', '.join(SCALINGS)}")
    if not isinstance(dataset, str) or not dataset:
        raise ConfigError(
            f"data.name: expected an xlsa17 data set name ({', '.join(XLSA17_DATASETS)}), got {dataset!r}"
        )


def _read_semantics(splits: dict[str, Any], sem_key: str, split_path: Path) -> np.ndarray:
    """The ``A x C`` semantics matrix of the split file, checked."""
    sem = _require(splits, sem_key, split_path)
    if sem.ndim != 2 or sem.dtype.kind not in "fiu":
        raise DataError(
            f"{str(split_path)!r}: key {sem_key!r} must be a numeric A x C matrix, got shape {sem.shape}"
        )
    if not np.isfinite(sem).all():
        raise DataError(f"{str(split_path)!r}: key {sem_key!r} holds NaN or infinite values")
    return sem


def _check_labels(
    raw_labels: np.ndarray, num_classes: int, features_path: Path, split_path: Path, sem_key: str
) -> np.ndarray:
    """0-based labels; the 1-based file labels must name columns of the semantics."""
    if raw_labels.size and (raw_labels.min() < 1 or raw_labels.max() > num_classes):
        bad = raw_labels[(raw_labels < 1) | (raw_labels > num_classes)][0]
        raise DataError(
            f"{str(features_path)!r}: key 'labels' holds class {bad}, but {split_path.name} key {sem_key!r} "
            f"has {num_classes} class columns (A x C); the class counts do not match (labels are 1-based "
            f"in [1, {num_classes}])"
        )
    return raw_labels - 1


def _read_splits(
    splits: dict[str, Any], split_path: Path, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``trainval``, ``test_seen``, ``test_unseen`` (0-based): non-empty where needed and disjoint."""
    trainval, test_seen, test_unseen = (_locations(splits, k, split_path, n) for k in _SPLIT_KEYS)
    for key, loc, needed in (
        ("trainval_loc", trainval, "the training samples of the seen classes"),
        (
            "test_unseen_loc",
            test_unseen,
            "the test samples of the unseen classes, which zero-shot learning is judged on",
        ),
    ):
        if loc.size == 0:
            raise DataError(
                f"{str(split_path)!r}: key {key!r} is empty; it must list {needed} (1-based sample indices)"
            )
    for a, b, ia, ib in (
        ("trainval_loc", "test_seen_loc", trainval, test_seen),
        ("trainval_loc", "test_unseen_loc", trainval, test_unseen),
        ("test_seen_loc", "test_unseen_loc", test_seen, test_unseen),
    ):
        common = np.intersect1d(ia, ib)
        if common.size:
            raise DataError(
                f"{str(split_path)!r}: keys {a!r} and {b!r} share {common.size} samples (e.g. sample "
                f"{common[0] + 1}, 1-based); the splits must be disjoint"
            )
    return trainval, test_seen, test_unseen


def _check_classes(
    labels: np.ndarray,
    trainval: np.ndarray,
    test_seen: np.ndarray,
    test_unseen: np.ndarray,
    names: Sequence[str],
    split_path: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """The seen and unseen classes: disjoint, and ``test_seen`` only of seen classes."""
    seen = np.unique(labels[trainval])
    unseen = np.unique(labels[test_unseen])
    overlap = np.intersect1d(seen, unseen)
    if overlap.size:
        c = overlap[0]
        raise DataError(
            f"{str(split_path)!r}: seen and unseen classes overlap: class {c + 1} ({names[c]!r}) has samples "
            f"in both 'trainval_loc' and 'test_unseen_loc' ({overlap.size} classes in all)"
        )
    stray = np.setdiff1d(np.unique(labels[test_seen]), seen)
    if stray.size:
        c = stray[0]
        raise DataError(
            f"{str(split_path)!r}: key 'test_seen_loc' holds class {c + 1} ({names[c]!r}), which has no sample "
            "in 'trainval_loc' (an empty seen class)"
        )
    return seen, unseen


def _check_every_class_has_samples(
    labels: np.ndarray,
    num_classes: int,
    names: Sequence[str],
    features_path: Path,
    split_name: str,
    sem_key: str,
) -> None:
    empty = np.flatnonzero(np.bincount(labels, minlength=num_classes) == 0)
    if empty.size:
        c = empty[0]
        raise DataError(
            f"{str(features_path)!r}: key 'labels': class {c + 1} ({names[c]!r}) is empty (no sample has this "
            f"label; {empty.size} empty classes in all); every column of {split_name} {sem_key!r} needs samples"
        )


def _check_validation(
    labels: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    unseen: np.ndarray,
    names: Sequence[str],
    val_from: Path,
) -> np.ndarray:
    """The validation classes: disjoint from the training ones, and seen."""
    val_classes = np.unique(labels[val]) if val.size else np.zeros(0, np.int64)
    clash = np.intersect1d(np.unique(labels[train]), val_classes)
    if clash.size:
        c = clash[0]
        raise DataError(
            f"{str(val_from)!r}: keys 'train_loc' and 'val_loc' share class {c + 1} ({names[c]!r}); "
            "training and validation classes must be disjoint"
        )
    if np.intersect1d(val_classes, unseen).size:
        raise DataError(
            f"{str(val_from)!r}: key 'val_loc' holds unseen classes; validation classes must be seen"
        )
    return val_classes


def _validation_split(
    splits: dict[str, Any],
    split_path: Path,
    folder: Path,
    n: int,
    trainval: np.ndarray,
    test_seen: np.ndarray,
    required: bool,
) -> tuple[np.ndarray, np.ndarray, Path]:
    """``train_loc``/``val_loc`` (0-based) of the semantics file, or of the sibling split file
    when it has them and the same split; empty arrays when neither does (an error if
    ``required``)."""
    empty = np.zeros(0, np.int64)
    if "train_loc" in splits or "val_loc" in splits:
        return (
            _locations(splits, "train_loc", split_path, n),
            _locations(splits, "val_loc", split_path, n),
            split_path,
        )
    for other_name in {v[0] for v in SPLIT_FILES.values()} - {split_path.name}:
        other_path = folder / other_name
        if not other_path.is_file():
            continue
        other = read_mat(other_path, ("train_loc", "val_loc", *_SPLIT_KEYS))
        same = (
            all(k in other for k in _SPLIT_KEYS)
            and np.array_equal(np.sort(_locations(other, "trainval_loc", other_path, n)), np.sort(trainval))
            and np.array_equal(np.sort(_locations(other, "test_seen_loc", other_path, n)), np.sort(test_seen))
        )
        if same and "train_loc" in other and "val_loc" in other:
            return (
                _locations(other, "train_loc", other_path, n),
                _locations(other, "val_loc", other_path, n),
                other_path,
            )
    if required:
        raise DataError(
            f"{str(split_path)!r}: missing keys 'train_loc' and 'val_loc', so there is no validation split "
            f"(validation=True). The xlsa17 APY release has none; CUB has them in sent_splits.mat. Use "
            "validation=False, or add train_loc/val_loc (1-based sample indices) to the file."
        )
    return empty, empty, split_path


def xlsa17_loader(
    root: str | None = None,
    *,
    name: str | None = None,
    semantics: str = "att",
    validation: bool = False,
    scaling: str = "minmax",
) -> ZSLData:
    """An xlsa17 benchmark (AWA1, AWA2, CUB, SUN, APY) from res101.mat and att_splits.mat.

    The registered ``xlsa17`` loader: :func:`load_xlsa17` with ``root`` and ``name`` required.

    Raises:
        ConfigError: ``root`` or ``name`` is missing.

    Example:
        >>> xlsa17_loader("~/xlsa17/data", name="SUN").num_classes  # doctest: +SKIP
        717
    """
    if not root:
        raise ConfigError(
            "data.root: the xlsa17 loader needs the folder holding <name>/res101.mat (set data.root)"
        )
    if not name:
        raise ConfigError(
            f"data.name: the xlsa17 loader needs a data set name, one of {', '.join(XLSA17_DATASETS)} (set data.name)"
        )
    return load_xlsa17(root, name, semantics=semantics, validation=validation, scaling=scaling)
