"""Closed-form zero-shot baselines: the floor a generative recipe has to beat.

Two linear maps between visual features and class semantics, each fitted in closed form:

* **ESZSL** (Romera-Paredes and Torr, ICML 2015): with features ``X`` ``(D, n)``, targets
  ``Y`` ``(n, z)`` and the training classes' semantics ``S`` ``(A, z)``,
  ``V = (X X^T + gamma I)^-1 X Y S^T (S S^T + lambda I)^-1`` ``(D, A)``; a sample ``x`` goes to
  the candidate class ``c`` maximising ``x^T V s_c``. ``Y`` is in ``{-1, 1}`` (``+1`` for the
  sample's class, ``-1`` elsewhere) as in the paper; ``targets="binary"`` uses ``{0, 1}``.
  Features are used as they are (no centring), as in the paper.
* **Ridge attribute regression + nearest class** (``method="ridge"``): ridge regression with an
  intercept from features to the sample's class semantics,
  ``W = (Xc^T Xc + alpha I)^-1 Xc^T (A_y - mean)`` on centred features ``Xc``; a sample goes
  to the candidate class whose semantics are nearest by cosine to its predicted semantics.

:func:`closed_form_floor` selects the hyper-parameters on the validation view
(:meth:`~modgen.data.zsldata.ZSLData.validation_view`: fit on the ``train`` classes, score
the per-class top-1 on the ``val`` classes, which the fit never saw), refits on ``trainval`` and
reports ZSL top-1 on ``test_unseen`` and GZSL ``U``/``S``/``H`` with every seen and unseen
class as a candidate. Test labels are never read before the chosen parameters are fixed.
Everything is numpy in float64 and deterministic.

**The whole grid from one decomposition.** Both maps are ridge solutions
``(X^T X + r I)^-1 X^T T``. With the eigendecomposition of the smaller Gram matrix (``X^T X``
when there are at least as many samples as features, else ``X X^T``, through
``X^T (X X^T + r I)^-1 = (X^T X + r I)^-1 X^T``) every ``r`` is a diagonal scaling, and ESZSL's
semantic side ``(S S^T + lambda I)^-1`` is one more eigendecomposition of a ``z x z`` matrix.
So selection decomposes once per data set and then scores each grid point with small matrix
products (on a 1280-d, 9-class set the whole default grid of both methods takes well under a
second instead of several); the chosen point is refitted on ``trainval`` once, by the direct
solve (:func:`eszsl_fit`, :func:`ridge_fit`), for ZSL and GZSL together.

**Edges.** The default grids span 1e-6..1e6; when the chosen value of a parameter still sits
on an end of its axis, that axis grows by a decade at that end (up to :data:`MAX_EXTENSION`
decades) until the choice is inside, and a grown point wins only when it scores strictly
better. A choice the search could not bring inside (an explicit grid, which is not grown by
default, or the limit reached) is named in :attr:`FloorResult.edge`.

Example:
    >>> from modgen.data.digits import load_digits_zsl
    >>> r = closed_form_floor(load_digits_zsl(val_classes=(8, 9)), method="eszsl")
    >>> r.method, r.criterion, sorted(r.params)
    ('eszsl', 'val zsl top-1', ['gamma', 'lambda'])
    >>> 0.33 < r.zsl <= 1.0 and 0.0 <= r.gzsl_h <= 1.0
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from attrs import field, frozen

from modgen.errors import ConfigError, DataError
from modgen.evaluate.metrics import harmonic_mean, per_class_top1

__all__ = [
    "FloorResult",
    "FLOOR_METHODS",
    "DEFAULT_GRIDS",
    "MAX_EXTENSION",
    "closed_form_floor",
    "floor_measurements",
    "eszsl_fit",
    "eszsl_scores",
    "ridge_fit",
    "ridge_predict",
    "fit_predict",
]

#: The methods :func:`closed_form_floor` knows.
FLOOR_METHODS: tuple[str, ...] = ("eszsl", "ridge")

_POWERS = [float(10.0**k) for k in range(-6, 7)]

#: The default grids: powers of ten from 1e-6 to 1e6 (ESZSL: 13 x 13 points; ridge: 13 points).
DEFAULT_GRIDS: dict[str, dict[str, list[float]]] = {
    "eszsl": {"gamma": list(_POWERS), "lambda": list(_POWERS)},
    "ridge": {"alpha": list(_POWERS)},
}

#: Decades an axis of the default grid may grow at each end while the choice sits on that end.
MAX_EXTENSION = 6

_TARGETS = ("pm1", "binary")


@frozen
class FloorResult:
    """The outcome of :func:`closed_form_floor`. Accuracies are fractions in ``[0, 1]``.

    Attributes:
        method: ``"eszsl"`` or ``"ridge"``.
        params: the chosen hyper-parameters (``gamma``/``lambda`` or ``alpha``).
        criterion: what chose them (``"val zsl top-1"``, or ``"val gzsl h"`` when the data has
            a single validation class).
        val_score: the chosen point's value of the criterion.
        val_scores: the criterion at every grid point, keyed like ``"gamma=1.0,lambda=0.1"``.
        zsl: per-class top-1 on ``test_unseen`` among the unseen classes (refit on ``trainval``).
        gzsl_u: per-class top-1 on ``test_unseen`` among seen and unseen classes.
        gzsl_s: per-class top-1 on ``test_seen`` among seen and unseen classes.
        gzsl_h: the harmonic mean of ``gzsl_u`` and ``gzsl_s``.
        val_classes: the validation class ids used for selection.
        edge: the parameters whose chosen value sits on an end of the searched axis (the search
            could not show that going further is no better), ``()`` when none; an axis of one
            value is an edge.

    Example:
        >>> r = FloorResult("ridge", {"alpha": 1.0}, "val zsl top-1", 0.5, {"alpha=1.0": 0.5},
        ...                 0.8, 0.4, 0.9, 0.55, (8, 9))
        >>> r.params["alpha"], r.gzsl_h, r.edge
        (1.0, 0.55, ())
    """

    method: str
    params: dict[str, float]
    criterion: str
    val_score: float
    val_scores: dict[str, float]
    zsl: float
    gzsl_u: float
    gzsl_s: float
    gzsl_h: float
    val_classes: tuple[int, ...] = field(converter=lambda v: tuple(int(c) for c in v))
    edge: tuple[str, ...] = field(default=(), converter=lambda v: tuple(str(k) for k in v))


# ----------------------------------------------------------------------------------------------
# the two linear maps


def _as_2d(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: expected a non-empty finite 2-D array, got shape {np.shape(value)}")
    return arr


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value > 0:
        raise ConfigError(f"{name}: expected a number > 0, got {value!r}")
    return float(value)


def eszsl_fit(
    features: Any, class_index: Any, semantics: Any, gamma: float, lam: float, *, targets: str = "pm1"
) -> np.ndarray:
    """ESZSL's closed form ``V = (X X^T + gamma I)^-1 X Y S^T (S S^T + lambda I)^-1``.

    Args:
        features: ``(n, D)`` training features (rows are samples; ``X`` is their transpose).
        class_index: ``(n,)`` each sample's row in ``semantics`` (``0..z-1``).
        semantics: ``(z, A)`` the training classes' semantics (``S`` is their transpose).
        gamma: the feature-side ridge ``gamma > 0``.
        lam: the semantic-side ridge ``lambda > 0``.
        targets: ``"pm1"`` (``Y`` in ``{-1, 1}``, the paper) or ``"binary"`` (``{0, 1}``).

    Returns:
        ``V`` ``(D, A)`` float64.

    Raises:
        DataError: shapes disagree or a class index is out of range.
        ConfigError: ``gamma``/``lam`` not positive or an unknown ``targets``.

    Example:
        >>> V = eszsl_fit(np.eye(2), [0, 1], np.eye(2), 1.0, 1.0)  # X = S = I, Y = 2I - 1
        >>> V.round(3).tolist()
        [[0.25, -0.25], [-0.25, 0.25]]
    """
    X = _as_2d("eszsl_fit: features", features)
    S = _as_2d("eszsl_fit: semantics", semantics)
    y = np.asarray(class_index)
    gamma, lam = _positive("eszsl_fit: gamma", gamma), _positive("eszsl_fit: lambda", lam)
    if targets not in _TARGETS:
        raise ConfigError(f"eszsl_fit: targets={targets!r} is unknown; expected one of {', '.join(_TARGETS)}")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= S.shape[0]:
        raise DataError(
            f"eszsl_fit: class_index must be {X.shape[0]} integers in [0, {S.shape[0]}), got shape {y.shape}"
        )
    Y = np.full((X.shape[0], S.shape[0]), -1.0 if targets == "pm1" else 0.0)
    Y[np.arange(y.size), y] = 1.0
    D, A = X.shape[1], S.shape[1]
    left = np.linalg.solve(X.T @ X + gamma * np.eye(D), X.T @ Y @ S)  # (XX^T + gI)^-1 X Y S^T
    # right-multiply by (SS^T + lI)^-1, a symmetric matrix: solve from the other side
    return np.linalg.solve(S.T @ S + lam * np.eye(A), left.T).T


def eszsl_scores(features: Any, V: np.ndarray, semantics: Any) -> np.ndarray:
    """ESZSL's compatibility ``x^T V s_c`` of every sample with every candidate class, ``(n, C)``.

    Example:
        >>> eszsl_scores(np.eye(2), np.eye(2), np.array([[1.0, 0.0], [0.0, 2.0]])).tolist()
        [[1.0, 0.0], [0.0, 2.0]]
    """
    X = _as_2d("eszsl_scores: features", features)
    S = _as_2d("eszsl_scores: semantics", semantics)
    return X @ V @ S.T


def ridge_fit(features: Any, targets: Any, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge regression with an intercept from ``(n, D)`` features to ``(n, A)`` targets.

    Returns:
        ``(W (D, A), x_mean (D,), t_mean (A,))``; predict with ``(x - x_mean) @ W + t_mean``.

    Example:
        >>> W, xm, tm = ridge_fit([[0.0], [2.0]], [[0.0], [4.0]], 1e-9)
        >>> round(float(W[0, 0]), 6), xm.tolist(), tm.tolist()
        (2.0, [1.0], [2.0])
    """
    X = _as_2d("ridge_fit: features", features)
    T = _as_2d("ridge_fit: targets", targets)
    alpha = _positive("ridge_fit: alpha", alpha)
    if T.shape[0] != X.shape[0]:
        raise DataError(f"ridge_fit: {X.shape[0]} feature rows but {T.shape[0]} target rows")
    xm, tm = X.mean(0), T.mean(0)
    Xc = X - xm
    W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ (T - tm))
    return W, xm, tm


