"""Helpers shared by the embedded data sets (digits, fashion-mnist): the hand-made attribute
tables, the fixed class and sample splits, PCA and the finishing steps every loader runs."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from modgen.data.zsldata import SCALINGS, ZSLData
from modgen.errors import ConfigError, DataError

__all__ = [
    "read_attribute_table",
    "check_class_choice",
    "rotated_class_split",
    "split_name",
    "ROTATION_SEED",
    "stratified_split",
    "build_embedded",
    "apply_pca",
    "finish",
    "check_semantics_option",
    "check_scaling_option",
    "default_cache_dir",
    "save_atomic",
    "read_cached",
]


def read_attribute_table(filename: str, first_columns: int = 1) -> tuple[list[str], list[str], np.ndarray]:
    """Read a hand-made attribute CSV that ships inside :mod:`modgen.data`.

    Lines starting with ``#`` are comments; the first other line is the header. The first
    ``first_columns`` columns describe the class (the last of them is its name); the others
    are attribute values.

    Returns:
        ``(class_names, attribute_names, values (C, A) float32)``.
    """
    text = resources.files("modgen.data").joinpath(filename).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO("\n".join(ln for ln in text.splitlines() if not ln.startswith("#")))))
    header, body = rows[0], [r for r in rows[1:] if r]
    try:
        values = np.array([[float(v) for v in r[first_columns:]] for r in body], dtype=np.float32)
    except ValueError as err:  # pragma: no cover - the shipped tables are tested
        raise DataError(f"modgen/data/{filename}: a value is not a number ({err})") from err
    return [r[first_columns - 1] for r in body], header[first_columns:], values


def check_class_choice(
    dataset: str, unseen: Sequence[int], val_classes: Sequence[int], num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a seen/unseen/validation class choice given as loader options.

    Returns:
        ``(seen, unseen, val)`` sorted int64 class ids.

    Raises:
        ConfigError: an id out of range, repeated, a validation class that is unseen, or too
            few classes left to train on.
    """
    for key, ids in (("unseen", unseen), ("val_classes", val_classes)):
        ids = list(ids)
        bad = [c for c in ids if not isinstance(c, (int, np.integer)) or not 0 <= int(c) < num_classes]
        if bad or len(set(ids)) != len(ids):
            raise ConfigError(
                f"{dataset}: option {key}={ids!r} must be distinct class ids in [0, {num_classes})"
            )
    u = np.unique(np.asarray(list(unseen), dtype=np.int64))
    v = np.unique(np.asarray(list(val_classes), dtype=np.int64))
    if u.size == 0:
        raise ConfigError(f"{dataset}: option unseen must name at least one class")
    seen = np.setdiff1d(np.arange(num_classes), u)
    if np.intersect1d(u, v).size:
        raise ConfigError(
            f"{dataset}: option val_classes={v.tolist()} overlaps unseen={u.tolist()}; "
            "validation classes are drawn from the seen classes"
        )
    if seen.size - v.size < 1:
        raise ConfigError(
            f"{dataset}: no seen class is left to train on (unseen={u.tolist()}, val={v.tolist()})"
        )
    return seen, u, v


#: The seed of the permutations behind the rotated class splits (:func:`rotated_class_split`).
ROTATION_SEED = 22


def rotated_class_split(
    dataset: str,
    split: int,
    num_classes: int,
    unseen: Sequence[int],
    val_classes: Sequence[int],
    defaults: tuple[Sequence[int], Sequence[int]],
) -> tuple[list[int], list[int]]:
    """The unseen and validation classes of class split ``split`` (0: ``unseen``/``val_classes``).

    The rule looks at class ids only, never at images or results. Split ``K >= 1`` belongs to
    cycle ``c = (K - 1) // C`` (``C`` classes) at position ``j = (K - 1) % C``; the cycle's classes
    are laid on a circle in the order of a seeded permutation
    (``numpy.random.default_rng([ROTATION_SEED, c]).permutation(C)``), and from position ``j``
    on, the next ``u`` classes are unseen and the ``v`` after them are validation classes, where
    ``u`` and ``v`` are the counts of the fixed split. So the ``C`` splits of a cycle are all
    different, and each class is unseen in exactly ``u`` of them and a validation class in ``v``.

    Args:
        dataset: the data set's name, for messages.
        split: ``0`` (the given ``unseen``/``val_classes``) or ``K >= 1``.
        num_classes: ``C``.
        unseen, val_classes: the loader's options (the fixed split by default).
        defaults: the fixed split's ``(unseen, val_classes)``; a rotated split refuses others.

    Returns:
        ``(unseen, val_classes)`` as lists of class ids.

    Raises:
        ConfigError: ``split`` is not an integer >= 0, or a rotated split is asked for with
            ``unseen`` or ``val_classes`` set as well.

    Example:
        >>> rotated_class_split("digits", 0, 10, (4, 5, 6), (0, 3), ((4, 5, 6), (0, 3)))
        ([4, 5, 6], [0, 3])
        >>> u, v = rotated_class_split("digits", 1, 10, (4, 5, 6), (0, 3), ((4, 5, 6), (0, 3)))
        >>> len(u), len(v), set(u) & set(v)
        (3, 2, set())
    """
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)) or split < 0:
        raise ConfigError(
            f"{dataset}: option split={split!r} must be an integer >= 0 (0: the fixed class split; "
            "K >= 1: rotated split K); e.g. --set data.options.split=1"
        )
    if split == 0:
        return [int(c) for c in unseen], [int(c) for c in val_classes]
    if list(unseen) != list(defaults[0]) or list(val_classes) != list(defaults[1]):
        raise ConfigError(
            f"{dataset}: option split={split} chooses the unseen and validation classes itself; "
            "leave the options unseen and val_classes unset, or set split=0"
        )
    u, v = len(defaults[0]), len(defaults[1])
    cycle, start = divmod(int(split) - 1, num_classes)
    order = np.random.default_rng([ROTATION_SEED, cycle]).permutation(num_classes)
    ring = [int(order[(start + i) % num_classes]) for i in range(u + v)]
    return sorted(ring[:u]), sorted(ring[u:])


