"""Final classifiers: sklearn API, weighting rules (Eqs. 13-14), torch SVM against LinearSVC."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pickle

import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError

from modgen.classify import (
    FINAL_CLASSIFIERS,
    ClassifierNotFittedError,
    InputTypeError,
    LinearSVMClassifier,
    SklearnLinearSVC,
    SoftmaxClassifier,
    WarmStarts,
    WeightedLinearSVMClassifier,
    WeightedSklearnLinearSVC,
    WeightedSoftmaxClassifier,
    class_mean_weights,
    fit_grid,
    register_components,
    resolve_sample_weights,
    variant,
)
from modgen.errors import ConfigError, DataError, ModgenError, ShapeError
from modgen.plugins import Registries

# Small, fast settings for every classifier in these tests.
FAST = {
    "softmax": {"hidden": 16, "steps": 15, "batch_size": 32, "lr": 0.01, "device": "cpu"},
    "weighted-softmax": {"hidden": 16, "steps": 15, "batch_size": 32, "lr": 0.01, "device": "cpu"},
    "svm": {"device": "cpu", "max_iter": 100},
    "weighted-svm": {"device": "cpu", "max_iter": 100},
    "sklearn-svm": {},
    "weighted-sklearn-svm": {},
}


def blobs(
    n_per_class: int = 20,
    n_classes: int = 4,
    dim: int = 6,
    *,
    spread: float = 0.3,
    seed: int = 0,
    noise_seed: int | None = None,
):
    """Well separated Gaussian blobs with labels 10, 20, ... (not 0..C-1 on purpose).

    The centres depend on ``seed`` only; ``noise_seed`` draws other points around them.
    """
    centers = np.random.default_rng(seed).normal(size=(n_classes, dim)) * 4.0
    rng = np.random.default_rng(seed if noise_seed is None else (seed, noise_seed))
    X = np.concatenate([c + spread * rng.normal(size=(n_per_class, dim)) for c in centers]).astype(np.float32)
    y = np.repeat((np.arange(n_classes) + 1) * 10, n_per_class)
    return X, y


def test_registered_names_and_classes():
    regs = Registries()
    register_components(regs)
    assert regs.final_classifier.names() == sorted(FINAL_CLASSIFIERS)
    for name in ("softmax", "weighted-softmax", "svm", "weighted-svm"):
        assert name in regs.final_classifier
    assert regs.final_classifier.get("weighted-softmax")().weighting == "instance"
    assert regs.final_classifier.get("weighted-svm")().weighting == "class"


@pytest.mark.parametrize("name", sorted(FINAL_CLASSIFIERS))
def test_clone_fit_predict_api(name):
    cls = FINAL_CLASSIFIERS[name]
    est = cls(**FAST[name])
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    X, y = blobs()
    copy.fit(torch.from_numpy(X), torch.from_numpy(y))  # torch input
    assert list(copy.classes_) == [10, 20, 30, 40]
    scores = copy.decision_function(X)
    assert scores.shape == (X.shape[0], 4)
    pred = copy.predict(X)
    assert pred.dtype == y.dtype and set(pred) <= set(y)
    assert copy.score(X, y) > 0.9
    assert np.array_equal(pred, copy.classes_[scores.argmax(1)])
    assert not hasattr(est, "classes_")  # clone leaves the original unfitted


def test_softmax_is_deterministic_given_random_state():
    X, y = blobs()
    a = SoftmaxClassifier(**FAST["softmax"], random_state=3).fit(X, y).decision_function(X)
    b = SoftmaxClassifier(**FAST["softmax"], random_state=3).fit(X, y).decision_function(X)
    c = SoftmaxClassifier(**FAST["softmax"], random_state=4).fit(X, y).decision_function(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


@settings(max_examples=5)
@given(constant=st.floats(0.01, 50.0), weighting=st.sampled_from(["instance", "class"]))
def test_uniform_weights_equal_unweighted_softmax(constant, weighting):
    X, y = blobs(n_per_class=10)
    params = dict(FAST["softmax"], steps=9)
    plain = SoftmaxClassifier(**params).fit(X, y)
    weighted = SoftmaxClassifier(**dict(params, weighting=weighting)).fit(
        X, y, sample_weight=np.full(len(y), constant)
    )
    assert np.array_equal(plain.decision_function(X), weighted.decision_function(X))


def test_uniform_weights_equal_unweighted_svm_and_none_means_uniform():
    X, y = blobs()
    plain = LinearSVMClassifier(**FAST["svm"]).fit(X, y)
    uniform = WeightedLinearSVMClassifier(**FAST["weighted-svm"]).fit(
        X, y, sample_weight=np.full(len(y), 0.7)
    )
    no_weights = WeightedSoftmaxClassifier(**FAST["weighted-softmax"]).fit(X, y)
    assert np.array_equal(plain.coef_, uniform.coef_)
    assert np.array_equal(
        no_weights.decision_function(X), SoftmaxClassifier(**FAST["softmax"]).fit(X, y).decision_function(X)
    )


@pytest.mark.parametrize("name", ["weighted-softmax", "svm", "sklearn-svm"])
def test_zero_weight_removes_a_sample(name):
    X, y = blobs(n_per_class=12)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.2, 1.0, size=len(y))
    w[[0, 15, 30]] = 0.0
    # a wild outlier with weight 0 must not matter at all
    X[15] = 100.0
    params = dict(FAST[name], weighting="instance")
    with_zero = FINAL_CLASSIFIERS[name](**params).fit(X, y, sample_weight=w)
    keep = w > 0
    without = FINAL_CLASSIFIERS[name](**params).fit(X[keep], y[keep], sample_weight=w[keep])
    np.testing.assert_allclose(
        with_zero.decision_function(X), without.decision_function(X), rtol=1e-5, atol=1e-5
    )


def test_instance_weights_change_the_fit():
    X, y = blobs(n_per_class=12, spread=2.0)
    w = np.where(np.arange(len(y)) % 2 == 0, 1.0, 0.05)
    plain = LinearSVMClassifier(**FAST["svm"]).fit(X, y)
    weighted = LinearSVMClassifier(**dict(FAST["svm"], weighting="instance")).fit(X, y, sample_weight=w)
    assert not np.allclose(plain.coef_, weighted.coef_)


def test_class_weights_are_eq14_class_means():
    w = np.array([1.0, 0.5, 0.2, 0.0, 0.6])
    y_index = np.array([0, 0, 1, 1, 2])
    np.testing.assert_allclose(class_mean_weights(w, y_index, 4), [0.75, 0.1, 0.6, 0.0])
    per_sample = resolve_sample_weights(w, y_index, 3, "class", owner="t")
    expected = np.array([0.75, 0.75, 0.1, 0.1, 0.6])
    np.testing.assert_allclose(per_sample, expected / expected.mean())
    assert resolve_sample_weights(w, y_index, 3, "none", owner="t") is None
    assert resolve_sample_weights(None, y_index, 3, "class", owner="t") is None


def test_weighted_svm_torch_matches_weighted_sklearn_objective():
    X, y = blobs(n_per_class=15)
    w = np.random.default_rng(2).uniform(0.1, 1.0, size=len(y))
    torch_svm = WeightedLinearSVMClassifier(C=1.0, device="cpu").fit(X, y, sample_weight=w)
    sk_svm = SklearnLinearSVC(C=1.0, weighting="class").fit(X, y, sample_weight=w)
    assert (torch_svm.predict(X) == sk_svm.predict(X)).mean() >= 0.98


@settings(max_examples=4)
@given(seed=st.integers(0, 1000), n_classes=st.integers(2, 6), C=st.sampled_from([0.1, 1.0, 10.0]))
def test_torch_svm_agrees_with_linearsvc_on_separable_data(seed, n_classes, C):
    """Tolerance, both at default settings: both fit the training set perfectly; they agree on
    >= 99% of fresh points from the training distribution and on >= 95% of points drawn 3x
    wider (near class boundaries, where the remaining optimisation error of either solver
    shows). SklearnLinearSVC's intercept_scaling=100 makes both minimise the same objective."""
    X, y = blobs(n_per_class=15, n_classes=n_classes, seed=seed)
    X_near, _ = blobs(n_per_class=50, n_classes=n_classes, spread=0.3, seed=seed, noise_seed=1)
    X_far, _ = blobs(n_per_class=50, n_classes=n_classes, spread=1.0, seed=seed, noise_seed=2)
    ours = LinearSVMClassifier(C=C, device="cpu").fit(X, y)
    ref = SklearnLinearSVC(C=C).fit(X, y)
    assert ours.score(X, y) == 1.0 and ref.score(X, y) == 1.0
    assert (ours.predict(X_near) == ref.predict(X_near)).mean() >= 0.99
    assert (ours.predict(X_far) == ref.predict(X_far)).mean() >= 0.95