def ridge_predict(
    features: Any, fit: tuple[np.ndarray, np.ndarray, np.ndarray], semantics: Any
) -> np.ndarray:
    """Cosine similarity ``(n, C)`` of each sample's predicted semantics with each candidate's.

    Example:
        >>> fit = (np.eye(2), np.zeros(2), np.zeros(2))
        >>> ridge_predict([[1.0, 0.1]], fit, [[1.0, 0.0], [0.0, 1.0]]).argmax(1).tolist()
        [0]
    """
    W, xm, tm = fit
    X = _as_2d("ridge_predict: features", features)
    S = _as_2d("ridge_predict: semantics", semantics)
    P = (X - xm) @ W + tm
    P = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
    S = S / np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)
    return P @ S.T


def fit_predict(
    method: str,
    params: Mapping[str, float],
    train_x: Any,
    train_y: Any,
    semantics: Any,
    candidates: Sequence[int] | np.ndarray,
    test_x: Sequence[Any],
    *,
    targets: str = "pm1",
) -> list[np.ndarray]:
    """Fit ``method`` on ``(train_x, train_y)`` and predict each array of ``test_x`` among ``candidates``.

    Args:
        method: ``"eszsl"`` or ``"ridge"``.
        params: ``{"gamma", "lambda"}`` or ``{"alpha"}``.
        train_x: ``(n, D)`` features; ``train_y``: ``(n,)`` global class ids.
        semantics: ``(C_all, A)`` every class's semantics (rows are global class ids).
        candidates: the global class ids a prediction may take.
        test_x: feature arrays to predict.
        targets: ESZSL's ``Y`` coding (see :func:`eszsl_fit`).

    Returns:
        One ``(m,)`` array of predicted global class ids per element of ``test_x``.

    Raises:
        ConfigError: an unknown method or a missing parameter.

    Example:
        >>> S = np.eye(3)
        >>> fit_predict("ridge", {"alpha": 1e-6}, np.eye(3)[:2], [0, 1], S, [0, 1], [np.eye(3)[:2]])
        [array([0, 1])]
    """
    _check_method(method)
    need = sorted(DEFAULT_GRIDS[method])
    if sorted(params) != need:
        raise ConfigError(f"fit_predict: {method} needs parameters {need}, got {sorted(params)}")
    sem = _as_2d("fit_predict: semantics", semantics)
    ty = np.asarray(train_y)
    cand = np.asarray(candidates, dtype=np.int64)
    if method == "eszsl":
        classes, local = np.unique(ty, return_inverse=True)
        V = eszsl_fit(train_x, local, sem[classes], params["gamma"], params["lambda"], targets=targets)
        return [cand[eszsl_scores(x, V, sem[cand]).argmax(1)] for x in test_x]
    fit = ridge_fit(train_x, sem[ty], params["alpha"])
    return [cand[ridge_predict(x, fit, sem[cand]).argmax(1)] for x in test_x]


