"""The closed-form floor: ESZSL and ridge attribute regression (modgen.baselines)."""

from __future__ import annotations

import itertools

import attrs
import numpy as np
import pytest

from modgen.baselines import (
    DEFAULT_GRIDS,
    MAX_EXTENSION,
    FloorResult,
    _GridFit,
    closed_form_floor,
    eszsl_fit,
    eszsl_scores,
    fit_predict,
    floor_measurements,
    ridge_fit,
    ridge_predict,
)
from modgen.data.digits import load_digits_zsl
from modgen.data.zsldata import ZSLData
from modgen.errors import ConfigError, DataError


def _toy(noise: float = 0.1, seed: int = 0, val: tuple[int, ...] = (2, 3)) -> ZSLData:
    """10 classes whose attributes are the 2-of-5 binary vectors; features a random linear image
    of the attributes plus noise. Classes 0-7 seen (``val`` among them), 8-9 unseen."""
    rng = np.random.default_rng(seed)
    sem = np.array([[float(i in pair) for i in range(5)] for pair in itertools.combinations(range(5), 2)])
    sem /= np.linalg.norm(sem, axis=1, keepdims=True)
    C, per = sem.shape[0], 20
    labels = np.repeat(np.arange(C), per)
    feats = sem[labels] @ rng.normal(size=(5, 7)) + noise * rng.normal(size=(labels.size, 7))
    seen, unseen = np.arange(8), np.array([8, 9])
    shot = np.tile(np.arange(per), C)
    trainval = np.flatnonzero(np.isin(labels, seen) & (shot < 15))
    test_seen = np.flatnonzero(np.isin(labels, seen) & (shot >= 15))
    test_unseen = np.flatnonzero(np.isin(labels, unseen))
    in_val = np.isin(labels[trainval], val)
    return ZSLData(
        name="toy",
        features=feats,
        labels=labels,
        semantics=sem,
        class_names=[f"c{i}" for i in range(C)],
        trainval=trainval,
        test_seen=test_seen,
        test_unseen=test_unseen,
        seen_classes=seen,
        unseen_classes=unseen,
        train=trainval[~in_val],
        val=trainval[in_val],
        val_classes=np.array(val),
    )


# -- ESZSL: a hand-checkable case and the formula computed another way ---------------------------


@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (0.5, 3.0)])
def test_eszsl_identity_case_by_hand(gamma: float, lam: float) -> None:
    # X = I (3 samples, 3 dims), S = I (3 classes, 3 attributes): V = Y / ((1 + gamma)(1 + lambda))
    Y = 2 * np.eye(3) - 1
    V = eszsl_fit(np.eye(3), [0, 1, 2], np.eye(3), gamma, lam)
    np.testing.assert_allclose(V, Y / ((1 + gamma) * (1 + lam)))
    Vb = eszsl_fit(np.eye(3), [0, 1, 2], np.eye(3), gamma, lam, targets="binary")
    np.testing.assert_allclose(Vb, np.eye(3) / ((1 + gamma) * (1 + lam)))


def _random_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, D, z, A = 30, 6, 4, 5
    X = rng.normal(size=(n, D))
    y = rng.integers(0, z, n)
    S = rng.random((z, A))
    Y = -np.ones((n, z))
    Y[np.arange(n), y] = 1
    return X, y, S, Y


def test_eszsl_matches_the_kronecker_form() -> None:
    # vec(V) = ((S S^T + lI) kron (X X^T + gI))^-1 vec(X Y S^T) with paper shapes X (D, n), S (A, z)
    Xr, y, Sr, Y = _random_problem()
    gamma, lam = 0.7, 2.5
    X, S = Xr.T, Sr.T
    D, A = X.shape[0], S.shape[0]
    K = np.kron(S @ S.T + lam * np.eye(A), X @ X.T + gamma * np.eye(D))
    vec = np.linalg.solve(K, (X @ Y @ S.T).reshape(-1, order="F"))
    np.testing.assert_allclose(eszsl_fit(Xr, y, Sr, gamma, lam), vec.reshape(D, A, order="F"), atol=1e-10)


def test_eszsl_minimises_its_objective() -> None:
    # ||X^T V S - Y||^2 + g ||V S||^2 + l ||X^T V||^2 + g l ||V||^2 is lowest at the closed form
    Xr, y, Sr, Y = _random_problem(1)
    gamma, lam = 0.3, 1.2
    X, S = Xr.T, Sr.T

    def objective(V: np.ndarray) -> float:
        return float(
            np.sum((X.T @ V @ S - Y) ** 2)
            + gamma * np.sum((V @ S) ** 2)
            + lam * np.sum((X.T @ V) ** 2)
            + gamma * lam * np.sum(V**2)
        )

    V = eszsl_fit(Xr, y, Sr, gamma, lam)
    rng = np.random.default_rng(2)
    best = objective(V)
    for _ in range(20):
        assert objective(V + 1e-3 * rng.normal(size=V.shape)) > best
    grad = 2 * (
        (X @ X.T + gamma * np.eye(X.shape[0])) @ V @ (S @ S.T + lam * np.eye(S.shape[0])) - X @ Y @ S.T
    )
    np.testing.assert_allclose(grad, 0, atol=1e-9)


