"""Contract check of the ``final_classifier`` kind: what modgen's evaluation relies on.

modgen fits a final classifier on synthetic features with their quality weights and scores it
on real test features (:mod:`modgen.evaluate.scoring`); model selection clones it once per grid
point. :func:`check_final_classifier` checks exactly that side of scikit-learn's estimator API;
scikit-learn's own ``check_estimator`` suite is stricter and worth running in a classifier's
own tests.

Example:
    >>> from modgen.classify import LinearSVMClassifier
    >>> clf = check_final_classifier(LinearSVMClassifier, C=1.0)
    >>> clf.classes_.tolist()
    [3, 7, 11]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from modgen.testing.contracts._common import call, defaults_for, fail, name_of

__all__ = ["check_final_classifier", "CLASS_IDS"]

#: The class ids the check's training labels use: arbitrary, neither ``0..C-1`` nor contiguous.
CLASS_IDS: tuple[int, ...] = (3, 7, 11)


def _clusters(
    classes: tuple[int, ...], n_per_class: int, n_features: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Well-separated Gaussian clusters ``X (n, D)`` float32, labels ``y (n,)``, weights ``w (n,)``."""
    rng = np.random.default_rng(seed)
    means = 4.0 * np.eye(max(n_features, len(classes)))[: len(classes), :n_features]
    y = np.repeat(np.asarray(classes, dtype=np.int64), n_per_class)
    X = means[np.repeat(np.arange(len(classes)), n_per_class)] + rng.normal(0, 0.5, (y.size, n_features))
    w = rng.uniform(0.2, 1.0, y.size)
    return X.astype(np.float32), y, w