# ----------------------------------------------------------------------------------------------
# every grid point from one decomposition


class _Spectrum:
    """``(X^T X + r I)^-1 X^T T = B diag(1 / (e + r)) core(T)`` for every ridge ``r > 0``.

    From the eigendecomposition of the smaller Gram matrix of ``X`` ``(n, D)``: ``X^T X = W
    diag(e) W^T`` when ``n >= D`` (``B = W``, ``core(T) = W^T X^T T``), else ``X X^T = U diag(e)
    U^T`` (``B = X^T U``, ``core(T) = U^T T``, by ``(X^T X + r I)^-1 X^T = X^T (X X^T + r I)^-1``).
    Neither form divides by an eigenvalue, so a rank-deficient ``X`` is no problem.
    """

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self.primal = X.shape[0] >= X.shape[1]
        e, vecs = np.linalg.eigh(X.T @ X if self.primal else X @ X.T)
        self.e = np.maximum(e, 0.0)  # round-off can make a zero eigenvalue slightly negative
        self.vecs = vecs
        self.B = vecs if self.primal else X.T @ vecs  # (D, r)

    def core(self, T: np.ndarray) -> np.ndarray:
        """``(r, k)`` for targets ``T`` ``(n, k)``."""
        return self.vecs.T @ (self.X.T @ T) if self.primal else self.vecs.T @ T

    def scale(self, r: float) -> np.ndarray:
        """``(r,)``: the diagonal ``1 / (e + r)``."""
        return 1.0 / (self.e + r)


