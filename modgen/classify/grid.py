"""Fit one classifier at several hyper-parameter values (a model-selection grid) together.

Model selection (:mod:`modgen.evaluate.protocols`) fits each classifier at every point of its
``selection_grid`` (``lr`` for the softmax classifiers, ``C`` for the SVMs), for several
evaluation seeds. :func:`fit_grid` returns the same fitted estimators as a loop of
``clone(estimator).set_params(**point).fit(X, y, sample_weight)``, faster where the algebra
allows it:

* softmax classifiers whose points differ in ``lr``/``weight_decay`` only train all points as
  one stacked network (``(G, D, H)`` weights, batched matrix products) in one loop over the
  same batches: one Python/autograd/Adam overhead per step for all ``G`` points;
* torch SVMs whose points differ in ``C`` only solve the ``C`` path in increasing order, each
  L-BFGS run started from the previous solution, with the input checks, centring and the
  gradient at zero computed once.

Any other estimator, or points that differ in other parameters, go through the loop. An
estimator offers a faster path by defining ``_fit_grid(points, X, y, sample_weight)`` that
returns the fitted estimators in the order of ``points``, or ``None`` to fall back to the loop.

**Across fits.** The evaluation fits the same grid again for every evaluation seed, on a fresh
draw of synthetic features of the same classes, and the SVM and the weighted SVM on the same
draw. A :class:`WarmStarts` passed to :func:`fit_grid` carries solutions from one fit to the
next: the torch SVMs start each ``C`` from the last solution at that ``C`` for the same classes
and width (whichever seed or weighting produced it), so a fit converges in fewer L-BFGS
iterations to the same minimiser (a strictly convex objective; the same relative stopping rule).
What depends on the seed is not shared: the softmax classifiers (non-convex, initialised from the
seed) ignore it. An estimator takes part by accepting ``warm_starts=`` in ``_fit_grid``.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from sklearn.base import clone

from modgen.errors import ConfigError

__all__ = ["WarmStarts", "fit_grid"]


class WarmStarts:
    """Solutions kept from one grid fit to the next (see the module doc), keyed by what makes a
    solution a valid start: e.g. ``("svm", C, classes, width)``.

    Example:
        >>> warm = WarmStarts()
        >>> warm.put(("svm", 1.0), "W"); warm.get(("svm", 1.0)), warm.get(("svm", 2.0)), len(warm)
        ('W', None, 1)
    """

    def __init__(self) -> None:
        self._solutions: dict[Hashable, Any] = {}

    def get(self, key: Hashable) -> Any | None:
        """The last solution stored under ``key``, or ``None``."""
        return self._solutions.get(key)

    def put(self, key: Hashable, solution: Any) -> None:
        """Keep ``solution`` under ``key`` (replacing an older one)."""
        self._solutions[key] = solution

    def __len__(self) -> int:
        return len(self._solutions)


def fit_grid(
    estimator: Any,
    points: Sequence[Mapping[str, Any]],
    X: Any,
    y: Any,
    sample_weight: Any | None = None,
    *,
    warm_starts: WarmStarts | None = None,
) -> list[Any]:
    """One fitted clone of ``estimator`` per parameter dict of ``points``, in order.

    Each result equals ``clone(estimator).set_params(**point).fit(X, y, sample_weight=...)``
    up to float tolerance (``sample_weight`` is only passed when it is not ``None``);
    ``estimator`` itself is left as it is. With ``warm_starts``, an estimator that takes part
    starts from solutions of earlier fits and stores its own (same minimiser, fewer iterations).

    Args:
        estimator: any scikit-learn style estimator (``clone``-able).
        points: parameter dicts, e.g. ``[{"C": 0.1}, {"C": 1.0}]``; ``{}`` means the
            estimator's own parameters.
        X: ``(n, D)`` features (numpy, array-like or torch tensor).
        y: ``(n,)`` labels.
        sample_weight: ``(n,)`` or ``None``.
        warm_starts: solutions shared between fits (see the module doc), or ``None``.

    Returns:
        The fitted estimators, ``len(points)`` of them.

    Raises:
        ConfigError: a point is not a mapping of parameter names.

    Example:
        >>> import numpy as np
        >>> from modgen.classify import LinearSVMClassifier
        >>> X = np.array([[0.0, 0.0], [0.2, 0.0], [3.0, 3.0], [3.0, 3.2]])
        >>> fits = fit_grid(LinearSVMClassifier(device="cpu"), [{"C": 0.1}, {"C": 10.0}], X, [0, 0, 1, 1])
        >>> [f.C for f in fits], [f.score(X, [0, 0, 1, 1]) for f in fits]
        ([0.1, 10.0], [1.0, 1.0])
    """
    points = list(points)
    for i, point in enumerate(points):
        if not isinstance(point, Mapping) or not all(isinstance(k, str) for k in point):
            raise ConfigError(
                f"fit_grid: points[{i}] must be a dict of parameter names to values, got {point!r}"
            )
    if not points:
        return []
    fast = getattr(estimator, "_fit_grid", None)
    if callable(fast):
        takes_warm = warm_starts is not None and "warm_starts" in inspect.signature(fast).parameters
        extra = {"warm_starts": warm_starts} if takes_warm else {}
        fitted = fast(points, X, y, sample_weight, **extra)
        if fitted is not None:
            return list(fitted)
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    return [clone(estimator).set_params(**point).fit(X, y, **kwargs) for point in points]