def test_two_classes_have_one_score_column_as_sklearn():
    """Two classes: decision_function is (n,), the score of classes_[1] (sklearn's convention)."""
    X, y = blobs(n_classes=2)
    for est in (LinearSVMClassifier(device="cpu"), SklearnLinearSVC(), SoftmaxClassifier(**FAST["softmax"])):
        scores = est.fit(X, y).decision_function(X)
        assert scores.shape == (len(y),)
        assert np.array_equal(est.predict(X), y)
        assert np.array_equal(est.classes_[(scores > 0).astype(int)], y)
    svm = LinearSVMClassifier(device="cpu").fit(X, y)
    ref = SklearnLinearSVC().fit(X, y)
    assert svm.coef_.shape == ref.coef_.shape == (1, X.shape[1])
    np.testing.assert_allclose(svm.decision_function(X), ref.decision_function(X), rtol=0.05, atol=0.05)


@pytest.mark.cuda
def test_cuda_fit_matches_cpu_predictions():
    X, y = blobs()
    cpu = LinearSVMClassifier(device="cpu").fit(X, y)
    gpu = LinearSVMClassifier(device="cuda").fit(torch.from_numpy(X).cuda(), y)
    assert (cpu.predict(X) == gpu.predict(torch.from_numpy(X).cuda())).mean() >= 0.98


