"""Linear SVM final classifiers: one-vs-rest squared hinge in torch, and a LinearSVC backend.

The torch SVM minimises, for all classes at once, the primal objective

``0.5 * ||W||^2 + C * sum_i s_i * sum_c max(0, 1 - Y_ic * (x_i . W_c + b_c))^2``

with ``Y_ic = +1`` when sample ``i`` is of class ``c`` and ``-1`` otherwise, ``s_i`` the
sample's loss weight (1 when unweighted) and the intercepts ``b`` unpenalised. It is solved
full-batch by L-BFGS with an analytic gradient computed in row chunks, so the memory use is
bounded and 717 classes (SUN GZSL) need one matrix product per chunk and iteration on the
device. The paper could not run SVMs for GZSL on CUB and SUN; this one does.

``weighted-svm`` is the class-level weighting of Eq. 14: every sample of class ``y`` gets the
weight ``w_y`` (the mean quality of the class) in every one-vs-rest sub-problem. The
scikit-learn backend uses the same objective through ``LinearSVC.fit(sample_weight=...)``;
note that ``LinearSVC(class_weight=...)`` means something else (liblinear scales only the
positive samples of each sub-problem), which is why it is not used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from modgen.classify._base import TorchClassifierBase
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
        weighting: ``"none"``, ``"instance"`` (each sample's loss times its weight) or
            ``"class"`` (Eq. 14: times the mean weight of its class). Weights are rescaled to
            mean 1, so ``C`` keeps its meaning; zero-weight samples are dropped.
        center: solve in coordinates centred on the training mean (the same minimiser, found
            in far fewer iterations); ``False`` solves in the raw coordinates.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    The solver starts from zero and has no randomness, so there is no ``random_state``.

    Attributes:
        classes_: ``(C,)`` the sorted labels seen in ``fit``.
        coef_: ``(C, D)`` weights, ``intercept_``: ``(C,)`` biases (numpy, float32).
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

    def fit(self, X: Any, y: Any, sample_weight: Any | None = None) -> LinearSVMClassifier:
        """Train on ``X (n, D)``, labels ``y (n,)`` and optional ``sample_weight (n,)``.

        Returns:
            ``self``.
        """
        owner = self._owner()
        _check_positive(owner, "C", self.C)
        _check_positive(owner, "max_iter", self.max_iter, integer=True)
        _check_positive(owner, "tol", self.tol)
        Xt, y_index, w, device = self._prepare_fit(X, y, sample_weight, self.weighting)
        n, d = Xt.shape
        k = len(self.classes_)
        # Solving in centred coordinates is an exact reparametrisation (W.x + b = W.(x - mu) +
        # b + W.mu, b unpenalised) that decouples W from b and speeds L-BFGS up a lot for
        # non-negative features such as ResNet activations or min-max scaled ones.
        mu = Xt.mean(0) if self.center else torch.zeros(d, device=device)
        Xt = Xt - mu
        yt = torch.as_tensor(y_index, device=device)
        wt = (
            torch.ones(n, device=device)
            if w is None
            else torch.as_tensor(w, dtype=torch.float32, device=device)
        )
        W = torch.zeros(d, k, device=device, requires_grad=True)
        b = torch.zeros(k, device=device, requires_grad=True)
        chunk = max(1, _CHUNK_ELEMENTS // k)
        # The objective divided by n: the same minimiser, with gradients of order 1 for any n.
        scale_reg, scale_loss = 1.0 / n, float(self.C) / n
        # tol is relative to the gradient at the start (as liblinear's): with many classes each
        # column's gradient is of order (its class's share of n), and an absolute threshold
        # stopped L-BFGS long before the optimum (53% vs LinearSVC's 82% at SUN's 717 classes).
        grad0 = _initial_grad_max(Xt, yt, wt, k, scale_loss, chunk)
        opt = torch.optim.LBFGS(
            [W, b],
            lr=1.0,
            max_iter=int(self.max_iter),
            tolerance_grad=float(self.tol) * grad0,
            tolerance_change=1e-12,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            with torch.no_grad():
                loss = 0.5 * scale_reg * (W * W).sum()
                gW = scale_reg * W.clone()
                gb = torch.zeros_like(b)
                for start in range(0, n, chunk):
                    xs, ys, ws = (
                        Xt[start : start + chunk],
                        yt[start : start + chunk],
                        wt[start : start + chunk],
                    )
                    sign = torch.full((xs.shape[0], k), -1.0, device=device)
                    sign[torch.arange(xs.shape[0], device=device), ys] = 1.0
                    hinge = torch.relu(1.0 - sign * (xs @ W + b))
                    loss = loss + scale_loss * (ws[:, None] * hinge * hinge).sum()
                    # d/dscore of s * max(0, 1 - y f)^2 = -2 s y max(0, 1 - y f)
                    g = (-2.0 * scale_loss) * ws[:, None] * sign * hinge
                    gW.addmm_(xs.T, g)
                    gb += g.sum(0)
                W.grad, b.grad = gW, gb
            return loss

        opt.step(closure)
        self.coef_ = W.detach().T.contiguous().cpu().numpy()
        self.intercept_ = (b - mu @ W).detach().cpu().numpy()
        self.n_iter_ = int(opt.state[W].get("n_iter", 0))
        return self

    def _scores(self, X: torch.Tensor) -> torch.Tensor:
        W = torch.as_tensor(self.coef_, device=X.device)
        b = torch.as_tensor(self.intercept_, device=X.device)
        return X @ W.T + b


@torch.no_grad()
def _initial_grad_max(
    Xt: torch.Tensor, yt: torch.Tensor, wt: torch.Tensor, k: int, scale_loss: float, chunk: int
) -> float:
    """Largest gradient entry of the SVM objective at W = 0, b = 0 (every hinge is 1)."""
    n, d = Xt.shape
    gW = torch.zeros(d, k, device=Xt.device)
    gb = torch.zeros(k, device=Xt.device)
    for start in range(0, n, chunk):
        xs, ys, ws = Xt[start : start + chunk], yt[start : start + chunk], wt[start : start + chunk]
        sign = torch.full((xs.shape[0], k), -1.0, device=Xt.device)
        sign[torch.arange(xs.shape[0], device=Xt.device), ys] = 1.0
        g = (-2.0 * scale_loss) * ws[:, None] * sign
        gW.addmm_(xs.T, g)
        gb += g.sum(0)
    return max(float(gW.abs().max()), float(gb.abs().max()), 1e-12)


class WeightedLinearSVMClassifier(LinearSVMClassifier):
    """The torch linear SVM with the class weights of Eq. 14 by default (``weighting="class"``).

    Example:
        >>> WeightedLinearSVMClassifier().weighting
        'class'
    """

    def __init__(
        self,
        C: float = 1.0,
        max_iter: int = 300,
        tol: float = 1e-7,
        weighting: str = "class",
        center: bool = True,
        device: str = "auto",
    ) -> None:
        super().__init__(C=C, max_iter=max_iter, tol=tol, weighting=weighting, center=center, device=device)


class SklearnLinearSVC(TorchClassifierBase):
    """scikit-learn's ``LinearSVC`` (liblinear) as a final classifier, to check the torch SVM.

    liblinear penalises the intercept as a weight on a constant feature of value
    ``intercept_scaling``; the default of 100 makes that penalty negligible, so both backends
    minimise practically the same objective (with ``intercept_scaling=1``, LinearSVC's default,
    they disagree near class boundaries when the data lie far from the origin). Weights (``weighting`` as in :class:`LinearSVMClassifier`) reach liblinear
    as ``sample_weight``. It runs on the CPU and is slow for hundreds of classes.

    Args:
        C: inverse regularisation strength.
        max_iter: liblinear iterations.
        tol: liblinear stopping tolerance.
        weighting: ``"none"``, ``"instance"`` or ``"class"``.
        intercept_scaling: the constant feature that carries the intercept in liblinear.
        random_state: seed of liblinear's coordinate order.

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
        coef, intercept = svc.coef_.astype(np.float32), svc.intercept_.astype(np.float32)
        if len(self.classes_) == 2:  # liblinear returns one column for two classes
            coef, intercept = np.stack([-coef[0], coef[0]]), np.array([-intercept[0], intercept[0]])
        self.coef_, self.intercept_ = coef, intercept
        self.estimator_ = svc
        return self

    def _device(self) -> torch.device:
        return torch.device("cpu")

    def _scores(self, X: torch.Tensor) -> torch.Tensor:
        return X @ torch.as_tensor(self.coef_).T + torch.as_tensor(self.intercept_)


class WeightedSklearnLinearSVC(SklearnLinearSVC):
    """:class:`SklearnLinearSVC` with the class weights of Eq. 14 by default.

    Example:
        >>> WeightedSklearnLinearSVC().weighting
        'class'
    """

    def __init__(
        self,
        C: float = 1.0,
        max_iter: int = 2000,
        tol: float = 1e-4,
        weighting: str = "class",
        intercept_scaling: float = 100.0,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            C=C,
            max_iter=max_iter,
            tol=tol,
            weighting=weighting,
            intercept_scaling=intercept_scaling,
            random_state=random_state,
        )
