"""The data values every later stage reads: :class:`ZSLData` and :class:`Episode`.

:class:`ZSLData` is one frozen value holding a whole zero-shot data set: the visual features,
the per-sample labels, the class semantics, the index sets of the splits and what
preprocessing was applied. It is checked once, when it is built; every stage after it can
rely on the invariants listed in its docstring.

:class:`Episode` is what a task sampler hands the trainer: a batch of ``T`` tasks, each with a
support set and a query set drawn from disjoint classes, as tensors on the training device.

Example:
    >>> import numpy as np
    >>> data = ZSLData(
    ...     name="toy", features=np.eye(4, 3), labels=[0, 1, 0, 2],
    ...     semantics=np.eye(3, 2) + 1, class_names=("a", "b", "c"),
    ...     trainval=[0, 1], test_seen=[2], test_unseen=[3],
    ...     seen_classes=[0, 1], unseen_classes=[2],
    ... )
    >>> data.feature_dim, data.attr_dim, data.num_classes
    (3, 2, 3)
    >>> data.scaled("minmax").preprocessing["scaling"]
    'minmax'
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import numpy as np
import torch
from attrs import field, frozen

from modgen.errors import ConfigError, DataError, ShapeError

__all__ = ["ZSLData", "Episode", "SCALINGS", "VALIDATION_TRAIN_FRACTION"]

#: Feature scalings understood by :meth:`ZSLData.scaled`.
SCALINGS: tuple[str, ...] = ("minmax", "l2", "none")

#: Share of each class's ``train`` samples that :meth:`ZSLData.validation_view` trains on.
VALIDATION_TRAIN_FRACTION = 0.8

# The validation view's 80/20 cut is part of the data definition, not of an experiment, so it
# uses a fixed seed rather than one passed in.
_VALIDATION_SEED = 0


def _float32(value: Any) -> Any:
    arr = np.asarray(value)
    if arr.dtype.kind in "fiu":
        return np.ascontiguousarray(arr, dtype=np.float32)
    return arr


def _int64(value: Any) -> Any:
    arr = np.asarray(value)
    if arr.dtype.kind in "iu" or (arr.size == 0 and arr.dtype.kind in "fiub"):
        return np.ascontiguousarray(arr, dtype=np.int64).reshape(arr.shape if arr.size else (0,))
    return arr


def _names(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        return value
    return tuple(str(v) for v in value)


def _index(default: bool = True) -> Any:
    if default:
        return field(factory=lambda: np.zeros(0, dtype=np.int64), converter=_int64)
    return field(converter=_int64)


@frozen(eq=False)
class ZSLData:
    """A zero-shot learning data set: features, labels, class semantics and splits.

    Class ids are 0-based rows of ``semantics`` and ``class_names``; sample indices are rows of
    ``features``. Arrays are given as anything :func:`numpy.asarray` accepts and are stored as
    the dtypes below; treat them as read-only (the value is shared, never copied).

    Attributes:
        name: the data set's name (``"AWA2"``, ``"digits"``).
        features: ``(N, D)`` float32 visual features.
        labels: ``(N,)`` int64 class id of each sample.
        semantics: ``(C, A)`` float32 class semantics (attributes or text embeddings).
        class_names: ``C`` class names.
        trainval: int64 sample indices to train on (seen classes).
        train: int64 sample indices of the validation protocol's training classes (may be empty).
        val: int64 sample indices of the validation classes (may be empty).
        test_seen: int64 held-out sample indices of seen classes.
        test_unseen: int64 sample indices of unseen classes.
        seen_classes: sorted int64 class ids of ``trainval``.
        unseen_classes: sorted int64 class ids of ``test_unseen``.
        val_classes: sorted int64 class ids of ``val`` (empty without a validation split).
        preprocessing: what was applied to the raw data, JSON-able (every result reports it).
        source: where the data came from (a path or a description).

    Invariants (checked on construction, :class:`~modgen.errors.DataError` naming the field):
    finite features and semantics; labels in ``[0, C)``; index arrays in ``[0, N)`` without
    duplicates; ``trainval``, ``test_seen`` and ``test_unseen`` pairwise disjoint, as are
    ``train`` and ``val``; seen and unseen classes disjoint; ``trainval`` and ``test_seen``
    hold only seen classes and ``test_unseen`` only unseen ones; every seen class has a
    ``trainval`` sample and every unseen class a ``test_unseen`` sample; ``val`` holds only
    ``val_classes``, which are seen classes that ``train`` does not hold.
    """

    name: str = field()
    features: np.ndarray = field(converter=_float32)
    labels: np.ndarray = field(converter=_int64)
    semantics: np.ndarray = field(converter=_float32)
    class_names: tuple[str, ...] = field(converter=_names)
    trainval: np.ndarray = _index(default=False)
    test_seen: np.ndarray = _index(default=False)
    test_unseen: np.ndarray = _index(default=False)
    seen_classes: np.ndarray = _index(default=False)
    unseen_classes: np.ndarray = _index(default=False)
    train: np.ndarray = _index()
    val: np.ndarray = _index()
    val_classes: np.ndarray = _index()
    preprocessing: dict[str, Any] = field(factory=dict)
    source: str = field(default="")

    def __attrs_post_init__(self) -> None:
        _validate(self)

    # -- sizes --------------------------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        """``D``, the width of a visual feature."""
        return int(self.features.shape[1])

    @property
    def attr_dim(self) -> int:
        """``A``, the width of a class's semantics."""
        return int(self.semantics.shape[1])

    @property
    def num_classes(self) -> int:
        """``C``, the number of classes (rows of ``semantics``)."""
        return int(self.semantics.shape[0])

    @property
    def num_samples(self) -> int:
        """``N``, the number of samples (rows of ``features``)."""
        return int(self.features.shape[0])

    @property
    def has_validation(self) -> bool:
        """Whether the data carries a validation split (``train``/``val``)."""
        return self.val.size > 0 and self.val_classes.size > 0

    # -- derived values -----------------------------------------------------------------------
    def validation_view(self) -> ZSLData:
        """The data re-split for model selection, so that no test class is ever looked at.

        Seen classes become the classes of ``train``, unseen classes become ``val_classes``;
        ``trainval`` is a fixed 80% of each class's ``train`` samples, ``test_seen`` the other
        20% (a class with one sample keeps it for training), ``test_unseen`` is ``val``. The
        view has no validation split of its own. Features are shared, not re-scaled: loaders
        build the view before scaling so that the scaler sees only the view's ``trainval``.

        Returns:
            A new :class:`ZSLData` whose ``preprocessing`` records ``view = "validation"``.

        Raises:
            DataError: the data has no validation split.

        Example:
            >>> from modgen.data.digits import load_digits_zsl
            >>> view = load_digits_zsl().validation_view()
            >>> view.unseen_classes.tolist()
            [0, 3]
        """
        if not self.has_validation:
            raise DataError(
                f"{self.name}: no validation split (the fields 'val' and 'val_classes' are empty), "
                f"so there is no validation view. Use the test protocol (validation=False) or a data "
                f"source with train/val splits (xlsa17: train_loc and val_loc)."
            )
        train = np.sort(self.train)
        train_labels = self.labels[train]
        rng = np.random.default_rng(_VALIDATION_SEED)
        order = np.lexsort((rng.random(train.size), train_labels))
        train, train_labels = train[order], train_labels[order]
        classes, starts, counts = np.unique(train_labels, return_index=True, return_counts=True)
        keep = np.clip(np.round(counts * VALIDATION_TRAIN_FRACTION).astype(np.int64), 1, None)
        keep = np.where(counts >= 2, np.minimum(keep, counts - 1), counts)
        rank = np.arange(train.size) - np.repeat(starts, counts)
        in_fit = rank < np.repeat(keep, counts)
        prep = dict(self.preprocessing)
        prep.update(
            view="validation",
            validation_split=f"{int(VALIDATION_TRAIN_FRACTION * 100)}% of train per class -> trainval, "
            "the rest -> test_seen, val -> test_unseen",
        )
        return ZSLData(
            name=self.name,
            features=self.features,
            labels=self.labels,
            semantics=self.semantics,
            class_names=self.class_names,
            trainval=np.sort(train[in_fit]),
            test_seen=np.sort(train[~in_fit]),
            test_unseen=np.sort(self.val),
            seen_classes=classes,
            unseen_classes=self.val_classes,
            preprocessing=prep,
            source=self.source,
        )

    def scaled(self, method: str = "minmax") -> ZSLData:
        """The data with its features scaled, fitted on ``trainval`` samples only.

        Args:
            method: ``"minmax"`` (per dimension to ``[0, 1]`` over ``trainval``, as f-CLSWGAN;
                other samples may fall outside), ``"l2"`` (each sample to unit length; nothing
                is fitted) or ``"none"``.

        Returns:
            A new :class:`ZSLData` with ``(N, D)`` scaled features; ``preprocessing`` records the
            scaling and what it was fitted on.

        Raises:
            ConfigError: an unknown ``method``.

        Example:
            >>> import numpy as np
            >>> d = ZSLData("t", np.array([[0.0], [2], [4]]), [0, 0, 1], [[1.0], [2]], ("a", "b"),
            ...             trainval=[0, 1], test_seen=[], test_unseen=[2],
            ...             seen_classes=[0], unseen_classes=[1])
            >>> d.scaled("minmax").features.ravel().tolist()
            [0.0, 1.0, 2.0]
        """
        if method not in SCALINGS:
            raise ConfigError(f"scaling: unknown method {method!r}; expected one of {', '.join(SCALINGS)}")
        prep = dict(self.preprocessing)
        previous = prep.get("scaling", "none")
        if method == "none":
            prep.setdefault("scaling", "none")
            return attrs.evolve(self, preprocessing=prep)
        if method == "minmax":
            fit = self.features[self.trainval]
            low = fit.min(axis=0)
            span = fit.max(axis=0) - low
            # a constant dimension carries no information; leave it at 0 instead of dividing by 0
            span[span <= 0] = 1.0
            features = (self.features - low) / span
            prep["fit_on"] = f"trainval ({self.trainval.size} samples)"
        else:
            norm = np.linalg.norm(self.features, axis=1, keepdims=True)
            features = self.features / np.maximum(norm, np.finfo(np.float32).tiny)
            prep["fit_on"] = "per sample (nothing fitted)"
        prep["scaling"] = method if previous == "none" else f"{previous}+{method}"
        return attrs.evolve(self, features=features.astype(np.float32, copy=False), preprocessing=prep)

    def class_names_of(self, classes: np.ndarray) -> list[str]:
        """The names of class ids ``classes``."""
        return [self.class_names[int(c)] for c in np.asarray(classes).ravel()]

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: sizes, dims, splits, classes and preprocessing.

        Example:
            >>> from modgen.data.digits import load_digits_zsl
            >>> s = load_digits_zsl().summary()
            >>> s["splits"]["test_unseen"]["classes"], s["feature_dim"]
            (3, 64)
        """

        def split(idx: np.ndarray) -> dict[str, int]:
            return {"samples": int(idx.size), "classes": int(np.unique(self.labels[idx]).size)}

        return {
            "name": self.name,
            "source": self.source,
            "samples": self.num_samples,
            "feature_dim": self.feature_dim,
            "attr_dim": self.attr_dim,
            "num_classes": self.num_classes,
            "splits": {
                k: split(getattr(self, k)) for k in ("trainval", "test_seen", "test_unseen", "train", "val")
            },
            "seen_classes": self.class_names_of(self.seen_classes),
            "unseen_classes": self.class_names_of(self.unseen_classes),
            "val_classes": self.class_names_of(self.val_classes),
            "preprocessing": dict(self.preprocessing),
        }


# ----------------------------------------------------------------------------------------------
# validation


def _fail(data: ZSLData, message: str) -> DataError:
    return DataError(f"ZSLData {data.name!r}: {message}")


def _validate(d: ZSLData) -> None:
    _check_arrays(d)
    _check_splits(d)
    _check_split_classes(d)


def _check_arrays(d: ZSLData) -> None:
    """Names, features, semantics, labels and the preprocessing record."""
    if not isinstance(d.name, str):
        raise DataError(f"ZSLData: field 'name' must be a string, got {d.name!r}")
    if not isinstance(d.source, str):
        raise _fail(d, f"field 'source' must be a string, got {d.source!r}")
    for key, ndim in (("features", 2), ("semantics", 2)):
        arr = getattr(d, key)
        if arr.dtype != np.float32 or arr.ndim != ndim:
            raise _fail(
                d, f"field {key!r} must be a 2-D float array, got dtype {arr.dtype} shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0].tolist()
            raise _fail(d, f"field {key!r} holds NaN or infinite values (first at row/column {bad})")
    n, c = d.features.shape[0], d.semantics.shape[0]
    if d.labels.dtype != np.int64 or d.labels.shape != (n,):
        raise _fail(
            d,
            f"field 'labels' must be {n} integers (one per feature row), got dtype {d.labels.dtype} "
            f"shape {d.labels.shape}",
        )
    if n and (d.labels.min() < 0 or d.labels.max() >= c):
        bad = d.labels[(d.labels < 0) | (d.labels >= c)][0]
        raise _fail(d, f"field 'labels' holds class id {bad}, outside [0, {c}) (rows of 'semantics')")
    if isinstance(d.class_names, (str, bytes)) or len(d.class_names) != c:
        raise _fail(
            d, f"field 'class_names' must hold {c} names (rows of 'semantics'), got {d.class_names!r:.80}"
        )
    if not isinstance(d.preprocessing, dict):
        raise _fail(d, f"field 'preprocessing' must be a dict, got {type(d.preprocessing).__name__}")
    try:
        json.dumps(d.preprocessing)
    except (TypeError, ValueError) as err:
        raise _fail(d, f"field 'preprocessing' must be JSON-able: {err}") from err


def _check_splits(d: ZSLData) -> None:
    """Index arrays in range and sorted, disjoint splits, disjoint seen and unseen classes."""
    n, c = d.features.shape[0], d.semantics.shape[0]
    for key in ("trainval", "test_seen", "test_unseen", "train", "val"):
        _check_index(d, key, n, "sample index", "features rows")
    for key in ("seen_classes", "unseen_classes", "val_classes"):
        _check_index(d, key, c, "class id", "semantics rows")
        arr = getattr(d, key)
        if arr.size > 1 and np.any(np.diff(arr) <= 0):
            raise _fail(d, f"field {key!r} must be sorted ascending, got {arr.tolist()[:10]}")

    for a, b in (
        ("trainval", "test_seen"),
        ("trainval", "test_unseen"),
        ("test_seen", "test_unseen"),
        ("train", "val"),
    ):
        common = np.intersect1d(getattr(d, a), getattr(d, b))
        if common.size:
            raise _fail(d, f"fields {a!r} and {b!r} share {common.size} samples (e.g. sample {common[0]})")
    both = np.intersect1d(d.seen_classes, d.unseen_classes)
    if both.size:
        raise _fail(
            d,
            f"seen_classes and unseen_classes overlap: class {both[0]} ({d.class_names[both[0]]!r})"
            + (f" and {both.size - 1} more" if both.size > 1 else ""),
        )


def _check_split_classes(d: ZSLData) -> None:
    """Each split holds only its classes, every class has samples, validation classes are seen."""
    for key, allowed, what in (
        ("trainval", d.seen_classes, "seen_classes"),
        ("test_seen", d.seen_classes, "seen_classes"),
        ("test_unseen", d.unseen_classes, "unseen_classes"),
        ("val", d.val_classes, "val_classes"),
    ):
        present = np.unique(d.labels[getattr(d, key)])
        extra = np.setdiff1d(present, allowed)
        if extra.size:
            raise _fail(
                d,
                f"field {key!r} holds samples of class {extra[0]} ({d.class_names[extra[0]]!r}), "
                f"which is not in {what}",
            )
    for key, classes, what in (
        ("trainval", d.seen_classes, "seen"),
        ("test_unseen", d.unseen_classes, "unseen"),
        ("val", d.val_classes, "validation"),
    ):
        empty = np.setdiff1d(classes, d.labels[getattr(d, key)])
        if empty.size:
            raise _fail(
                d,
                f"{what} class {empty[0]} ({d.class_names[empty[0]]!r}) is empty: it has no samples "
                f"in field {key!r}",
            )
    outside = np.setdiff1d(d.val_classes, d.seen_classes)
    if outside.size:
        raise _fail(d, f"val_classes must be seen classes, but class {outside[0]} is not in seen_classes")
    leaked = np.intersect1d(np.unique(d.labels[d.train]), d.val_classes)
    if leaked.size:
        raise _fail(
            d,
            f"field 'train' holds samples of validation class {leaked[0]} "
            f"({d.class_names[leaked[0]]!r}); train and val classes must be disjoint",
        )
    if (d.val.size == 0) != (d.val_classes.size == 0):
        raise _fail(d, "fields 'val' and 'val_classes' must be both empty or both non-empty")


def _check_index(d: ZSLData, key: str, bound: int, what: str, rows: str) -> None:
    arr = getattr(d, key)
    if arr.dtype != np.int64 or arr.ndim != 1:
        raise _fail(d, f"field {key!r} must be a 1-D integer array, got dtype {arr.dtype} shape {arr.shape}")
    if arr.size == 0:
        return
    if arr.min() < 0 or arr.max() >= bound:
        bad = arr[(arr < 0) | (arr >= bound)][0]
        raise _fail(d, f"field {key!r} holds {what} {bad}, outside [0, {bound}) ({rows})")
    if np.unique(arr).size != arr.size:
        raise _fail(d, f"field {key!r} holds duplicate entries")


# ----------------------------------------------------------------------------------------------
# episodes


_EPISODE_FIELDS = (
    "support_x",
    "support_a",
    "support_y",
    "support_classes",
    "support_attrs",
    "query_x",
    "query_a",
    "query_y",
    "query_classes",
    "query_attrs",
)


@frozen(eq=False)
class Episode:
    """A batch of ``T`` meta-learning tasks, each a support set and a query set.

    In each task the ``N`` support classes and the ``N`` query classes are disjoint
    (Algorithm 1, line 3). Labels ``*_y`` and ``*_classes`` are indices into the data's
    ``seen_classes`` (``0 .. S-1``, the auxiliary classifier's output index), not global class
    ids. Samples are ordered class by class: sample ``i * K + k`` of a task is shot ``k`` of its
    class ``i``.

    Attributes:
        support_x: ``(T, N*Ks, D)`` support features.
        support_a: ``(T, N*Ks, A)`` the semantics of each support sample's class.
        support_y: ``(T, N*Ks)`` long, each support sample's class index.
        support_classes: ``(T, N)`` long, the support classes of each task.
        support_attrs: ``(T, N, A)`` the semantics of the support classes (the task's
            attribute set, the input of the task encoder).
        query_x, query_a, query_y, query_classes, query_attrs: the same for the query set
            with ``Kq`` shots.

    Example:
        >>> import torch
        >>> from modgen.data.digits import load_digits_zsl
        >>> from modgen.data.sampler import EpisodicTaskSampler
        >>> ep = EpisodicTaskSampler(load_digits_zsl(), n_way=2, k_support=3, k_query=1, tasks=5).sample(
        ...     torch.Generator().manual_seed(0))
        >>> ep.tasks, ep.n_way, ep.k_support, ep.k_query, tuple(ep.query_a.shape)
        (5, 2, 3, 1, (5, 2, 18))
    """

    support_x: torch.Tensor
    support_a: torch.Tensor
    support_y: torch.Tensor
    support_classes: torch.Tensor
    support_attrs: torch.Tensor
    query_x: torch.Tensor
    query_a: torch.Tensor
    query_y: torch.Tensor
    query_classes: torch.Tensor
    query_attrs: torch.Tensor

    def __attrs_post_init__(self) -> None:
        for name in ("support", "query"):
            x, a, y = (getattr(self, f"{name}_{k}") for k in ("x", "a", "y"))
            classes, attrs_ = getattr(self, f"{name}_classes"), getattr(self, f"{name}_attrs")
            if x.dim() != 3 or a.dim() != 3 or y.dim() != 2 or classes.dim() != 2 or attrs_.dim() != 3:
                raise ShapeError(
                    f"Episode.{name}: expected x (T, n, D), a (T, n, A), y (T, n), classes (T, N), "
                    f"attrs (T, N, A); got {tuple(x.shape)}, {tuple(a.shape)}, {tuple(y.shape)}, "
                    f"{tuple(classes.shape)}, {tuple(attrs_.shape)}"
                )
            t, n = x.shape[:2]
            ways = classes.shape[1]
            if (
                a.shape[:2] != (t, n)
                or y.shape != (t, n)
                or classes.shape[0] != t
                or attrs_.shape[:2] != (t, ways)
                or attrs_.shape[2] != a.shape[2]
                or ways == 0
                or n % ways
            ):
                raise ShapeError(
                    f"Episode.{name}: inconsistent shapes x {tuple(x.shape)}, a {tuple(a.shape)}, "
                    f"y {tuple(y.shape)}, classes {tuple(classes.shape)}, attrs {tuple(attrs_.shape)}; "
                    "expected n = N * K samples in T tasks"
                )
        if (
            self.support_x.shape[0] != self.query_x.shape[0]
            or self.support_x.shape[2] != self.query_x.shape[2]
        ):
            raise ShapeError(
                f"Episode: support_x {tuple(self.support_x.shape)} and query_x {tuple(self.query_x.shape)} "
                "must have the same number of tasks T and feature width D"
            )

    @property
    def tasks(self) -> int:
        """``T``, the number of tasks."""
        return int(self.support_x.shape[0])

    @property
    def n_way(self) -> int:
        """``N``, the classes per support (and query) set."""
        return int(self.support_classes.shape[1])

    @property
    def k_support(self) -> int:
        """``Ks``, the shots per support class."""
        return int(self.support_x.shape[1]) // self.n_way

    @property
    def k_query(self) -> int:
        """``Kq``, the shots per query class."""
        return int(self.query_x.shape[1]) // int(self.query_classes.shape[1])

    @property
    def device(self) -> torch.device:
        """The device of the tensors."""
        return self.support_x.device

    def to(self, device: str | torch.device, non_blocking: bool = False) -> Episode:
        """The episode with every tensor on ``device``."""
        return Episode(**{k: getattr(self, k).to(device, non_blocking=non_blocking) for k in _EPISODE_FIELDS})
