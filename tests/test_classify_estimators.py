"""Final classifiers: sklearn API, weighting rules (Eqs. 13-14), torch SVM against LinearSVC."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from modgen.classify import (
    FINAL_CLASSIFIERS,
    LinearSVMClassifier,
    SklearnLinearSVC,
    SoftmaxClassifier,
    WeightedLinearSVMClassifier,
    WeightedSoftmaxClassifier,
    class_mean_weights,
    register_components,
    resolve_sample_weights,
)
from modgen.errors import ConfigError, DataError, ShapeError
from modgen.plugins import Registries

# Small, fast settings for every classifier in these tests.
FAST = {
    "softmax": {"hidden": 16, "epochs": 5, "batch_size": 32, "lr": 0.01, "device": "cpu"},
    "weighted-softmax": {"hidden": 16, "epochs": 5, "batch_size": 32, "lr": 0.01, "device": "cpu"},
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
    params = dict(FAST["softmax"], epochs=3)
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


def test_two_classes_have_two_score_columns():
    X, y = blobs(n_classes=2)
    for est in (LinearSVMClassifier(device="cpu"), SklearnLinearSVC()):
        scores = est.fit(X, y).decision_function(X)
        assert scores.shape == (len(y), 2)
        assert np.array_equal(est.predict(X), y)


@pytest.mark.cuda
def test_cuda_fit_matches_cpu_predictions():
    X, y = blobs()
    cpu = LinearSVMClassifier(device="cpu").fit(X, y)
    gpu = LinearSVMClassifier(device="cuda").fit(torch.from_numpy(X).cuda(), y)
    assert (cpu.predict(X) == gpu.predict(torch.from_numpy(X).cuda())).mean() >= 0.98


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
    with pytest.raises(ConfigError, match=r"SoftmaxClassifier\.epochs: expected an integer >= 1, got 0"):
        SoftmaxClassifier(epochs=0, device="cpu").fit(X, y)
    with pytest.raises(
        ConfigError, match=r"SoftmaxClassifier\.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"
    ):
        SoftmaxClassifier(device="gpu").fit(X, y)


def test_bad_inputs_are_data_or_shape_errors():
    X, y = blobs()
    svm = LinearSVMClassifier(device="cpu")
    with pytest.raises(ShapeError, match=r"X must be 2-D \(n, D\), got shape \(80,\)"):
        svm.fit(X[:, 0], y)
    with pytest.raises(
        ShapeError, match=r"y must be 1-D with one label per row of X \(80\), got shape \(79,\)"
    ):
        svm.fit(X, y[:-1])
    with pytest.raises(DataError, match=r"need at least 2 classes, got \[10\]"):
        svm.fit(X[:20], y[:20])
    with pytest.raises(DataError, match=r"sample_weight must be >= 0, got a minimum of -1"):
        LinearSVMClassifier(weighting="instance", device="cpu").fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(DataError, match=r"sample_weight has shape \(3,\), expected \(80,\)"):
        LinearSVMClassifier(weighting="instance", device="cpu").fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(DataError, match=r"every sample weight is zero"):
        LinearSVMClassifier(weighting="instance", device="cpu").fit(X, y, sample_weight=np.zeros(len(y)))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match=r"X contains NaN or infinite values"):
        svm.fit(bad, y)
    with pytest.raises(DataError, match=r"LinearSVMClassifier is not fitted yet"):
        svm.predict(X)
    svm.fit(X, y)
    with pytest.raises(ShapeError, match=r"X has 5 features, but the classifier was fitted on 6"):
        svm.predict(X[:, :5])