@pytest.mark.cuda
def test_cuda_softmax_and_grid_take_cuda_tensors():
    X, y = blobs()
    Xc = torch.from_numpy(X).cuda()
    est = SoftmaxClassifier(**dict(FAST["softmax"], device="cuda"))
    cpu = SoftmaxClassifier(**FAST["softmax"]).fit(X, y)
    gpu = clone(est).fit(Xc, torch.from_numpy(y).cuda())
    assert (cpu.predict(X) == gpu.predict(Xc)).mean() >= 0.98
    fits = fit_grid(est, [{"lr": 0.01}, {"lr": 0.02}], Xc, y, sample_weight=torch.ones(len(y)).cuda())
    np.testing.assert_allclose(fits[0].decision_function(Xc), gpu.decision_function(X), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("module", ["modgen.classify.grid", "modgen.classify._variant"])
def test_docstring_examples_of_new_modules(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- errors -------------------------------------------------------------------------------------


def test_bad_weighting_is_a_config_error():
    X, y = blobs()
    with pytest.raises(
        ConfigError,
        match=r"SoftmaxClassifier\.weighting: expected one of none, instance, class, got 'quality'",
    ):
        SoftmaxClassifier(weighting="quality", device="cpu").fit(X, y, sample_weight=np.ones(len(y)))


def test_bad_hyper_parameters_are_config_errors():
    X, y = blobs()
    with pytest.raises(ConfigError, match=r"LinearSVMClassifier\.C: expected a number > 0, got -1"):
        LinearSVMClassifier(C=-1, device="cpu").fit(X, y)
    with pytest.raises(ConfigError, match=r"SoftmaxClassifier\.steps: expected an integer >= 1, got 0"):
        SoftmaxClassifier(steps=0, device="cpu").fit(X, y)
    with pytest.raises(ConfigError, match=r"SoftmaxClassifier\.epochs: expected an integer >= 1, got 0"):
        SoftmaxClassifier(epochs=0, device="cpu").fit(X, y)
    with pytest.raises(
        ConfigError, match=r"SoftmaxClassifier\.schedule: expected one of cosine, constant, got 'step'"
    ):
        SoftmaxClassifier(schedule="step", device="cpu").fit(X, y)
    with pytest.raises(
        ConfigError, match=r"SoftmaxClassifier\.device: expected auto, cpu, cuda or cuda:N, got 'gpu'"
    ):
        SoftmaxClassifier(device="gpu").fit(X, y)


def test_bad_inputs_are_data_or_shape_errors():
    """Messages changed with the move to sklearn's checks: sklearn's text after the owner."""
    X, y = blobs()
    svm = LinearSVMClassifier(device="cpu")
    for bad in (X[:, 0], torch.from_numpy(X[:, 0])):
        with pytest.raises(
            ShapeError, match=r"fit: Expected 2D array \(n_samples, n_features\), got shape \(80,\)"
        ):
            svm.fit(bad, y)
    with pytest.raises(ShapeError, match=r"fit: y has 79 labels for 80 rows of X"):
        svm.fit(X, y[:-1])
    with pytest.raises(DataError, match=r"fit: got 1 class \(\[10\]\); need at least 2 classes"):
        svm.fit(X[:20], y[:20])
    with pytest.raises(DataError, match=r"Unknown label type"):
        svm.fit(X, y + 0.5)
    with pytest.raises(DataError, match=r"sample_weight must be >= 0, got a minimum of -1"):
        LinearSVMClassifier(weighting="instance", device="cpu").fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(DataError, match=r"sample_weight\.shape == \(3,\), expected \(80,\)"):
        LinearSVMClassifier(weighting="instance", device="cpu").fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(DataError, match=r"every sample weight is zero"):
        LinearSVMClassifier(weighting="instance", device="cpu").fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(DataError, match=r"only 1 class keeps a non-zero sample_weight"):
        LinearSVMClassifier(weighting="instance", device="cpu").fit(X, y, sample_weight=(y == 10) * 1.0)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match=r"LinearSVMClassifier\.fit: Input X contains NaN"):
        svm.fit(bad, y)
    with pytest.raises(DataError, match=r"LinearSVMClassifier\.fit: Input X contains NaN or infinity"):
        svm.fit(torch.from_numpy(bad), y)
    with pytest.raises(InputTypeError, match=r"Sparse data was passed for X"):
        svm.fit(scipy.sparse.csr_matrix(X), y)
    with pytest.raises(
        ClassifierNotFittedError,
        match=r"LinearSVMClassifier\.predict: this LinearSVMClassifier is not fitted yet",
    ):
        svm.predict(X)
    svm.fit(X, y)
    for bad in (X[:, :5], torch.from_numpy(X[:, :5])):
        with pytest.raises(
            ShapeError, match=r"X has 5 features, but LinearSVMClassifier is expecting 6 features"
        ):
            svm.predict(bad)


def test_errors_are_modgen_and_sklearn_types():
    assert issubclass(ClassifierNotFittedError, ModgenError) and issubclass(
        ClassifierNotFittedError, NotFittedError
    )
    assert issubclass(InputTypeError, DataError) and issubclass(InputTypeError, TypeError)
    with pytest.raises(NotFittedError):
        SoftmaxClassifier(device="cpu").decision_function(np.zeros((2, 3)))


# --- variants -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant_cls", "base_cls", "weighting"),
    [
        (WeightedSoftmaxClassifier, SoftmaxClassifier, "instance"),
        (WeightedLinearSVMClassifier, LinearSVMClassifier, "class"),
        (WeightedSklearnLinearSVC, SklearnLinearSVC, "class"),
    ],
)
def test_weighted_variants_are_the_class_plus_a_default(variant_cls, base_cls, weighting):
    est = variant_cls()
    assert isinstance(est, base_cls) and is_classifier(est) and type(est) is not base_cls
    assert est.get_params() == base_cls(weighting=weighting).get_params()
    assert list(inspect.signature(variant_cls).parameters) == list(inspect.signature(base_cls).parameters)
    assert repr(est) == f"{variant_cls.__name__}()"
    assert repr(variant_cls(weighting="none")) == f"{variant_cls.__name__}(weighting='none')"
    copy = clone(variant_cls(C=3.0) if "C" in est.get_params() else variant_cls(lr=0.5))
    assert type(copy) is variant_cls and copy.get_params() == clone(copy).get_params()
    assert pickle.loads(pickle.dumps(copy)).get_params() == copy.get_params()
    assert variant_cls.selection_grid == base_cls.selection_grid
    assert variant_cls.__module__ == base_cls.__module__