class _GridFit:
    """One closed-form method fitted on one training set at every grid point at once.

    ``predictor(test_x, candidates)`` projects a test set once and returns a function from a
    grid point to the predicted global class ids; each call costs a few small matrix products.
    Equal to :func:`fit_predict` at every point up to float64 round-off (tested).
    """

    def __init__(self, method: str, train_x: Any, train_y: Any, semantics: Any, targets: str) -> None:
        X = _as_2d("closed_form_floor: features", train_x)
        self.method, self.sem = method, _as_2d("closed_form_floor: semantics", semantics)
        ty = np.asarray(train_y)
        if method == "eszsl":
            classes, local = np.unique(ty, return_inverse=True)
            S = self.sem[classes]  # (z, A)
            Y = np.full((X.shape[0], S.shape[0]), -1.0 if targets == "pm1" else 0.0)
            Y[np.arange(local.size), local] = 1.0
            self.spec = _Spectrum(X)
            # (S^T S + l I)^-1 on the right of Y S is Y (S S^T + l I)^-1 S: a (z, z) problem.
            mu, Q = np.linalg.eigh(S @ S.T)
            self.mu = np.maximum(mu, 0.0)
            self.M = self.spec.core(Y) @ Q  # (r, z)
            self.QS = Q.T @ S  # (z, A)
        else:
            self.xm, T = X.mean(0), self.sem[ty]
            self.tm = T.mean(0)
            self.spec = _Spectrum(X - self.xm)
            self.K = self.spec.core(T - self.tm)  # (r, A)

    def eszsl_V(self, gamma: float, lam: float) -> np.ndarray:
        """ESZSL's ``V`` ``(D, A)`` at one point (what :func:`eszsl_fit` returns)."""
        core = self.M * self.spec.scale(gamma)[:, None] / (self.mu + lam)[None, :]
        return self.spec.B @ (core @ self.QS)

    def ridge_W(self, alpha: float) -> np.ndarray:
        """Ridge's ``W`` ``(D, A)`` at one ``alpha`` (what :func:`ridge_fit` returns first)."""
        return self.spec.B @ (self.K * self.spec.scale(alpha)[:, None])

    def predictor(self, test_x: Any, candidates: Any) -> Any:
        """A function ``point -> (m,)`` predicted global class ids of ``test_x`` among ``candidates``."""
        cand = np.asarray(candidates, dtype=np.int64)
        S_c = self.sem[cand]
        if self.method == "eszsl":
            P = _as_2d("closed_form_floor: test features", test_x) @ self.spec.B  # (m, r)
            R = self.QS @ S_c.T  # (z, C)
            # x^T V s_c = (P diag(1/(e+gamma)) M) diag(1/(mu+lambda)) R: the (m, z) left factor
            # once per gamma (the large product), then one small product per lambda.
            left: dict[float, np.ndarray] = {}

            def eszsl(point: Mapping[str, float]) -> np.ndarray:
                gamma = point["gamma"]
                if gamma not in left:
                    left[gamma] = P @ (self.M * self.spec.scale(gamma)[:, None])
                return cand[(left[gamma] @ (R / (self.mu + point["lambda"])[:, None])).argmax(1)]

            return eszsl
        P = (_as_2d("closed_form_floor: test features", test_x) - self.xm) @ self.spec.B
        S_n = S_c / np.maximum(np.linalg.norm(S_c, axis=1, keepdims=True), 1e-12)

        def ridge(point: Mapping[str, float]) -> np.ndarray:
            pred = P @ (self.K * self.spec.scale(point["alpha"])[:, None]) + self.tm
            pred /= np.maximum(np.linalg.norm(pred, axis=1, keepdims=True), 1e-12)
            return cand[(pred @ S_n.T).argmax(1)]

        return ridge


