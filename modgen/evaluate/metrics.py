"""Evaluation metrics of Section III: per-class mean top-1, the harmonic mean H, retrieval AP@k.

All accuracies are fractions in ``[0, 1]``; reports print them as percentages.

Example:
    >>> import numpy as np
    >>> per_class_top1(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]))
    0.8333333333333333
    >>> harmonic_mean(0.5, 1.0)
    0.6666666666666666
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from modgen.errors import ConfigError, DataError, ShapeError

__all__ = [
    "RETRIEVAL_METRICS",
    "per_class_accuracies",
    "per_class_top1",
    "harmonic_mean",
    "retrieval_precision",
    "retrieval_average_precision",
]

#: Similarities :func:`retrieval_precision` ranks by.
RETRIEVAL_METRICS: tuple[str, ...] = ("cosine", "euclidean")


def _labels(x: Any, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array of labels, got shape {arr.shape}")
    return arr


def per_class_accuracies(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 accuracy of each class present in ``y_true``.

    Args:
        y_true: ``(n,)`` true labels.
        y_pred: ``(n,)`` predicted labels (may contain labels absent from ``y_true``).

    Returns:
        ``(classes, accuracies)``: the sorted labels of ``y_true`` and, for each, the fraction
        of its samples predicted as it.

    Raises:
        ShapeError: the arrays are not 1-D of the same length.
        DataError: ``y_true`` is empty.

    Example:
        >>> per_class_accuracies([3, 3, 5], [3, 5, 5])
        (array([3, 5]), array([0.5, 1. ]))
    """
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ShapeError(f"y_true has {t.shape[0]} labels but y_pred has {p.shape[0]}")
    if t.shape[0] == 0:
        raise DataError("per-class accuracy of an empty set of samples is undefined (y_true is empty)")
    classes, inverse = np.unique(t, return_inverse=True)
    hits = np.bincount(inverse, weights=(t == p).astype(np.float64), minlength=classes.shape[0])
    return classes, hits / np.bincount(inverse, minlength=classes.shape[0])


def per_class_top1(y_true: Any, y_pred: Any) -> float:
    """Per-class mean top-1 accuracy: the mean over the classes present in ``y_true`` of each
    class's accuracy (scikit-learn's ``balanced_accuracy_score``), ``(n,), (n,) -> float``.

    Example:
        >>> per_class_top1([0, 0, 0, 1], [0, 0, 0, 0])
        0.5
    """
    return float(per_class_accuracies(y_true, y_pred)[1].mean())


def harmonic_mean(u: float, s: float) -> float:
    """GZSL's ``H = 2 U S / (U + S)``; 0 when both are 0.

    Raises:
        DataError: ``u`` or ``s`` is negative or not finite.

    Example:
        >>> harmonic_mean(0.0, 0.0), harmonic_mean(0.6, 0.6)
        (0.0, 0.6)
    """
    for name, v in (("u", u), ("s", s)):
        if not np.isfinite(v) or v < 0:
            raise DataError(f"harmonic_mean: {name} must be a finite number >= 0, got {v!r}")
    return 0.0 if u + s == 0 else float(2.0 * u * s / (u + s))


def retrieval_precision(
    queries: Any,
    query_labels: Any,
    database: Any,
    database_labels: Any,
    k: int,
    *,
    metric: str = "cosine",
) -> np.ndarray:
    """Precision at ``k`` of each query in zero-shot retrieval (Section III-D).

    Each query (the mean synthetic feature of an unseen class) ranks the database (real
    unseen samples) by similarity: cosine similarity, or negative euclidean distance; ties
    keep the database order. Its precision is the fraction of its ``k`` nearest samples that
    belong to its class.

    Args:
        queries: ``(Q, D)`` query features.
        query_labels: ``(Q,)`` the class of each query.
        database: ``(M, D)`` features to retrieve from.
        database_labels: ``(M,)`` their classes.
        k: how many samples each query retrieves (``1 <= k <= M``).
        metric: ``"cosine"`` or ``"euclidean"``.

    Returns:
        ``(Q,)`` precisions in ``[0, 1]``.

    Raises:
        ConfigError: unknown ``metric`` or ``k`` out of range.
        ShapeError: inconsistent shapes.

    Example:
        >>> import numpy as np
        >>> db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> retrieval_precision(np.array([[1.0, 0.0]]), [0], db, [0, 1, 1], k=2)
        array([0.5])
    """
    if metric not in RETRIEVAL_METRICS:
        raise ConfigError(f"retrieval metric: expected one of {', '.join(RETRIEVAL_METRICS)}, got {metric!r}")
    q = torch.as_tensor(np.asarray(queries) if not isinstance(queries, torch.Tensor) else queries)
    x = torch.as_tensor(np.asarray(database) if not isinstance(database, torch.Tensor) else database)
    q, x = q.detach().to(torch.float64), x.detach().to(device=q.device, dtype=torch.float64)
    ql, xl = _labels(query_labels, "query_labels"), _labels(database_labels, "database_labels")
    if q.ndim != 2 or x.ndim != 2 or q.shape[1] != x.shape[1]:
        raise ShapeError(
            f"retrieval: queries (Q, D) and database (M, D) must share D, got {tuple(q.shape)} and {tuple(x.shape)}"
        )
    if ql.shape[0] != q.shape[0] or xl.shape[0] != x.shape[0]:
        raise ShapeError(
            f"retrieval: {ql.shape[0]} query labels for {q.shape[0]} queries, "
            f"{xl.shape[0]} database labels for {x.shape[0]} samples"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= x.shape[0]:
        raise ConfigError(
            f"retrieval k: expected an integer in [1, {x.shape[0]}] (the database size), got {k!r}"
        )
    if metric == "cosine":
        sim = torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(x, dim=1).T
    else:
        sim = -torch.cdist(q, x)
    # A stable descending sort keeps ties in database order (documented, reproducible).
    order = torch.sort(sim, dim=1, descending=True, stable=True).indices[:, :k].cpu().numpy()
    return (xl[order] == ql[:, None]).mean(axis=1)


def retrieval_average_precision(
    queries: Any,
    query_labels: Any,
    database: Any,
    database_labels: Any,
    k: int,
    *,
    metric: str = "cosine",
) -> float:
    """The paper's retrieval "average precision" at ``k``: :func:`retrieval_precision`
    averaged over the queries (one per unseen class), ``-> float`` in ``[0, 1]``.

    Example:
        >>> import numpy as np
        >>> db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> q = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> retrieval_average_precision(q, [0, 1], db, [0, 1, 1, 1], k=2)
        0.75
    """
    return float(
        retrieval_precision(queries, query_labels, database, database_labels, k, metric=metric).mean()
    )