def test_registry_summary_lines_of_variants():
    regs = Registries()
    register_components(regs)
    summaries = {e.name: e.summary for e in regs.final_classifier.entries()}
    assert summaries["weighted-softmax"].startswith(
        "The softmax classifier with instance-level quality weights"
    )
    assert summaries["weighted-svm"].startswith("The torch linear SVM with the class weights of Eq. 14")
    assert summaries["softmax"].startswith("Two fully connected layers and a softmax")


def test_variant_rejects_unknown_defaults():
    with pytest.raises(
        ConfigError, match=r"variant 'X': defaults must name parameters of LinearSVMClassifier"
    ):
        variant(LinearSVMClassifier, "X", "doc", gamma=1.0)
    with pytest.raises(ConfigError, match=r"got none"):
        variant(LinearSVMClassifier, "X", "doc")


# --- sized by optimisation steps ------------------------------------------------------------------


def test_softmax_steps_do_not_shrink_with_the_data():
    params = dict(FAST["softmax"], steps=12, batch_size=16)
    for n_per_class in (3, 40):
        X, y = blobs(n_per_class=n_per_class)
        assert SoftmaxClassifier(**params).fit(X, y).n_iter_ == 12
    X, y = blobs(n_per_class=10)  # 40 samples: 3 batches of 16 per epoch
    assert SoftmaxClassifier(**dict(params, epochs=2)).fit(X, y).n_iter_ == 6