def test_eszsl_scores_are_bilinear() -> None:
    Xr, y, Sr, _ = _random_problem(3)
    V = eszsl_fit(Xr, y, Sr, 1.0, 1.0)
    scores = eszsl_scores(Xr, V, Sr)
    assert scores.shape == (Xr.shape[0], Sr.shape[0])
    np.testing.assert_allclose(scores[4, 2], Xr[4] @ V @ Sr[2])


# -- ridge ---------------------------------------------------------------------------------------


def test_ridge_matches_scikit_learn() -> None:
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(40, 6)), rng.normal(size=(40, 3))
    W, xm, tm = ridge_fit(X, T, 2.0)
    ref = Ridge(alpha=2.0).fit(X, T)
    np.testing.assert_allclose(W, ref.coef_.T, atol=1e-10)
    np.testing.assert_allclose((X - xm) @ W + tm, ref.predict(X), atol=1e-10)


def test_ridge_predict_is_cosine_nearest() -> None:
    fit = (np.eye(2), np.zeros(2), np.zeros(2))
    sims = ridge_predict([[3.0, 1.0], [0.1, 2.0]], fit, [[1.0, 0.0], [0.0, 5.0]])
    assert sims.argmax(1).tolist() == [0, 1]
    np.testing.assert_allclose(sims[0, 0], 3 / np.sqrt(10))


def test_fit_predict_restricts_to_candidates() -> None:
    S = np.eye(4)
    X = np.eye(4)[[0, 1, 0, 1]]
    (pred,) = fit_predict("ridge", {"alpha": 1e-6}, X, [0, 1, 0, 1], S, [2, 3], [np.eye(4)])
    assert set(pred.tolist()) <= {2, 3}


# -- the floor -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["eszsl", "ridge"])
def test_floor_on_separable_toy_data_is_perfect(method: str) -> None:
    r = closed_form_floor(_toy(), method=method)
    assert isinstance(r, FloorResult)
    assert r.criterion == "val zsl top-1" and r.val_classes == (2, 3)
    assert r.val_score == 1.0 and r.zsl == 1.0
    assert sorted(r.params) == sorted(DEFAULT_GRIDS[method])
    assert r.val_scores[",".join(f"{k}={v}" for k, v in r.params.items())] == r.val_score
    assert 0.0 <= r.gzsl_h <= 1.0


@pytest.mark.parametrize("method", ["eszsl", "ridge"])
def test_selection_never_reads_test_labels(method: str) -> None:
    data = load_digits_zsl(val_classes=(3, 9))
    rng = np.random.default_rng(0)
    labels = data.labels.copy()
    for idx in (data.test_unseen, data.test_seen):
        labels[idx] = labels[idx][rng.permutation(idx.size)]
    shuffled = attrs.evolve(data, labels=labels)
    a, b = closed_form_floor(data, method=method), closed_form_floor(shuffled, method=method)
    assert a.params == b.params and a.val_scores == b.val_scores and a.val_score == b.val_score
    assert a.zsl != b.zsl  # the test labels did change what is reported


def test_floor_is_deterministic() -> None:
    data = load_digits_zsl(val_classes=(3, 9))
    assert closed_form_floor(data) == closed_form_floor(data)


def test_single_val_class_selects_on_gzsl_h() -> None:
    r = closed_form_floor(_toy(val=(2,)), method="ridge", grid={"alpha": [0.1, 1.0]})
    assert r.criterion == "val gzsl h" and sorted(r.val_scores) == ["alpha=0.1", "alpha=1.0"]


def test_ties_go_to_the_first_grid_point() -> None:
    r = closed_form_floor(_toy(), method="ridge", grid={"alpha": [0.01, 0.001]})
    assert r.val_scores == {"alpha=0.01": 1.0, "alpha=0.001": 1.0} and r.params == {"alpha": 0.01}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "svm"}, "method='svm' is unknown"),
        ({"method": "ridge", "grid": {"gamma": [1.0]}}, "exactly the keys"),
        ({"method": "ridge", "grid": {"alpha": []}}, "non-empty"),
        ({"method": "ridge", "grid": {"alpha": [-1.0]}}, "> 0"),
        ({"targets": "onehot"}, "targets='onehot'"),
    ],
)
def test_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        closed_form_floor(_toy(), **kwargs)


def test_data_errors() -> None:
    no_val = attrs.evolve(_toy(), train=np.zeros(0, np.int64), val=np.zeros(0, np.int64), val_classes=[])
    with pytest.raises(DataError, match="no validation split"):
        closed_form_floor(no_val)
    with pytest.raises(DataError, match="class_index"):
        eszsl_fit(np.eye(2), [0, 5], np.eye(2), 1.0, 1.0)
    with pytest.raises(DataError, match="2-D"):
        ridge_fit(np.zeros(3), np.zeros((3, 1)), 1.0)