def _as_numpy(who: str, what: str, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        fail(who, f"{what} must return a numpy array, got a torch.Tensor")
    return np.asarray(value)


def _check_fitted(who: str, est: Any, X: Any, y: np.ndarray, how: str, min_accuracy: float) -> None:
    classes = getattr(est, "classes_", None)
    if classes is None:
        fail(who, f"after fit({how}) there is no classes_ attribute")
    classes = np.asarray(classes)
    want = np.unique(y)
    if classes.tolist() != want.tolist():
        fail(
            who,
            f"after fit({how}) classes_ is {classes.tolist()}, expected the sorted labels {want.tolist()}",
        )
    pred = _as_numpy(who, "predict", call(who, est.predict, X))
    if pred.shape != y.shape:
        fail(who, f"predict(X) after fit({how}) has shape {pred.shape}, expected {y.shape}")
    if not np.isin(pred, classes).all():
        fail(
            who,
            f"predict(X) after fit({how}) returned {sorted(set(pred.tolist()) - set(classes.tolist()))}, "
            f"which are not in classes_ {classes.tolist()}; return labels, not class positions",
        )
    scores = _as_numpy(who, "decision_function", call(who, est.decision_function, X))
    binary = classes.size == 2 and scores.shape == (y.size,)
    if scores.shape != (y.size, classes.size) and not binary:
        fail(
            who,
            f"decision_function(X) after fit({how}) has shape {scores.shape}, expected "
            f"{(y.size, classes.size)} (one column per class in classes_; for 2 classes (n,) as in "
            "scikit-learn also works)",
        )
    if not np.isfinite(scores).all():
        fail(who, f"decision_function(X) after fit({how}) has NaN or infinite values")
    best = (scores > 0).astype(int) if binary else scores.argmax(axis=1)
    if not (classes[best] == pred).all():
        rule = (
            "classes_[(decision_function(X) > 0)]" if binary else "classes_[decision_function(X).argmax(1)]"
        )
        fail(who, f"after fit({how}) predict(X) is not {rule}")
    accuracy = float((pred == y).mean())
    if accuracy < min_accuracy:
        fail(
            who,
            f"after fit({how}) training accuracy on well-separated clusters is {accuracy:.2f}, expected at "
            f"least {min_accuracy:.2f}",
        )


def check_final_classifier(
    cls: Any,
    *,
    classes: tuple[int, ...] = CLASS_IDS,
    n_per_class: int = 8,
    n_features: int = 5,
    device: torch.device | str | None = None,
    seed: int = 0,
    min_accuracy: float = 0.6,
    **params: Any,
) -> Any:
    """Check a final classifier: ``cls(**params)`` with scikit-learn's estimator API.

    ``device`` (default ``"cpu"``) and ``random_state`` (``seed``) are passed when the class
    takes them, as modgen's evaluation does. On well-separated clusters whose labels are
    arbitrary class ids (:data:`CLASS_IDS`) the check fits

    * numpy ``X``, ``y`` without ``sample_weight``; with numpy ``sample_weight``; and torch
      tensors for all three (the evaluation passes tensors); each ``fit`` returns the estimator;
    * and then checks ``classes_`` (the sorted labels), ``predict(X)`` (numpy, values of
      ``classes_``; torch ``X`` too), ``decision_function(X)`` (numpy ``(n, C)``, finite, its
      argmax is the prediction) and a training accuracy of at least ``min_accuracy``;
    * the same with 2 classes, where ``decision_function`` may also be ``(n,)``, positive where
      ``classes_[1]`` is predicted, as in scikit-learn;
    * ``sklearn.base.is_classifier`` holds; ``sklearn.base.clone`` of the fitted estimator
      gives an unfitted one with the same parameters that fits again.

    Returns:
        The fitted estimator (fitted with torch tensors and ``sample_weight``).

    Example:
        >>> from modgen.classify import SoftmaxClassifier
        >>> check_final_classifier(SoftmaxClassifier, hidden=32, steps=100).predict([[4, 0, 0, 0, 0]]).tolist()
        [3]
    """
    from sklearn.base import clone, is_classifier

    who = f"final_classifier {name_of(cls)}"
    dev = str(torch.device(device)) if device is not None else "cpu"
    given = {**defaults_for(cls, {"device": dev, "random_state": seed}, params), **params}
    est = call(who, cls, **given)
    if not is_classifier(est):
        fail(
            who,
            "sklearn.base.is_classifier(estimator) is False; derive from sklearn.base.ClassifierMixin "
            "(or set _estimator_type = 'classifier')",
        )
    for method in ("fit", "predict", "decision_function", "get_params", "set_params"):
        if not callable(getattr(est, method, None)):
            fail(who, f"has no method {method}; final classifiers follow scikit-learn's estimator API")
    X, y, w = _clusters(tuple(classes), n_per_class, n_features, seed)
    if call(who, est.fit, X, y) is not est:
        fail(who, "fit(X, y) must return the estimator itself (return self)")
    _check_fitted(who, est, X, y, "X, y", min_accuracy)
    if call(who, est.fit, X, y, sample_weight=w) is not est:
        fail(who, "fit(X, y, sample_weight=w) must return the estimator itself (return self)")
    _check_fitted(who, est, X, y, "X, y, sample_weight", min_accuracy)
    Xt, yt, wt = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(w)
    call(who, est.fit, Xt, yt, sample_weight=wt)
    _check_fitted(who, est, Xt, y, "torch X, y, sample_weight", min_accuracy)
    Xb, yb, wb = _clusters(tuple(classes)[:2], n_per_class, n_features, seed + 1)
    binary = call(who, clone, est)
    call(who, binary.fit, Xb, yb, sample_weight=wb)
    _check_fitted(who, binary, Xb, yb, "2 classes", min_accuracy)
    copy = call(who, clone, est)
    if hasattr(copy, "classes_"):
        fail(
            who,
            "sklearn.base.clone of a fitted estimator is fitted too; set fitted attributes (name_) in fit only",
        )
    call(who, copy.fit, X, y)
    _check_fitted(who, copy, X, y, "a clone, X, y", min_accuracy)
    return est
