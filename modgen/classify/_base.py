"""Shared plumbing of the final classifiers: input checks, devices, labels and sample weights.

Every final classifier accepts numpy arrays or torch tensors, trains in torch on a ``device``
(``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``) and turns the quality weights of Eq. 12
into the per-sample loss weights of Eq. 13 (``weighting="instance"``) or the class weights of
Eq. 14 (``weighting="class"``) in one place, :func:`resolve_sample_weights`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from modgen.errors import ConfigError, DataError, ShapeError

__all__ = [
    "WEIGHTINGS",
    "TorchClassifierBase",
    "class_mean_weights",
    "resolve_device",
    "resolve_sample_weights",
    "to_numpy",
    "to_tensor",
]

#: The values of a classifier's ``weighting`` parameter.
WEIGHTINGS: tuple[str, ...] = ("none", "instance", "class")


def resolve_device(device: str | torch.device, *, owner: str = "device") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; other values are checked and returned.

    Raises:
        ConfigError: an unknown device string, or CUDA asked for where there is none.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise ConfigError(f"{owner}: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ConfigError(f"{owner}={device!r} but CUDA is not available; use 'auto' or 'cpu'.")
        return torch.device(device)
    raise ConfigError(f"{owner}: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def to_tensor(x: Any, *, device: torch.device, dtype: torch.dtype, name: str) -> torch.Tensor:
    """A numpy array, torch tensor or sequence as a detached tensor on ``device``.

    Example:
        >>> to_tensor([[1, 2]], device=torch.device("cpu"), dtype=torch.float32, name="X")
        tensor([[1., 2.]])
    """
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=device, dtype=dtype)
    try:
        arr = np.asarray(x)
    except Exception as err:  # noqa: BLE001 - any conversion failure is a bad input
        raise DataError(f"{name}: cannot convert {type(x).__name__} to an array: {err}") from err
    if arr.dtype == object:
        raise DataError(f"{name}: expected a numeric array, got an array of Python objects")
    return torch.as_tensor(arr).to(device=device, dtype=dtype)


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


def resolve_sample_weights(
    sample_weight: Any | None, y_index: np.ndarray, n_classes: int, weighting: str, *, owner: str
) -> np.ndarray | None:
    """The per-sample loss weights a classifier trains with, or ``None`` for an unweighted fit.

    ``weighting="none"`` ignores ``sample_weight``; ``"instance"`` uses it per sample
    (Eq. 13); ``"class"`` replaces each sample's weight by the mean weight of its class
    (Eq. 14). ``sample_weight=None`` means uniform weights, i.e. an unweighted fit.

    Weights are rescaled to mean 1 over the samples with a non-zero weight. The constant
    factor leaves Eq. 13's relative weights as they are; it keeps a classifier's step size
    (softmax) and the meaning of ``C`` (SVM) independent of the average quality, and it makes
    any uniform weighting identical to the unweighted fit (the float64 ratio of equal
    numbers rounds to exactly 1.0 in float32).

    Raises:
        ConfigError: unknown ``weighting``.
        DataError: weights of the wrong shape, negative, not finite, or all zero.

    Example:
        >>> y = np.array([0, 0, 1])
        >>> resolve_sample_weights(np.array([1.0, 0.0, 0.5]), y, 2, "instance", owner="demo")
        array([1.33333333, 0.        , 0.66666667])
        >>> resolve_sample_weights(np.array([1.0, 0.0, 0.5]), y, 2, "class", owner="demo")
        array([1., 1., 1.])
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"{owner}.weighting: expected one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if weighting == "none" or sample_weight is None:
        return None
    w = to_numpy(sample_weight).astype(np.float64)
    if w.shape != y_index.shape:
        raise DataError(
            f"{owner}.fit: sample_weight has shape {w.shape}, expected {y_index.shape} (one weight per sample)"
        )
    if not np.all(np.isfinite(w)):
        raise DataError(f"{owner}.fit: sample_weight contains NaN or infinite values")
    if np.any(w < 0):
        raise DataError(
            f"{owner}.fit: sample_weight must be >= 0, got a minimum of {w.min():.4g}; "
            "clip quality weights at 0 before fitting"
        )
    if weighting == "class":
        w = class_mean_weights(w, y_index, n_classes)[y_index]
    kept = w > 0
    if not kept.any():
        raise DataError(f"{owner}.fit: every sample weight is zero; nothing to train on")
    return np.where(kept, w / w[kept].mean(), 0.0)