# -- the whole grid from one decomposition ---------------------------------------------------------


def _wide(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` samples of ``d`` non-negative features over 5 classes with 4-d semantics."""
    rng = np.random.default_rng(seed)
    sem = rng.random((5, 4))
    y = np.arange(n) % 5
    X = np.maximum(sem[y] @ rng.normal(size=(4, d)) + 0.3 * rng.normal(size=(n, d)), 0.0)
    return X, y, sem


@pytest.mark.parametrize("n,d", [(40, 30), (30, 60)])  # the primal and the dual form
@pytest.mark.parametrize("targets", ["pm1", "binary"])
def test_grid_fit_equals_the_direct_eszsl_solve(n: int, d: int, targets: str) -> None:
    X, y, sem = _wide(n, d)
    fit = _GridFit("eszsl", X, y, sem, targets)
    for gamma, lam in [(1e-3, 1e3), (1e-2, 1.0), (1.0, 1e-2), (10.0, 10.0), (1e3, 1e-3)]:
        direct = eszsl_fit(X, y, sem, gamma, lam, targets=targets)
        np.testing.assert_allclose(
            fit.eszsl_V(gamma, lam), direct, rtol=1e-6, atol=1e-9 * np.abs(direct).max()
        )


@pytest.mark.parametrize("n,d", [(40, 30), (30, 60)])
def test_grid_fit_equals_the_direct_ridge_solve(n: int, d: int) -> None:
    X, y, sem = _wide(n, d)
    fit = _GridFit("ridge", X, y, sem, "pm1")
    for alpha in (1e-3, 1e-1, 1.0, 10.0, 1e3):
        W, _, _ = ridge_fit(X, sem[y], alpha)
        np.testing.assert_allclose(fit.ridge_W(alpha), W, rtol=1e-6, atol=1e-9 * np.abs(W).max())


@pytest.mark.parametrize("method", ["eszsl", "ridge"])
def test_grid_fit_predicts_as_fit_predict_at_every_point(method: str) -> None:
    view = load_digits_zsl(val_classes=(3, 9)).validation_view()
    X, y = view.features[view.trainval], view.labels[view.trainval]
    test_x = view.features[view.test_unseen]
    predict = _GridFit(method, X, y, view.semantics, "pm1").predictor(test_x, view.unseen_classes)
    axes = {k: [1e-3, 1e-1, 10.0, 1e3] for k in DEFAULT_GRIDS[method]}
    for combo in itertools.product(*axes.values()):
        point = dict(zip(axes, combo, strict=True))
        (direct,) = fit_predict(method, point, X, y, view.semantics, view.unseen_classes, [test_x])
        np.testing.assert_array_equal(predict(point), direct)


# -- grid edges ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["eszsl", "ridge"])
@pytest.mark.parametrize("data", [load_digits_zsl, _toy], ids=["digits", "synthetic"])
def test_default_selection_is_off_the_edge(method: str, data) -> None:
    r = closed_form_floor(data(), method=method)
    assert r.edge == ()
    assert len(r.val_scores) <= (13 + 2 * MAX_EXTENSION) ** len(r.params)
    grid = {k: sorted({float(p.split("=")[1]) for p in _points(r, k)}) for k in r.params}
    for k, v in r.params.items():
        assert grid[k][0] < v < grid[k][-1], (k, v, grid[k])


def _points(r, k: str) -> list[str]:
    return [part for key in r.val_scores for part in key.split(",") if part.startswith(f"{k}=")]


def test_a_forced_tiny_grid_flags_its_edge() -> None:
    r = closed_form_floor(load_digits_zsl(), method="ridge", grid={"alpha": [1e-3, 1e-2]})
    assert r.params == {"alpha": 1e-2} and r.edge == ("alpha",)
    grown = closed_form_floor(load_digits_zsl(), method="ridge", grid={"alpha": [1e-3, 1e-2]}, extend=6)
    assert grown.edge == () and grown.params["alpha"] > 1e-2 and len(grown.val_scores) > 2
    assert floor_measurements(load_digits_zsl())["ridge"]["edge"] == []


def test_the_extension_stops_at_its_limit() -> None:
    r = closed_form_floor(load_digits_zsl(), method="ridge", grid={"alpha": [1e-3]}, extend=1)
    assert sorted(r.val_scores) == ["alpha=0.0001", "alpha=0.001", "alpha=0.01"]  # one decade each end
    assert r.params == {"alpha": 0.01} and r.edge == ("alpha",)


def test_extend_is_checked() -> None:
    with pytest.raises(ConfigError, match="extend: expected an integer >= 0"):
        closed_form_floor(_toy(), method="ridge", extend=-1)
