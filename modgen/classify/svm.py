"""Linear SVM final classifiers: one-vs-rest squared hinge in torch, and a LinearSVC backend.

The torch SVM minimises, for all classes at once, the primal objective

``0.5 * ||W||^2 + C * sum_i s_i * sum_c max(0, 1 - Y_ic * (x_i . W_c + b_c))^2``

with ``Y_ic = +1`` when sample ``i`` is of class ``c`` and ``-1`` otherwise, ``s_i`` the
sample's loss weight (1 when unweighted) and the intercepts ``b`` unpenalised. It is solved
full-batch by L-BFGS with an analytic gradient computed in row chunks, so the memory use is
bounded and 717 classes (SUN GZSL) need one matrix product per chunk and iteration on the
device. The paper could not run SVMs for GZSL on CUB and SUN; this one does.

Two classes are one problem (one weight column, the score of ``classes_[1]``), as in
scikit-learn's linear models, so ``decision_function`` is ``(n,)`` there.

``weighted-svm`` is the class-level weighting of Eq. 14: every sample of class ``y`` gets the
weight ``w_y`` (the mean quality of the class) in every one-vs-rest sub-problem. The
scikit-learn backend uses the same objective through ``LinearSVC.fit(sample_weight=...)``;
note that ``LinearSVC(class_weight=...)`` means something else (liblinear scales only the
positive samples of each sub-problem), which is why it is not used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import clone

from modgen.classify._base import TorchClassifierBase
from modgen.classify._variant import variant
from modgen.classify.grid import WarmStarts
from modgen.errors import ConfigError

__all__ = [
    "LinearSVMClassifier",
    "WeightedLinearSVMClassifier",
    "SklearnLinearSVC",
    "WeightedSklearnLinearSVC",
]

# Score-matrix elements (rows x classes) per chunk: bounds memory of the loss and the gradient.
_CHUNK_ELEMENTS = 1 << 24


def _check_positive(owner: str, name: str, value: Any, *, integer: bool = False) -> None:
    wrong_type = isinstance(value, bool) or not isinstance(value, (int, float))
    if wrong_type or (integer and not isinstance(value, int)) or not value > 0:
        what = "an integer" if integer else "a number"
        raise ConfigError(f"{owner}.{name}: expected {what} > 0, got {value!r}")


class LinearSVMClassifier(TorchClassifierBase):
    """One-vs-rest linear SVM with the squared hinge loss, trained by L-BFGS in torch.

    Args:
        C: inverse regularisation strength (as in ``LinearSVC``): the loss term's weight.
        max_iter: L-BFGS iterations.
        tol: stop when the largest gradient entry of the (per-sample averaged) objective
            falls below ``tol`` times its value at the start. 1e-7: at SUN's 717 classes 1e-5
            stopped after 25 L-BFGS iterations at 28% accuracy, 1e-7 reached a lower primal
            objective than LinearSVC and 79% (LinearSVC 82%; docs/benchmarks.md).
        weighting: ``"none"`` (``sample_weight`` is checked, then ignored), ``"instance"``
            (each sample's loss times its weight) or ``"class"`` (Eq. 14: times the mean
            weight of its class). Weights are rescaled to mean 1, so ``C`` keeps its meaning;
            zero-weight samples are dropped.
        center: solve in coordinates centred on the training mean (the same minimiser, found
            in far fewer iterations); ``False`` solves in the raw coordinates.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    The solver starts from zero and has no randomness, so there is no ``random_state``.
    :func:`~modgen.classify.fit_grid` solves several ``C`` in increasing order, each started
    from the previous solution (same stopping rule, so the same accuracy, in fewer
    iterations); with :class:`~modgen.classify.WarmStarts` it starts from an earlier fit's
    solution at the same ``C`` (another evaluation seed's draw, or the other weighting).

    Attributes:
        classes_: ``(C,)`` the sorted labels seen in ``fit``.
        coef_: ``(C, D)`` weights, ``intercept_``: ``(C,)`` biases (numpy, float32); ``(1, D)``
            and ``(1,)`` for two classes.
        n_iter_: L-BFGS iterations run.

    Example:
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.2, 0.0], [3.0, 3.0], [3.0, 3.2], [0.0, 3.0], [0.1, 3.1]])
        >>> svm = LinearSVMClassifier(C=10.0, device="cpu").fit(X, np.array([0, 0, 1, 1, 2, 2]))
        >>> svm.predict(X).tolist(), svm.decision_function(X).shape
        ([0, 0, 1, 1, 2, 2], (6, 3))
    """

    selection_grid = {"C": (0.01, 0.1, 1.0, 10.0)}

    def __init__(
        self,
        C: float = 1.0,
        max_iter: int = 300,
        tol: float = 1e-7,
        weighting: str = "none",
        center: bool = True,
        device: str = "auto",
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.weighting = weighting
        self.center = center
        self.device = device

    def _check_params(self) -> None:
        owner = self._owner()
        _check_positive(owner, "C", self.C)
        _check_positive(owner, "max_iter", self.max_iter, integer=True)
        _check_positive(owner, "tol", self.tol)

    def fit(self, X: Any, y: Any, sample_weight: Any | None = None) -> LinearSVMClassifier:
        """Train on ``X (n, D)``, labels ``y (n,)`` and optional ``sample_weight (n,)``.

        Returns:
            ``self``.
        """
        (fitted,) = self._fit_path([self], X, y, sample_weight)
        return fitted

    def _fit_grid(
        self,
        points: Sequence[Mapping[str, Any]],
        X: Any,
        y: Any,
        sample_weight: Any | None,
        warm_starts: WarmStarts | None = None,
    ) -> list[LinearSVMClassifier] | None:
        """Every point along the ``C`` path, or ``None`` when points differ in more than ``C``."""
        if any(set(p) - {"C"} for p in points):
            return None
        estimators = [clone(self).set_params(**p) for p in points]
        return estimators[0]._fit_path(estimators, X, y, sample_weight, warm_starts)

    def _fit_path(
        self,
        estimators: Sequence[LinearSVMClassifier],
        X: Any,
        y: Any,
        sample_weight: Any | None,
        warm_starts: WarmStarts | None = None,
    ) -> list[LinearSVMClassifier]:
        """Fit ``estimators`` (differing in ``C`` only) on the same data, in increasing ``C``,
        each L-BFGS run started from the solution of the previous one, or from the last one
        ``warm_starts`` holds at that ``C`` for the same classes, width and ``center``."""
        for est in estimators:
            est._check_params()
        Xt, y_index, w, device = self._prepare_fit(X, y, sample_weight, self.weighting)
        n, d = Xt.shape
        k = 1 if len(self.classes_) == 2 else len(self.classes_)
        # Solving in centred coordinates is an exact reparametrisation (W.x + b = W.(x - mu) +
        # b + W.mu, b unpenalised) that decouples W from b and speeds L-BFGS up a lot for
        # non-negative features such as ResNet activations or min-max scaled ones.
        mu = Xt.mean(0) if self.center else torch.zeros(d, device=device)
        problem = _Problem(
            X=Xt - mu,
            y=torch.as_tensor(y_index, device=device),
            w=torch.ones(n, device=device)
            if w is None
            else torch.as_tensor(w, dtype=torch.float32, device=device),
            k=k,
        )
        W = torch.zeros(d, k, device=device)
        b = torch.zeros(k, device=device)
        for i in sorted(range(len(estimators)), key=lambda i: float(estimators[i].C)):
            est = estimators[i]
            key = ("torch-svm", float(est.C), tuple(self.classes_.tolist()), d, bool(self.center))
            earlier = None if warm_starts is None else warm_starts.get(key)
            if earlier is not None:  # stored in raw coordinates: b_centred = b_raw + mu . W
                W = earlier[0].to(device)
                b = earlier[1].to(device) + mu @ W
            W, b, n_iter = problem.solve(float(est.C), int(est.max_iter), float(est.tol), W, b)
            est.classes_, est.n_features_in_, est.n_iter_ = self.classes_, self.n_features_in_, n_iter
            est.coef_ = W.T.contiguous().cpu().numpy()
            est.intercept_ = (b - mu @ W).cpu().numpy()
            if warm_starts is not None:
                warm_starts.put(key, (W, b - mu @ W))
        return list(estimators)

    def _scores(self, X: torch.Tensor) -> torch.Tensor:
        W = torch.as_tensor(self.coef_, device=X.device)
        b = torch.as_tensor(self.intercept_, device=X.device)
        return torch.addmm(b, X, W.T)


class _Problem:
    """The SVM objective of the module doc on fixed (centred) data, for any ``C``."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, k: int) -> None:
        self.X, self.y, self.w, self.k = X, y, w, k
        self.chunk = max(1, _CHUNK_ELEMENTS // k)
        self._grad0_per_C: float | None = None

    def _signs(self, ys: torch.Tensor) -> torch.Tensor:
        """``Y``: +1 for the sample's class, -1 otherwise; ``(B, 1)`` +-1 for two classes."""
        if self.k == 1:
            return (2.0 * ys - 1.0).to(self.X.dtype)[:, None]
        sign = torch.full((ys.shape[0], self.k), -1.0, device=ys.device)
        sign[torch.arange(ys.shape[0], device=ys.device), ys] = 1.0
        return sign

    def _chunks(self) -> Any:
        for start in range(0, self.X.shape[0], self.chunk):
            end = start + self.chunk
            yield self.X[start:end], self._signs(self.y[start:end]), self.w[start:end]

    @torch.no_grad()
    def grad0_per_C(self) -> float:
        """Largest gradient entry at ``W = 0, b = 0`` (every hinge is 1), divided by ``C``."""
        if self._grad0_per_C is None:
            n, d = self.X.shape
            gW = torch.zeros(d, self.k, device=self.X.device)
            gb = torch.zeros(self.k, device=self.X.device)
            for xs, sign, ws in self._chunks():
                g = (-2.0 / n) * ws[:, None] * sign
                gW += (g.T @ xs).T
                gb += g.sum(0)
            self._grad0_per_C = max(float(gW.abs().max()), float(gb.abs().max()), 1e-12)
        return self._grad0_per_C

    def solve(
        self, C: float, max_iter: int, tol: float, W0: torch.Tensor, b0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """L-BFGS from ``(W0, b0)``; returns ``(W (D, k), b (k,), iterations)``."""
        n = self.X.shape[0]
        W = W0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True)
        # The objective divided by n: the same minimiser, with gradients of order 1 for any n.
        scale_reg, scale_loss = 1.0 / n, C / n
        # tol is relative to the gradient at zero (as liblinear's), whatever the start: with
        # many classes each column's gradient is of order (its class's share of n), and an
        # absolute threshold stopped L-BFGS long before the optimum (53% vs LinearSVC's 82% at
        # SUN's 717 classes).
        opt = torch.optim.LBFGS(
            [W, b],
            lr=1.0,
            max_iter=max_iter,
            tolerance_grad=tol * C * self.grad0_per_C(),
            tolerance_change=1e-12,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            with torch.no_grad():
                # The loss summed in float64: the line search compares losses whose float32
                # rounding stalled L-BFGS short of the minimum (0.5% above it on small problems).
                loss = 0.5 * scale_reg * (W * W).sum(dtype=torch.float64)
                gW = scale_reg * W.clone()
                gb = torch.zeros_like(b)
                # Both products with the (rows, D) chunk in the layouts BLAS runs fastest on one
                # core: scores as xs @ (W^T contiguous)^T, the gradient as (g^T @ xs)^T, 2-9x
                # faster than addmm(b, xs, W) and xs^T @ g at (2700, 1280) x 9 classes.
                Wt = W.T.contiguous()
                for xs, sign, ws in self._chunks():
                    hinge = torch.relu(1.0 - sign * torch.addmm(b, xs, Wt.T))
                    loss = loss + scale_loss * (ws[:, None] * hinge * hinge).sum(dtype=torch.float64)
                    # d/dscore of s * max(0, 1 - y f)^2 = -2 s y max(0, 1 - y f)
                    g = (-2.0 * scale_loss) * ws[:, None] * sign * hinge
                    gW += (g.T @ xs).T
                    gb += g.sum(0)
                W.grad, b.grad = gW, gb
            return loss

        opt.step(closure)
        return W.detach(), b.detach(), int(opt.state[W].get("n_iter", 0))


WeightedLinearSVMClassifier = variant(
    LinearSVMClassifier,
    "WeightedLinearSVMClassifier",
    """The torch linear SVM with the class weights of Eq. 14 by default (``weighting="class"``).

    :class:`LinearSVMClassifier` with ``weighting="class"``; same parameters otherwise.

    Example:
        >>> WeightedLinearSVMClassifier().weighting
        'class'
    """,
    weighting="class",
)


class SklearnLinearSVC(TorchClassifierBase):
    """scikit-learn's ``LinearSVC`` (liblinear) as a final classifier, to check the torch SVM.

    liblinear penalises the intercept as a weight on a constant feature of value
    ``intercept_scaling``; the default of 100 makes that penalty negligible, so both backends
    minimise practically the same objective (with ``intercept_scaling=1``, LinearSVC's default,
    they disagree near class boundaries when the data lie far from the origin). Weights
    (``weighting`` as in :class:`LinearSVMClassifier`) reach liblinear as ``sample_weight``.
    It runs on the CPU and is slow for hundreds of classes.

    Args:
        C: inverse regularisation strength.
        max_iter: liblinear iterations.
        tol: liblinear stopping tolerance.
        weighting: ``"none"``, ``"instance"`` or ``"class"``.
        intercept_scaling: the constant feature that carries the intercept in liblinear.
        random_state: seed of liblinear's coordinate order.

    Attributes:
        classes_: ``(C,)`` the sorted labels seen in ``fit``.
        coef_, intercept_: as ``LinearSVC``'s (float32): ``(1, D)`` and ``(1,)`` for two classes.
        estimator_: the fitted ``LinearSVC``.
        n_iter_: liblinear iterations run.

    Example:
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.2, 0.0], [3.0, 3.0], [3.0, 3.2], [0.0, 3.0], [0.1, 3.1]])
        >>> SklearnLinearSVC(C=10.0).fit(X, np.array([0, 0, 1, 1, 2, 2])).predict(X).tolist()
        [0, 0, 1, 1, 2, 2]
    """

    selection_grid = {"C": (0.01, 0.1, 1.0, 10.0)}

    def __init__(
        self,
        C: float = 1.0,
        max_iter: int = 2000,
        tol: float = 1e-4,
        weighting: str = "none",
        intercept_scaling: float = 100.0,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.weighting = weighting
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any | None = None) -> SklearnLinearSVC:
        """Train on ``X (n, D)``, labels ``y (n,)`` and optional ``sample_weight (n,)``."""
        from sklearn.svm import LinearSVC

        owner = self._owner()
        _check_positive(owner, "C", self.C)
        _check_positive(owner, "max_iter", self.max_iter, integer=True)
        _check_positive(owner, "tol", self.tol)
        _check_positive(owner, "intercept_scaling", self.intercept_scaling)
        Xt, y_index, w, _ = self._prepare_fit(X, y, sample_weight, self.weighting)
        svc = LinearSVC(
            C=float(self.C),
            loss="squared_hinge",
            dual="auto",
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            intercept_scaling=float(self.intercept_scaling),
            random_state=int(self.random_state),
        )
        svc.fit(Xt.cpu().numpy(), y_index, sample_weight=w)
        self.coef_, self.intercept_ = svc.coef_.astype(np.float32), svc.intercept_.astype(np.float32)
        self.estimator_ = svc
        self.n_iter_ = int(np.max(svc.n_iter_))
        return self

    def _device(self) -> torch.device:
        return torch.device("cpu")

    def _scores(self, X: torch.Tensor) -> torch.Tensor:
        return torch.addmm(torch.as_tensor(self.intercept_), X, torch.as_tensor(self.coef_).T)


WeightedSklearnLinearSVC = variant(
    SklearnLinearSVC,
    "WeightedSklearnLinearSVC",
    """:class:`SklearnLinearSVC` with the class weights of Eq. 14 by default.

    Example:
        >>> WeightedSklearnLinearSVC().weighting
        'class'
    """,
    weighting="class",
)
