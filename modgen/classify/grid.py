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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.base import clone

from modgen.errors import ConfigError

__all__ = ["fit_grid"]


def fit_grid(
    estimator: Any,
    points: Sequence[Mapping[str, Any]],
    X: Any,
    y: Any,
    sample_weight: Any | None = None,
) -> list[Any]:
    """One fitted clone of ``estimator`` per parameter dict of ``points``, in order.

    Each result equals ``clone(estimator).set_params(**point).fit(X, y, sample_weight=...)``
    up to float tolerance (``sample_weight`` is only passed when it is not ``None``);
    ``estimator`` itself is left as it is.

    Args:
        estimator: any scikit-learn style estimator (``clone``-able).
        points: parameter dicts, e.g. ``[{"C": 0.1}, {"C": 1.0}]``; ``{}`` means the
            estimator's own parameters.
        X: ``(n, D)`` features (numpy, array-like or torch tensor).
        y: ``(n,)`` labels.
        sample_weight: ``(n,)`` or ``None``.

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
        fitted = fast(points, X, y, sample_weight)
        if fitted is not None:
            return list(fitted)
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    return [clone(estimator).set_params(**point).fit(X, y, **kwargs) for point in points]