# ----------------------------------------------------------------------------------------------
# selection on the validation view, refit, test


def _check_method(method: str) -> None:
    if method not in FLOOR_METHODS:
        raise ConfigError(f"method={method!r} is unknown; expected one of {', '.join(FLOOR_METHODS)}")


def _grid_axes(method: str, grid: Mapping[str, Sequence[float]] | None) -> dict[str, list[float]]:
    grid = DEFAULT_GRIDS[method] if grid is None else grid
    need = sorted(DEFAULT_GRIDS[method])
    if not isinstance(grid, Mapping) or sorted(grid) != need:
        got = sorted(grid) if isinstance(grid, Mapping) else grid
        raise ConfigError(f"grid: {method} needs a table with exactly the keys {need}, got {got!r}")
    axes: dict[str, list[float]] = {}
    for k in need:
        values = list(grid[k]) if isinstance(grid[k], (list, tuple)) else [grid[k]]
        if not values:
            raise ConfigError(f"grid.{k}: expected a non-empty list of numbers > 0, got []")
        axes[k] = [_positive(f"grid.{k}", v) for v in values]
    return axes


def _key(point: Mapping[str, float]) -> str:
    return ",".join(f"{k}={v}" for k, v in point.items())


def _criterion(method: str, view: Any, targets: str) -> tuple[str, Any]:
    """The selection criterion's name and a function ``point -> score`` on the validation view."""
    fit = _GridFit(method, view.features[view.trainval], view.labels[view.trainval], view.semantics, targets)
    if len(view.unseen_classes) >= 2:
        zsl = fit.predictor(view.features[view.test_unseen], view.unseen_classes)
        y_u = view.labels[view.test_unseen]
        return "val zsl top-1", lambda p: per_class_top1(y_u, zsl(p))
    candidates = np.union1d(view.seen_classes, view.unseen_classes)
    on_u = fit.predictor(view.features[view.test_unseen], candidates)
    on_s = fit.predictor(view.features[view.test_seen], candidates)
    y_u, y_s = view.labels[view.test_unseen], view.labels[view.test_seen]
    return "val gzsl h", lambda p: harmonic_mean(per_class_top1(y_u, on_u(p)), per_class_top1(y_s, on_s(p)))


