"""Shared plumbing of the final classifiers: input checks, devices, labels and sample weights.

Every final classifier accepts numpy arrays, anything array-like, or torch tensors (on any
device), trains in torch on a ``device`` (``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``)
and turns the quality weights of Eq. 12 into the per-sample loss weights of Eq. 13
(``weighting="instance"``) or the class weights of Eq. 14 (``weighting="class"``) in one
place, :func:`resolve_sample_weights`.

Input checks are scikit-learn's own (:func:`~sklearn.utils.validation.validate_data`,
:func:`~sklearn.utils.validation.check_is_fitted`,
:func:`~sklearn.utils.multiclass.check_classification_targets`, ``_check_sample_weight``), so
the classifiers pass :func:`sklearn.utils.estimator_checks.parametrize_with_checks`. Their
errors are re-raised as modgen errors that are also the exception types scikit-learn promises
(:class:`ClassifierNotFittedError` is a ``NotFittedError``, :class:`InputTypeError` a
``TypeError``, every :class:`~modgen.errors.DataError` a ``ValueError``), with the
classifier's name and method in front of scikit-learn's message. Torch tensors skip the numpy
conversion (a CUDA tensor stays on its device) and are checked in torch with the same
messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from modgen.errors import ConfigError, DataError, ModgenError, ShapeError

__all__ = [
    "WEIGHTINGS",
    "ClassifierNotFittedError",
    "InputTypeError",
    "TorchClassifierBase",
    "class_mean_weights",
    "resolve_device",
    "resolve_sample_weights",
    "to_numpy",
]

#: The values of a classifier's ``weighting`` parameter.
WEIGHTINGS: tuple[str, ...] = ("none", "instance", "class")


class ClassifierNotFittedError(ModgenError, NotFittedError):
    """A final classifier was asked to predict before ``fit`` (also sklearn's ``NotFittedError``)."""


class InputTypeError(DataError, TypeError):
    """An input of a kind the classifiers do not take: sparse, or not numeric (also a ``TypeError``)."""


@contextlib.contextmanager
def _sklearn_errors(where: str) -> Iterator[None]:
    """Re-raise scikit-learn's input errors as modgen errors; ``where`` goes in front of the message."""
    try:
        yield
    except ModgenError:
        raise
    except TypeError as err:
        raise InputTypeError(f"{where}: {' '.join(str(err).split())}") from err
    except ValueError as err:
        raise DataError(f"{where}: {' '.join(str(err).split())}") from err


def resolve_device(device: str | torch.device, *, owner: str = "device") -> torch.device:
    """A classifier's ``device`` parameter as a :class:`torch.device` (see
    :func:`modgen.runtime.resolve_device`, the one implementation; ``owner`` names the setting).

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    from modgen.runtime import resolve_device as resolve

    return resolve(device, key=owner)


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array.

    Example:
        >>> to_numpy(torch.tensor([1, 2]))
        array([1, 2])
    """
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def class_mean_weights(sample_weight: np.ndarray, y_index: np.ndarray, n_classes: int) -> np.ndarray:
    """Eq. 14: the weight of class ``y`` is the mean sample weight of its samples.

    Args:
        sample_weight: ``(n,)`` per-sample quality.
        y_index: ``(n,)`` class positions ``0..n_classes-1``.
        n_classes: number of classes.

    Returns:
        ``(n_classes,)`` float64; a class without samples gets 0.

    Example:
        >>> class_mean_weights(np.array([1.0, 0.5, 0.2]), np.array([0, 0, 1]), 2)
        array([0.75, 0.2 ])
    """
    sums = np.bincount(y_index, weights=sample_weight.astype(np.float64), minlength=n_classes)
    counts = np.bincount(y_index, minlength=n_classes)
    return np.divide(sums, counts, out=np.zeros(n_classes), where=counts > 0)


def _checked_weights(sample_weight: Any, n: int, owner: str, *, allow_all_zero: bool) -> np.ndarray:
    """``sample_weight`` as ``(n,)`` float64 through sklearn's check, or a modgen error."""
    with _sklearn_errors(f"{owner}.fit"):
        w = _check_sample_weight(
            to_numpy(sample_weight) if isinstance(sample_weight, torch.Tensor) else sample_weight,
            np.empty((n, 0)),  # only its length is read
            dtype=np.float64,
            allow_all_zero_weights=True,  # checked below with a modgen message
        )
    if np.any(w < 0):
        raise DataError(
            f"{owner}.fit: sample_weight must be >= 0, got a minimum of {w.min():.4g}; "
            "clip quality weights at 0 before fitting"
        )
    if not allow_all_zero and not np.any(w > 0):
        raise DataError(f"{owner}.fit: every sample weight is zero; nothing to train on")
    return w


def resolve_sample_weights(
    sample_weight: Any | None, y_index: np.ndarray, n_classes: int, weighting: str, *, owner: str
) -> np.ndarray | None:
    """The per-sample loss weights a classifier trains with, or ``None`` for an unweighted fit.

    ``sample_weight`` is checked in every case (scikit-learn's check: one finite weight per
    sample; then none negative). ``weighting="none"`` then ignores it, even when every weight
    is zero (the evaluation protocol passes the clipped Eq. 12 qualities to every classifier,
    and an untrained generator can make them all 0: the unweighted baselines must still
    train); ``"instance"`` uses it per sample (Eq. 13); ``"class"`` replaces each sample's
    weight by the mean weight of its class (Eq. 14); both reject all-zero weights.
    ``sample_weight=None`` means uniform weights, i.e. an unweighted fit.

    Weights are rescaled to mean 1 over the samples with a non-zero weight. The constant
    factor leaves Eq. 13's relative weights as they are; it keeps a classifier's step size
    (softmax) and the meaning of ``C`` (SVM) independent of the average quality, and it makes
    any uniform weighting identical to the unweighted fit (the float64 ratio of equal
    numbers rounds to exactly 1.0 in float32).

    Raises:
        ConfigError: unknown ``weighting``.
        DataError: weights of the wrong shape, negative, not finite, or (unless
            ``weighting="none"``) all zero.

    Example:
        >>> y = np.array([0, 0, 1])
        >>> resolve_sample_weights(np.array([1.0, 0.0, 0.5]), y, 2, "instance", owner="demo")
        array([1.33333333, 0.        , 0.66666667])
        >>> resolve_sample_weights(np.array([1.0, 0.0, 0.5]), y, 2, "class", owner="demo")
        array([1., 1., 1.])
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"{owner}.weighting: expected one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if sample_weight is None:
        return None
    w = _checked_weights(sample_weight, y_index.shape[0], owner, allow_all_zero=weighting == "none")
    if weighting == "none":
        return None
    if weighting == "class":
        w = class_mean_weights(w, y_index, n_classes)[y_index]
    kept = w > 0
    if not kept.any():
        raise DataError(f"{owner}.fit: every sample weight is zero; nothing to train on")
    return np.where(kept, w / w[kept].mean(), 0.0)


def _check_tensor(X: torch.Tensor, where: str) -> None:
    """The checks ``check_array`` makes, for a tensor that stays on its device."""
    if X.layout != torch.strided:
        raise InputTypeError(f"{where}: sparse tensors are not supported; pass X.to_dense()")
    if X.is_complex():
        raise DataError(f"{where}: Complex data not supported; pass real features")
    if X.ndim != 2:
        raise ShapeError(
            f"{where}: Expected 2D array (n_samples, n_features), got shape {tuple(X.shape)}. "
            "Reshape your data: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one sample"
        )
    for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
        if X.shape[axis] < 1:
            raise DataError(
                f"{where}: Found array with 0 {what} (shape={tuple(X.shape)}) while a minimum of 1 is required."
            )
    if not (
        X.is_floating_point() or X.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
    ):
        raise InputTypeError(f"{where}: expected a numeric tensor, got dtype {X.dtype}")
    # The sum is finite when every entry is (as sklearn's check; an overflow falls through to
    # the full check): one reduction instead of an (n, D) boolean tensor.
    if X.is_floating_point() and not bool(torch.isfinite(X.sum())) and not bool(torch.isfinite(X).all()):
        raise DataError(f"{where}: Input X contains NaN or infinity; remove or impute those rows")


class TorchClassifierBase(ClassifierMixin, BaseEstimator):
    """Input handling shared by modgen's final classifiers (not registered itself).

    Subclasses set their parameters in ``__init__`` (stored as given, so
    :func:`sklearn.base.clone` works), call :meth:`_prepare_fit` in ``fit`` and implement
    ``_scores``: ``(n, D) tensor -> (n, C)`` class scores, or ``(n, 1)`` for two classes (the
    score of ``classes_[1]``, as scikit-learn's linear models). ``predict``,
    ``decision_function`` and ``score`` come from here; ``decision_function`` is ``(n,)`` for
    two classes, as in scikit-learn (so ``scoring="roc_auc"`` works).

    Example:
        >>> from modgen.classify import LinearSVMClassifier
        >>> issubclass(LinearSVMClassifier, TorchClassifierBase)
        True
    """

    #: Hyper-parameter grid searched by model selection (:mod:`modgen.evaluate.protocols`).
    selection_grid: dict[str, tuple[Any, ...]] = {}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    def _owner(self) -> str:
        return type(self).__name__

    def _device(self) -> torch.device:
        return resolve_device(getattr(self, "device", "cpu"), owner=f"{self._owner()}.device")

    def _validate_X(self, X: Any, device: torch.device, *, reset: bool, where: str) -> torch.Tensor:
        """``X`` checked (and ``n_features_in_`` set or compared) as a float32 tensor on ``device``."""
        if getattr(X, "ndim", 2) != 2 and not isinstance(X, torch.Tensor):
            raise ShapeError(
                f"{where}: Expected 2D array (n_samples, n_features), got shape {np.shape(X)}. "
                "Reshape your data: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one sample"
            )
        if not reset and getattr(X, "ndim", 0) == 2 and X.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"{where}: X has {X.shape[1]} features, but {self._owner()} is expecting "
                f"{self.n_features_in_} features as input; pass features of the kind it was fitted on"
            )
        with _sklearn_errors(where):
            if isinstance(X, torch.Tensor):
                _check_tensor(X, where)
                validate_data(self, X, skip_check_array=True, reset=reset)
                return X.detach().to(device=device, dtype=torch.float32)
            arr = validate_data(
                self, X, reset=reset, dtype=[np.float32, np.float64], order="C", force_writeable=True
            )
        return torch.from_numpy(np.asarray(arr, dtype=np.float32)).to(device)

    def _prepare_fit(
        self, X: Any, y: Any, sample_weight: Any | None, weighting: str
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray | None, torch.device]:
        """Check inputs; set ``classes_`` and ``n_features_in_``; return ``(X, y_index, w, device)``.

        Samples with zero weight are dropped here, so they have no influence at all.
        """
        owner = self._owner()
        where = f"{owner}.fit"
        device = self._device()
        if y is None:
            raise DataError(f"{where}: {owner} requires y to be passed, but the target y is None")
        Xt = self._validate_X(X, device, reset=True, where=where)
        with _sklearn_errors(where):
            y_np = column_or_1d(to_numpy(y), warn=True)
        if y_np.shape[0] != Xt.shape[0]:
            raise ShapeError(
                f"{where}: y has {y_np.shape[0]} labels for {Xt.shape[0]} rows of X (inconsistent numbers "
                f"of samples: [{Xt.shape[0]}, {y_np.shape[0]}]); pass one label per row"
            )
        with _sklearn_errors(where):
            check_classification_targets(y_np)
        classes, y_index = np.unique(y_np, return_inverse=True)
        if classes.shape[0] < 2:
            raise DataError(
                f"{where}: got 1 class ({classes.tolist()}); need at least 2 classes to train a classifier"
            )
        w = resolve_sample_weights(sample_weight, y_index, classes.shape[0], weighting, owner=owner)
        self.classes_ = classes
        if w is not None and not np.all(w > 0):
            keep = np.flatnonzero(w > 0)
            if np.unique(y_index[keep]).shape[0] < 2:
                raise DataError(
                    f"{where}: only 1 class keeps a non-zero sample_weight; need at least 2 classes "
                    "with positive weights"
                )
            Xt = Xt[torch.as_tensor(keep, device=device)]
            y_index, w = y_index[keep], w[keep]
        return Xt, y_index.astype(np.int64), w, device

    def _check_fitted(self, method: str) -> None:
        try:
            check_is_fitted(self, "classes_")
        except NotFittedError as err:
            raise ClassifierNotFittedError(
                f"{self._owner()}.{method}: this {self._owner()} is not fitted yet; call fit(X, y) first"
            ) from err

    def _scores(self, X: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _raw_scores(self, X: Any, method: str) -> torch.Tensor:
        self._check_fitted(method)
        Xt = self._validate_X(X, self._device(), reset=False, where=f"{self._owner()}.{method}")
        return self._scores(Xt)

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores ``(n, D) -> (n, C)`` in the order of ``classes_``; ``(n,)`` for two classes.

        For two classes the score is positive where ``classes_[1]`` is predicted.
        """
        scores = self._raw_scores(X, "decision_function")
        if scores.shape[1] == 1:
            scores = scores[:, 0]
        elif scores.shape[1] == 2:
            scores = scores[:, 1] - scores[:, 0]
        return scores.cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels ``(n, D) -> (n,)`` (values of ``classes_``)."""
        scores = self._raw_scores(X, "predict")
        index = (scores[:, 0] > 0).long() if scores.shape[1] == 1 else scores.argmax(dim=1)
        return self.classes_[index.cpu().numpy()]
