"""Classifier-free measures of synthetic features: is the generator good, whatever the classifier?

A final classifier trained on synthetic features adds its own noise and choices to every
number. These measures judge the synthetic features directly against the real test features of
the same classes (all in percent, except the gaps):

* ``ncm_cosine_unseen`` / ``ncm_euclidean_unseen``: per-class top-1 of the real ``test_unseen``
  samples assigned to the nearest *synthetic* class mean of the unseen classes (cosine
  similarity / Euclidean distance);
* ``ncm_cosine_seen`` / ``ncm_euclidean_seen``: the same for ``test_seen`` among the seen
  classes;
* ``mean_gap_unseen`` / ``mean_gap_seen``: the mean distance of each class's synthetic mean to
  its real mean, divided by the mean distance between the real class means (0: the synthetic
  means sit on the real ones; 1: as far off as another class is);
* ``retrieval@k``: the zero-shot retrieval of Section III-D (precision@k averaged over the unseen
  classes, each class's synthetic mean retrieving real ``test_unseen`` samples by cosine);
* ``ncm_cosine_seen_real``: the reference for ``ncm_cosine_seen``: the same measure with the
  *real* seen class means of the training split (``trainval``) in place of the synthetic ones,
  i.e. what a generator that reproduced the seen classes exactly would reach.

:func:`collapse_warnings` turns two of them into plain warnings (a result carries them in
``warnings``; ``results.md``, the terminal report and ``modgen compare`` show them):

* **unseen collapse**: ``ncm_cosine_unseen`` below chance + :data:`COLLAPSE_MARGIN` points
  (chance = 100 / the number of unseen classes);
* **seen classes not reproduced**: ``ncm_cosine_seen`` below :data:`SEEN_FRACTION` of
  ``ncm_cosine_seen_real``.

Example:
    >>> import numpy as np, torch
    >>> means = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> real = np.array([[0.9, 0.1], [0.1, 0.9], [0.8, 0.0]])
    >>> ncm_accuracy(means, np.array([0, 1]), real, np.array([0, 1, 0]), metric="cosine")
    100.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from modgen.evaluate.metrics import per_class_accuracies, retrieval_average_precision

if TYPE_CHECKING:
    from modgen.evaluate.scoring import TestSplit
    from modgen.evaluate.sets import TrainingSet

__all__ = [
    "ncm_accuracy",
    "mean_gap",
    "feature_quality",
    "collapse_warnings",
    "real_class_means",
    "QUALITY_MEASURES",
    "COLLAPSE_MARGIN",
    "SEEN_FRACTION",
]

#: Points above chance that ``ncm_cosine_unseen`` must reach not to be called a collapse.
COLLAPSE_MARGIN = 5.0
#: The share of the real seen class means' ``ncm_cosine_seen_real`` that ``ncm_cosine_seen`` must
#: reach for the seen classes to count as reproduced.
SEEN_FRACTION = 0.5

#: The measures :func:`feature_quality` returns (besides ``retrieval@k``).
QUALITY_MEASURES: tuple[str, ...] = (
    "ncm_cosine_unseen",
    "ncm_euclidean_unseen",
    "ncm_cosine_seen",
    "ncm_euclidean_seen",
    "mean_gap_unseen",
    "mean_gap_seen",
)


def ncm_accuracy(means: Any, classes: np.ndarray, X: Any, y: np.ndarray, *, metric: str) -> float:
    """Per-class top-1 (%) of samples ``X`` assigned to the nearest of the class ``means``.

    Args:
        means: ``(C, D)`` one mean per class of ``classes``.
        classes: ``(C,)`` the class ids of the rows of ``means``.
        X: ``(n, D)`` samples; ``y`` ``(n,)`` their classes (among ``classes``).
        metric: ``"cosine"`` or ``"euclidean"``.
    """
    m = torch.as_tensor(means, dtype=torch.float64)
    x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).to(m.device, torch.float64)
    if metric == "cosine":
        scores = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(m, dim=1).T
    else:
        scores = -torch.cdist(x, m)
    pred = np.asarray(classes)[scores.argmax(1).cpu().numpy()]
    return 100.0 * float(per_class_accuracies(np.asarray(y), pred)[1].mean())


def mean_gap(synthetic_means: Any, real_means: Any) -> float:
    """Mean distance of synthetic to real class means over the mean distance between real means.

    Example:
        >>> mean_gap(torch.tensor([[0.0, 0.0], [2.0, 0.0]]), torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
        0.0
    """
    s = torch.as_tensor(synthetic_means, dtype=torch.float64)
    r = torch.as_tensor(real_means, dtype=torch.float64).to(s.device)
    own = (s - r).norm(dim=1).mean()
    c = r.shape[0]
    between = torch.cdist(r, r).sum() / max(c * (c - 1), 1)
    return float(own / between) if float(between) > 0 else float("nan")


def real_class_means(X: Any, y: np.ndarray, classes: np.ndarray) -> torch.Tensor:
    """``(len(classes), D)`` float64: the mean of the samples ``X`` of each class, in order.

    Example:
        >>> real_class_means(torch.tensor([[0.0], [2.0], [5.0]]), np.array([1, 1, 2]), np.array([2, 1]))
        tensor([[5.],
                [1.]], dtype=torch.float64)
    """
    X = torch.as_tensor(X)
    yt = torch.as_tensor(np.asarray(y), device=X.device)
    return torch.stack([X[yt == int(c)].double().mean(0) for c in classes])


def collapse_warnings(quality: Mapping[str, Any], n_unseen: int) -> list[str]:
    """The plain warnings a result's classifier-free measures call for (module docstring).

    A measure that is missing or not finite raises no warning.

    Args:
        quality: the measures (``ncm_cosine_unseen``, ``ncm_cosine_seen``,
            ``ncm_cosine_seen_real``), in percent.
        n_unseen: the number of unseen classes (chance is ``100 / n_unseen``).

    Returns:
        One line per failed rule, each starting with ``"unseen collapse:"`` or
        ``"seen classes not reproduced:"``; ``[]`` for a healthy result.

    Example:
        >>> collapse_warnings({"ncm_cosine_unseen": 36.0}, 3)[0].split(":")[0]
        'unseen collapse'
        >>> collapse_warnings({"ncm_cosine_unseen": 80.0, "ncm_cosine_seen": 70.0, "ncm_cosine_seen_real": 90.0}, 3)
        []
    """

    def value(key: str) -> float | None:
        v = quality.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        return float(v)

    out: list[str] = []
    unseen = value("ncm_cosine_unseen")
    chance = 100.0 / n_unseen if n_unseen > 0 else None
    if unseen is not None and chance is not None and unseen < chance + COLLAPSE_MARGIN:
        out.append(
            f"unseen collapse: the synthetic unseen class means classify real unseen samples at {unseen:.1f}% "
            f"(nearest mean, cosine), below chance + {COLLAPSE_MARGIN:g} = {chance + COLLAPSE_MARGIN:.1f}% "
            f"({n_unseen} classes)"
        )
    seen, real = value("ncm_cosine_seen"), value("ncm_cosine_seen_real")
    if seen is not None and real is not None and seen < SEEN_FRACTION * real:
        out.append(
            f"seen classes not reproduced: the synthetic seen class means classify real seen samples at "
            f"{seen:.1f}% (nearest mean, cosine), below {SEEN_FRACTION:g} x the {real:.1f}% of the real "
            "seen class means"
        )
    return out


def feature_quality(
    unseen: TrainingSet,
    seen: TrainingSet,
    unseen_classes: np.ndarray,
    seen_classes: np.ndarray,
    test: TestSplit,
    retrieval_k: tuple[int, ...],
    *,
    seen_real_means: torch.Tensor | None = None,
) -> dict[str, float]:
    """Every measure of the module docstring, for one draw of synthetic features.

    Args:
        unseen, seen: synthetic features of the unseen and of the seen classes.
        unseen_classes, seen_classes: the class ids (the order of the means).
        test: the real test features.
        retrieval_k: the k of the retrieval measure.
        seen_real_means: ``(S, D)`` the real class means of ``seen_classes`` on the training
            split (:func:`real_class_means` of ``trainval``), for ``ncm_cosine_seen_real``;
            ``None`` leaves that measure out.
    """
    mu_u = unseen.class_means(unseen_classes).double()
    mu_s = seen.class_means(seen_classes).double()
    out = {
        "ncm_cosine_unseen": ncm_accuracy(
            mu_u, unseen_classes, test.unseen_X, test.unseen_y, metric="cosine"
        ),
        "ncm_euclidean_unseen": ncm_accuracy(
            mu_u, unseen_classes, test.unseen_X, test.unseen_y, metric="euclidean"
        ),
        "ncm_cosine_seen": ncm_accuracy(mu_s, seen_classes, test.seen_X, test.seen_y, metric="cosine"),
        "ncm_euclidean_seen": ncm_accuracy(mu_s, seen_classes, test.seen_X, test.seen_y, metric="euclidean"),
        "mean_gap_unseen": mean_gap(mu_u, real_class_means(test.unseen_X, test.unseen_y, unseen_classes)),
        "mean_gap_seen": mean_gap(mu_s, real_class_means(test.seen_X, test.seen_y, seen_classes)),
    }
    if seen_real_means is not None:
        out["ncm_cosine_seen_real"] = ncm_accuracy(
            seen_real_means, seen_classes, test.seen_X, test.seen_y, metric="cosine"
        )
    for k in retrieval_k:
        out[f"retrieval@{k}"] = 100.0 * retrieval_average_precision(
            mu_u.cpu(), unseen_classes, test.unseen_X.cpu(), test.unseen_y, int(k)
        )
    return out