def test_softmax_full_batch_depends_on_the_seed_only_through_the_init():
    """A training set no larger than batch_size is used whole in every step."""
    X, y = blobs(n_per_class=5)
    a = SoftmaxClassifier(**dict(FAST["softmax"], batch_size=20), random_state=1).fit(X, y)
    b = SoftmaxClassifier(**dict(FAST["softmax"], batch_size=64), random_state=1).fit(X, y)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))


def test_instance_weights_equal_repeated_samples():
    """Eq. 13 with integer weights is training on repeated samples (full batch, float32)."""
    rng = np.random.default_rng(0)
    X, y = blobs(n_per_class=6)
    counts = rng.integers(0, 4, size=len(y))
    counts[::6] = 1  # every class keeps samples
    params = dict(FAST["weighted-softmax"], batch_size=256, steps=20)
    weighted = WeightedSoftmaxClassifier(**params).fit(X, y, sample_weight=counts)
    repeated = WeightedSoftmaxClassifier(**params).fit(X.repeat(counts, axis=0), y.repeat(counts))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-5, atol=1e-6)


# --- fit_grid -----------------------------------------------------------------------------------


def _loop(est, points, X, y, w=None):
    return [clone(est).set_params(**p).fit(X, y, sample_weight=w) for p in points]


@pytest.mark.parametrize(
    ("est", "points"),
    [
        (
            WeightedSoftmaxClassifier(**dict(FAST["softmax"], steps=30)),
            [{"lr": 1e-3}, {"lr": 1e-2}, {"lr": 3e-2}],
        ),
        (
            SoftmaxClassifier(**dict(FAST["softmax"], hidden=0)),
            [{"lr": 0.1, "weight_decay": 0.01}, {"lr": 0.01}],
        ),
        (WeightedLinearSVMClassifier(device="cpu"), [{"C": 10.0}, {"C": 0.01}, {"C": 1.0}]),
        (SoftmaxClassifier(**FAST["softmax"]), [{"lr": 0.01, "hidden": 8}, {"lr": 0.02}]),  # loop
        (SklearnLinearSVC(), [{"C": 0.1}, {"C": 1.0}]),  # loop
    ],
    ids=["stacked-softmax", "stacked-linear-softmax", "svm-C-path", "softmax-loop", "sklearn-loop"],
)
def test_fit_grid_equals_a_loop_of_fits(est, points):
    X, y = blobs(n_per_class=30, spread=1.5)  # 120 samples, several minibatches of 32
    w = np.random.default_rng(3).uniform(0.1, 1.0, size=len(y))
    grid = fit_grid(est, points, torch.from_numpy(X), y, sample_weight=w)
    loop = _loop(est, points, X, y, w)
    assert not hasattr(est, "classes_")
    assert [type(g) for g in grid] == [type(est)] * len(points)
    for g, ref, point in zip(grid, loop, points, strict=True):
        assert g.get_params() == ref.get_params() and all(g.get_params()[k] == v for k, v in point.items())
        if isinstance(est, LinearSVMClassifier):
            # The same stopping rule from another start: the same objective value, in float32
            # precision (the optimum is flat: decision values may differ by a few percent).
            assert svm_objective(g, X, y, w) == pytest.approx(svm_objective(ref, X, y, w), rel=1e-5)
            assert (g.predict(X) == ref.predict(X)).mean() >= 0.99
        else:
            np.testing.assert_allclose(g.decision_function(X), ref.decision_function(X), rtol=1e-4, atol=1e-5)