def split_name(name: str, split: int) -> str:
    """The data's name with its class split: ``name`` for split 0, else ``name-splitK``, so
    runs, checkpoints (:func:`~modgen.train.checkpoint.data_fingerprint`) and results of
    different splits never mix.

    Example:
        >>> split_name("digits", 0), split_name("digits", 3)
        ('digits', 'digits-split3')
    """
    return name if split == 0 else f"{name}-split{split}"


def stratified_split(
    labels: np.ndarray, classes: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split the samples of ``classes`` per class: ``fraction`` of each to the first part.

    Returns:
        ``(first, second)`` sorted int64 sample indices; every class keeps at least one sample
        in ``first``.
    """
    rng = np.random.default_rng(seed)
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        k = max(1, int(round(idx.size * fraction)))
        first.append(idx[:k])
        second.append(idx[k:])
    cat = np.concatenate
    return np.sort(cat(first)).astype(np.int64), np.sort(cat(second)).astype(np.int64)


def build_embedded(
    *,
    name: str,
    features: np.ndarray,
    labels: np.ndarray,
    semantics: np.ndarray,
    class_names: Sequence[str],
    trainval: np.ndarray,
    test_seen: np.ndarray,
    test_unseen: np.ndarray,
    seen: np.ndarray,
    unseen: np.ndarray,
    val_classes: np.ndarray,
    preprocessing: dict[str, Any],
    source: str,
) -> ZSLData:
    """A :class:`ZSLData` whose validation split is cut from ``trainval`` by class.

    ``val`` is the ``trainval`` samples of ``val_classes`` and ``train`` the other ``trainval``
    samples, so model selection never touches a test sample.
    """
    in_val = np.isin(labels[trainval], val_classes)
    return ZSLData(
        name=name,
        features=features,
        labels=labels,
        semantics=semantics,
        class_names=tuple(class_names),
        trainval=trainval,
        test_seen=test_seen,
        test_unseen=test_unseen,
        seen_classes=seen,
        unseen_classes=unseen,
        train=trainval[~in_val] if val_classes.size else np.zeros(0, np.int64),
        val=trainval[in_val] if val_classes.size else np.zeros(0, np.int64),
        val_classes=val_classes,
        preprocessing=preprocessing,
        source=source,
    )


def apply_pca(data: ZSLData, components: int, seed: int) -> ZSLData:
    """Project the features onto ``components`` principal axes fitted on ``trainval`` only.

    Raises:
        ConfigError: ``components`` is not in ``[1, min(D, |trainval|)]``.
    """
    limit = min(data.feature_dim, data.trainval.size)
    if isinstance(components, bool) or not isinstance(components, int) or not 1 <= components <= limit:
        raise ConfigError(f"{data.name}: option pca={components!r} must be an integer in [1, {limit}]")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=components, svd_solver="full", random_state=seed).fit(data.features[data.trainval])
    prep = dict(data.preprocessing, pca=components, pca_fit_on=f"trainval ({data.trainval.size} samples)")
    return attrs.evolve(data, features=pca.transform(data.features).astype(np.float32), preprocessing=prep)


def check_semantics_option(dataset: str, semantics: str) -> None:
    """The embedded data sets have only hand-made attributes (``"att"``)."""
    if semantics != "att":
        raise ConfigError(
            f"{dataset}: semantics={semantics!r} is not available; this data set has only 'att' "
            "(its hand-made attribute table)"
        )


def check_scaling_option(dataset: str, scaling: str) -> None:
    """Fail early (before any slow work) on an unknown scaling."""
    if scaling not in SCALINGS:
        raise ConfigError(f"{dataset}: scaling={scaling!r} is unknown; expected one of {', '.join(SCALINGS)}")


def finish(
    data: ZSLData, *, validation: bool, scaling: str, pca: int | None = None, seed: int = 0, split: int = 0
) -> ZSLData:
    """The loaders' last steps, in an order that never fits on held-out samples: the
    validation view (if asked), then PCA and scaling, both fitted on the resulting
    ``trainval``; a rotated class split (``split >= 1``) is named (:func:`split_name`) and
    recorded as ``preprocessing["class_split"]``."""
    if validation:
        data = data.validation_view()
    if pca is not None:
        data = apply_pca(data, pca, seed)
    data = data.scaled(scaling)
    if split:
        prep = dict(data.preprocessing, class_split=int(split))
        data = attrs.evolve(data, name=split_name(data.name, split), preprocessing=prep)
    return data


def default_cache_dir() -> Path:
    """Where derived features are cached when no ``cache_dir`` is given.

    ``$MODGEN_CACHE``, else ``$XDG_CACHE_HOME/modgen``, else ``~/.cache/modgen``.
    """
    if os.environ.get("MODGEN_CACHE"):
        return Path(os.environ["MODGEN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "modgen"


def save_atomic(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` through a temporary file, so a reader never sees half a file
    (two runs may fill the same cache at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as f:
        np.save(f, array)
    os.replace(f.name, path)


def read_cached(cache: Path | None, shape: tuple[int, int]) -> np.ndarray | None:
    """The cached features, or ``None`` when absent or unreadable (then they are made again)."""
    if cache is None or not cache.is_file():
        return None
    try:
        feats = np.load(cache)
    except (OSError, ValueError, EOFError):
        return None
    return feats if feats.shape == shape and feats.dtype == np.float32 else None