def _edges(axes: Mapping[str, Sequence[float]], point: Mapping[str, float]) -> list[tuple[str, int]]:
    """``(parameter, -1 | +1)`` for each end of an axis the point sits on."""
    out = []
    for k, values in axes.items():
        if point[k] == min(values):
            out.append((k, -1))
        if point[k] == max(values):
            out.append((k, +1))
    return out


def _search(
    score: Any, axes: dict[str, list[float]], extend: int
) -> tuple[dict[str, float], float, dict[str, float], tuple[str, ...]]:
    """Score the grid, growing an axis a decade at an end while the choice sits there.

    Returns ``(chosen point, its score, every score by key, the parameters left on an edge)``.
    The first maximum in the order tried wins, so a grown point wins only when strictly better.
    """
    axes = {k: list(v) for k, v in axes.items()}
    grown = {(k, side): 0 for k in axes for side in (-1, 1)}
    tried: dict[tuple[float, ...], float] = {}
    while True:
        for combo in itertools.product(*axes.values()):
            if combo not in tried:
                tried[combo] = float(score(dict(zip(axes, combo, strict=True))))
        combos, values = list(tried), list(tried.values())
        best = int(np.argmax(np.asarray(values)))  # first maximum
        chosen = dict(zip(axes, combos[best], strict=True))
        grow = [(k, side) for k, side in _edges(axes, chosen) if grown[(k, side)] < extend]
        if not grow:
            break
        for k, side in grow:
            grown[(k, side)] += 1
            end = min(axes[k]) / 10.0 if side < 0 else max(axes[k]) * 10.0
            axes[k] = [end, *axes[k]] if side < 0 else [*axes[k], end]
    scores = {_key(dict(zip(axes, c, strict=True))): v for c, v in tried.items()}
    edge = tuple(dict.fromkeys(k for k, _ in _edges(axes, chosen)))
    return chosen, values[best], scores, edge


def _test(
    method: str, point: Mapping[str, float], data: Any, targets: str
) -> tuple[float, float, float, float]:
    """The chosen point refitted on ``trainval`` once: ``(zsl, gzsl_u, gzsl_s, gzsl_h)``."""
    X, y, sem = data.features[data.trainval], data.labels[data.trainval], _as_2d("semantics", data.semantics)
    unseen = np.asarray(data.unseen_classes, dtype=np.int64)
    every = np.union1d(data.seen_classes, unseen).astype(np.int64)
    X_u, X_s = data.features[data.test_unseen], data.features[data.test_seen]
    if method == "eszsl":
        classes, local = np.unique(y, return_inverse=True)
        V = eszsl_fit(X, local, sem[classes], point["gamma"], point["lambda"], targets=targets)
        zsl = unseen[eszsl_scores(X_u, V, sem[unseen]).argmax(1)]
        on_every = [every[eszsl_scores(x, V, sem[every]).argmax(1)] for x in (X_u, X_s)]
    else:
        fit = ridge_fit(X, sem[y], point["alpha"])
        zsl = unseen[ridge_predict(X_u, fit, sem[unseen]).argmax(1)]
        on_every = [every[ridge_predict(x, fit, sem[every]).argmax(1)] for x in (X_u, X_s)]
    u = per_class_top1(data.labels[data.test_unseen], on_every[0])
    s = per_class_top1(data.labels[data.test_seen], on_every[1])
    return per_class_top1(data.labels[data.test_unseen], zsl), u, s, harmonic_mean(u, s)