class TorchClassifierBase(ClassifierMixin, BaseEstimator):
    """Input handling shared by modgen's final classifiers (not registered itself).

    Subclasses set their parameters in ``__init__`` (stored as given, so
    :func:`sklearn.base.clone` works), call :meth:`_prepare_fit` in ``fit`` and implement
    ``_scores`` ``(n, D) tensor -> (n, C) tensor``; ``predict`` and ``decision_function``
    come from here.

    Example:
        >>> from modgen.classify import LinearSVMClassifier
        >>> issubclass(LinearSVMClassifier, TorchClassifierBase)
        True
    """

    #: Hyper-parameter grid searched by model selection (:mod:`modgen.evaluate.protocols`).
    selection_grid: dict[str, tuple[Any, ...]] = {}

    def _owner(self) -> str:
        return type(self).__name__

    def _check_X(self, X: Any, device: torch.device, *, fitted: bool) -> torch.Tensor:
        Xt = to_tensor(X, device=device, dtype=torch.float32, name=f"{self._owner()}: X")
        if Xt.ndim != 2:
            raise ShapeError(f"{self._owner()}: X must be 2-D (n, D), got shape {tuple(Xt.shape)}")
        if fitted and Xt.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"{self._owner()}: X has {Xt.shape[1]} features, but the classifier was fitted "
                f"on {self.n_features_in_}"
            )
        if not bool(torch.isfinite(Xt).all()):
            raise DataError(f"{self._owner()}: X contains NaN or infinite values")
        return Xt

    def _prepare_fit(
        self, X: Any, y: Any, sample_weight: Any | None, weighting: str
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray | None, torch.device]:
        """Check inputs; set ``classes_`` and ``n_features_in_``; return ``(X, y_index, w, device)``.

        Samples with zero weight are dropped here, so they have no influence at all.
        """
        device = resolve_device(getattr(self, "device", "cpu"), owner=f"{self._owner()}.device")
        Xt = self._check_X(X, device, fitted=False)
        y_np = to_numpy(y)
        if y_np.ndim != 1 or y_np.shape[0] != Xt.shape[0]:
            raise ShapeError(
                f"{self._owner()}.fit: y must be 1-D with one label per row of X ({Xt.shape[0]}), "
                f"got shape {y_np.shape}"
            )
        classes, y_index = np.unique(y_np, return_inverse=True)
        if classes.shape[0] < 2:
            raise DataError(f"{self._owner()}.fit: need at least 2 classes, got {classes.tolist()}")
        w = resolve_sample_weights(sample_weight, y_index, classes.shape[0], weighting, owner=self._owner())
        self.classes_ = classes
        self.n_features_in_ = int(Xt.shape[1])
        if w is not None and not np.all(w > 0):
            keep = np.flatnonzero(w > 0)
            Xt = Xt[torch.as_tensor(keep, device=device)]
            y_index, w = y_index[keep], w[keep]
        return Xt, y_index.astype(np.int64), w, device

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise DataError(f"{self._owner()} is not fitted yet; call fit(X, y) first")

    def _scores(self, X: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _device(self) -> torch.device:
        return resolve_device(getattr(self, "device", "cpu"), owner=f"{self._owner()}.device")

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores ``(n, D) -> (n, C)``, columns in the order of ``classes_``."""
        self._check_fitted()
        return self._scores(self._check_X(X, self._device(), fitted=True)).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels ``(n, D) -> (n,)`` (values of ``classes_``)."""
        self._check_fitted()
        scores = self._scores(self._check_X(X, self._device(), fitted=True))
        return self.classes_[scores.argmax(dim=1).cpu().numpy()]