def svm_objective(svm, X, y, w):
    """The primal objective of the svm module's doc, in float64, with the weights it trained with."""
    y_index = np.searchsorted(svm.classes_, y)
    s = resolve_sample_weights(w, y_index, len(svm.classes_), svm.weighting, owner="test")
    s = np.ones(len(y)) if s is None else s
    W, b = svm.coef_.astype(np.float64), svm.intercept_.astype(np.float64)
    Y = -np.ones((len(y), len(svm.classes_)))
    Y[np.arange(len(y)), y_index] = 1.0
    hinge = np.maximum(0.0, 1.0 - Y * (X @ W.T + b))
    return 0.5 * (W * W).sum() + svm.C * (s[:, None] * hinge**2).sum()


def test_fit_grid_warm_start_saves_svm_iterations():
    X, y = blobs(n_per_class=30, spread=2.0)
    points = [{"C": c} for c in LinearSVMClassifier.selection_grid["C"]]
    est = LinearSVMClassifier(device="cpu")
    warm = sum(e.n_iter_ for e in fit_grid(est, points, X, y))
    cold = sum(e.n_iter_ for e in _loop(est, points, X, y))
    assert warm < cold


@pytest.mark.parametrize("second", [LinearSVMClassifier, WeightedLinearSVMClassifier])
def test_warm_starts_carry_svm_solutions_to_the_next_draw(second):
    """Another evaluation seed's draw (and the other weighting) starts from the stored solutions:
    the same objective as a cold fit, in fewer iterations."""
    points = [{"C": c} for c in LinearSVMClassifier.selection_grid["C"]]
    first_X, y = blobs(n_per_class=40, spread=2.0)
    X, _ = blobs(n_per_class=40, spread=2.0, noise_seed=1)
    w = np.random.default_rng(3).uniform(0.1, 1.0, size=len(y))
    warm = WarmStarts()
    fit_grid(LinearSVMClassifier(device="cpu"), points, first_X, y, warm_starts=warm)
    assert len(warm) == len(points)
    est = second(device="cpu")
    hot = fit_grid(est, points, X, y, sample_weight=w, warm_starts=warm)
    cold = fit_grid(est, points, X, y, sample_weight=w)
    for h, c in zip(hot, cold, strict=True):
        # the same stopping rule from another start: the same minimum within it (measured: up
        # to 1.4e-5 relative, either side)
        assert svm_objective(h, X, y, w) == pytest.approx(svm_objective(c, X, y, w), rel=1e-4)
        assert (h.predict(X) == c.predict(X)).mean() >= 0.99
    assert sum(h.n_iter_ for h in hot) < sum(c.n_iter_ for c in cold)
    # other classes or another width: not a valid start, so not used
    other = fit_grid(est, points[:1], X[:, :4], y, sample_weight=w, warm_starts=warm)
    assert other[0].n_iter_ == fit_grid(est, points[:1], X[:, :4], y, sample_weight=w)[0].n_iter_


def test_fit_grid_falls_back_for_any_estimator_and_checks_points():
    from sklearn.linear_model import LogisticRegression

    X, y = blobs()
    fits = fit_grid(LogisticRegression(), [{"C": 0.1}, {"C": 1.0}], X, y)
    assert [f.C for f in fits] == [0.1, 1.0] and all(f.score(X, y) > 0.9 for f in fits)
    assert fit_grid(LinearSVMClassifier(device="cpu"), [], X, y) == []
    with pytest.raises(ConfigError, match=r"fit_grid: points\[1\] must be a dict of parameter names"):
        fit_grid(LinearSVMClassifier(device="cpu"), [{}, 0.1], X, y)


def test_unweighted_classifiers_ignore_all_zero_weights():
    """The protocol passes clipped qualities to every classifier; all zero must not stop 'none'."""
    X, y = blobs()
    zero = np.zeros(len(y))
    for name in ("softmax", "svm", "sklearn-svm"):
        plain = FINAL_CLASSIFIERS[name](**FAST[name]).fit(X, y)
        ignored = FINAL_CLASSIFIERS[name](**FAST[name]).fit(X, y, sample_weight=zero)
        np.testing.assert_array_equal(plain.decision_function(X), ignored.decision_function(X))
    with pytest.raises(DataError, match=r"sample_weight\.shape == \(3,\), expected \(80,\)"):
        LinearSVMClassifier(device="cpu").fit(X, y, sample_weight=np.ones(3))  # still checked