def closed_form_floor(
    data: Any,
    *,
    method: str = "eszsl",
    grid: Mapping[str, Sequence[float]] | None = None,
    targets: str = "pm1",
    extend: int | None = None,
) -> FloorResult:
    """Select a closed-form baseline on the validation view, refit on ``trainval``, score the test split.

    Selection fits every grid point on the view's ``trainval`` (80% of the ``train`` classes'
    samples) and scores the per-class top-1 on the ``val`` classes among the ``val`` classes;
    with a single validation class (where that is trivially 1) it scores the view's GZSL ``H``
    instead (``val`` samples and the held-out 20% of ``train`` among all view classes). Every
    point comes from one decomposition of the view's features (see the module doc). Ties go to
    the first grid point (grids are tried in the order given, ``itertools.product`` of the
    sorted keys, then the points an edge added). While the chosen value of a parameter sits on
    an end of its axis, the axis grows by a decade there, at most ``extend`` times per end;
    what still sits on an end is reported in :attr:`FloorResult.edge`. The chosen point is then
    refitted on ``trainval`` and scored once on the test split: ZSL among the unseen classes on
    ``test_unseen``; GZSL among every seen and unseen class on ``test_unseen`` (``U``) and
    ``test_seen`` (``S``). No calibration is applied.

    Args:
        data: a :class:`~modgen.data.zsldata.ZSLData` with a validation split.
        method: ``"eszsl"`` or ``"ridge"``.
        grid: ``{"gamma": [...], "lambda": [...]}`` (ESZSL) or ``{"alpha": [...]}`` (ridge);
            default :data:`DEFAULT_GRIDS`.
        targets: ESZSL's ``Y`` coding, ``"pm1"`` (the paper) or ``"binary"``.
        extend: decades an axis may grow at each end; default :data:`MAX_EXTENSION` for the
            default grid and 0 (the grid as given) for an explicit one.

    Returns:
        A :class:`FloorResult`.

    Raises:
        ConfigError: an unknown method, a malformed grid, ``targets`` or ``extend``.
        DataError: the data has no validation split, or fewer than 2 unseen classes.

    Example:
        >>> from modgen.data.digits import load_digits_zsl
        >>> r = closed_form_floor(load_digits_zsl(val_classes=(8, 9)), method="ridge", grid={"alpha": [1.0]})
        >>> r.params, r.criterion, r.edge
        ({'alpha': 1.0}, 'val zsl top-1', ('alpha',))
    """
    _check_method(method)
    if targets not in _TARGETS:
        raise ConfigError(f"targets={targets!r} is unknown; expected one of {', '.join(_TARGETS)}")
    axes = _grid_axes(method, grid)
    extend = (MAX_EXTENSION if grid is None else 0) if extend is None else extend
    if isinstance(extend, bool) or not isinstance(extend, (int, np.integer)) or extend < 0:
        raise ConfigError(f"extend: expected an integer >= 0 (decades per end of an axis), got {extend!r}")
    if len(np.asarray(data.unseen_classes)) < 2:
        raise DataError(f"{data.name}: ZSL needs at least 2 unseen classes, got {len(data.unseen_classes)}")
    view = data.validation_view()  # DataError with its own message when there is no split
    criterion, score = _criterion(method, view, targets)
    chosen, val_score, val_scores, edge = _search(score, axes, int(extend))
    zsl, u, s, h = _test(method, chosen, data, targets)
    return FloorResult(
        method=method,
        params=dict(chosen),
        criterion=criterion,
        val_score=val_score,
        val_scores=val_scores,
        zsl=zsl,
        gzsl_u=u,
        gzsl_s=s,
        gzsl_h=h,
        val_classes=tuple(np.asarray(data.val_classes).tolist()),
        edge=edge,
    )


def floor_measurements(data: Any) -> dict[str, dict[str, Any]]:
    """The closed-form floor beside a generative result: ESZSL and ridge, in percent.

    Returns:
        ``{method: {"zsl", "gzsl_u", "gzsl_s", "gzsl_h", "params", "criterion", "edge"}}``
        (what :attr:`modgen.evaluate.EvaluationResult.floor` holds; ``edge`` lists the
        parameters whose choice sits on an end of the grid, ``[]`` when none).

    Raises:
        DataError: as :func:`closed_form_floor` (no validation split, < 2 unseen classes).

    Example:
        >>> from modgen.data.digits import load_digits_zsl
        >>> floor = floor_measurements(load_digits_zsl(val_classes=(8, 9)))
        >>> sorted(floor), floor["eszsl"]["edge"]
        (['eszsl', 'ridge'], [])
    """
    out = {}
    for method in ("eszsl", "ridge"):
        r = closed_form_floor(data, method=method)
        out[method] = {
            "zsl": 100.0 * r.zsl,
            "gzsl_u": 100.0 * r.gzsl_u,
            "gzsl_s": 100.0 * r.gzsl_s,
            "gzsl_h": 100.0 * r.gzsl_h,
            "params": dict(r.params),
            "criterion": r.criterion,
            "edge": list(r.edge),
        }
    return out
