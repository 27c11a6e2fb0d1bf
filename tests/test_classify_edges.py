"""The final classifiers at their edges: every hyper-parameter check, full minibatches whose
epochs run into each other, and the cosine schedule's first step at the full learning rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modgen.classify import LinearSVMClassifier, SoftmaxClassifier
from modgen.classify import softmax as softmax_module
from modgen.classify.svm import SklearnLinearSVC
from modgen.errors import ConfigError


def _blobs(n_per_class=20, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.eye(3, d) * 4
    X = np.concatenate([c + rng.standard_normal((n_per_class, d)) for c in centers]).astype(np.float32)
    return X, np.repeat([0, 1, 2], n_per_class)


@pytest.mark.parametrize(
    ("cls", "param", "value", "message"),
    [
        (SoftmaxClassifier, "hidden", -1, r"hidden: expected an integer >= 0, got -1"),
        (SoftmaxClassifier, "hidden", 2.0, r"hidden: expected an integer >= 0, got 2.0"),
        (SoftmaxClassifier, "steps", True, r"steps: expected an integer >= 1, got True"),
        (SoftmaxClassifier, "batch_size", 0, r"batch_size: expected an integer >= 1, got 0"),
        (SoftmaxClassifier, "lr", -0.1, r"lr: expected a number >= 0, got -0.1"),
        (SoftmaxClassifier, "lr", float("nan"), r"lr: expected a number >= 0, got nan"),
        (SoftmaxClassifier, "weight_decay", "0", r"weight_decay: expected a number >= 0, got '0'"),
        (SoftmaxClassifier, "random_state", -1, r"random_state: expected an integer >= 0, got -1"),
        (LinearSVMClassifier, "C", 0, r"C: expected a number > 0, got 0"),
        (LinearSVMClassifier, "max_iter", 0, r"max_iter: expected an integer > 0, got 0"),
        (LinearSVMClassifier, "max_iter", 10.0, r"max_iter: expected an integer > 0, got 10.0"),
        (LinearSVMClassifier, "tol", -1e-3, r"tol: expected a number > 0, got -0.001"),
        (LinearSVMClassifier, "C", True, r"C: expected a number > 0, got True"),
        (SklearnLinearSVC, "C", -1.0, r"C: expected a number > 0, got -1.0"),
        (SklearnLinearSVC, "max_iter", 0, r"max_iter: expected an integer > 0, got 0"),
        (SklearnLinearSVC, "tol", 0.0, r"tol: expected a number > 0, got 0.0"),
        (SklearnLinearSVC, "intercept_scaling", 0, r"intercept_scaling: expected a number > 0, got 0"),
    ],
)
def test_every_hyper_parameter_is_checked(cls, param, value, message):
    X, y = _blobs()
    with pytest.raises(ConfigError, match=rf"^{cls.__name__}\.{message}$"):
        cls(**{param: value}, **({} if cls is SklearnLinearSVC else {"device": "cpu"})).fit(X, y)


def test_minibatches_are_full_and_epochs_run_into_each_other(monkeypatch):
    """60 samples of 3 features, batches of 16: every step sees 16 rows (more samples than
    features, so the batch size is compared with the number of samples)."""
    rows = []
    forward = softmax_module._forward

    def recording(params, X):
        rows.append(int(X.shape[0]))
        return forward(params, X)

    monkeypatch.setattr(softmax_module, "_forward", recording)
    X, y = _blobs()
    SoftmaxClassifier(hidden=4, steps=7, batch_size=16, device="cpu").fit(X, y)
    fit_rows = rows[:7]
    assert fit_rows == [16] * 7
    # at most batch_size samples: the whole set in every step
    rows.clear()
    SoftmaxClassifier(hidden=4, steps=3, batch_size=60, device="cpu").fit(X, y)
    assert rows[:3] == [60] * 3


def test_batches_are_windows_over_a_stream_of_permutations():
    g = torch.Generator().manual_seed(0)
    batches = [b.tolist() for b in softmax_module._batches(10, 4, 5, g)]
    assert [len(b) for b in batches] == [4] * 5
    flat = [i for b in batches for i in b]
    assert sorted(flat[:8]) == sorted(set(flat[:8]))  # no repeat within the first epoch's windows
    assert sorted(np.bincount(flat, minlength=10).tolist()) == [2] * 10  # 2 epochs, each sample twice
    assert list(softmax_module._batches(4, 4, 3, g)) == [None, None, None]


def test_the_cosine_schedule_starts_at_the_full_learning_rate():
    """One step: the cosine schedule's factor is cos(0) = 1, so it is the constant schedule's step."""
    X, y = _blobs()

    def weights(schedule, lr=0.1):
        clf = SoftmaxClassifier(hidden=4, steps=1, lr=lr, schedule=schedule, device="cpu").fit(X, y)
        return [p.detach().clone() for p in clf.model_.parameters()]

    cosine, constant = weights("cosine"), weights("constant")
    for a, b in zip(cosine, constant, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    untrained = weights("constant", lr=0.0)
    assert any(not torch.equal(a, b) for a, b in zip(cosine, untrained, strict=True))


def test_the_svm_objective_summed_in_chunks_is_the_whole_sum(monkeypatch):
    """Large problems are summed over chunks of rows; chunks of 2 rows give the one-chunk fit (to
    the summation order, which L-BFGS amplifies a little)."""
    from modgen.classify import svm as svm_module

    X, y = _blobs(n_per_class=10, d=4)
    whole = LinearSVMClassifier(C=1.0, max_iter=50, device="cpu").fit(X, y)
    monkeypatch.setattr(svm_module, "_CHUNK_ELEMENTS", 6)  # 3 classes: 2 rows per chunk
    chunked = LinearSVMClassifier(C=1.0, max_iter=50, device="cpu").fit(X, y)
    torch.testing.assert_close(
        torch.as_tensor(chunked.coef_), torch.as_tensor(whole.coef_), rtol=1e-3, atol=1e-3
    )
    torch.testing.assert_close(
        torch.as_tensor(chunked.intercept_), torch.as_tensor(whole.intercept_), rtol=1e-3, atol=1e-3
    )
    assert (chunked.predict(X) == y).mean() > 0.9


@pytest.mark.parametrize("k", [1, 3], ids=["two-classes", "three-classes"])
def test_the_svm_tolerance_scale_is_the_largest_gradient_entry_at_zero(k):
    """At W = 0, b = 0 every hinge is 1: the gradient of (1/n) sum_i w_i ||max(0, 1 - Y_i f_i)||^2
    is -2/n sum_i w_i Y_i (x_i, 1). Imbalanced classes and small features make the intercept's
    entry the largest, and its entries differ from class to class."""
    from modgen.classify.svm import _Problem

    counts = [5, 10, 30] if k == 3 else [5, 30]
    y = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    X = 0.01 * torch.randn(len(y), 4, generator=torch.Generator().manual_seed(0))
    w = torch.linspace(0.5, 1.5, len(y))
    Y = 2.0 * torch.nn.functional.one_hot(y).float() - 1.0 if k == 3 else (2.0 * y - 1.0).float()[:, None]
    g = (-2.0 / len(y)) * w[:, None] * Y
    g_W, g_b = X.T @ g, g.sum(0)
    assert float(g_b.abs().max()) > 10 * float(g_W.abs().max())
    assert k == 1 or float(g_b.abs().min()) < 0.9 * float(g_b.abs().max())
    assert _Problem(X, y, w, k).grad0_per_C() == pytest.approx(float(g_b.abs().max()), rel=1e-6)
    big = 1000.0 * X  # now a weight's entry is the largest
    expected = float((big.T @ g).abs().max())
    assert expected > float(g_b.abs().max())
    assert _Problem(big, y, w, k).grad0_per_C() == pytest.approx(expected, rel=1e-5)


def test_a_variants_init_reads_as_its_own():
    """Tracebacks, the API pages and pickling name the variant's own ``__init__`` and module."""
    import pickle

    from modgen.classify import WeightedLinearSVMClassifier, WeightedSoftmaxClassifier, variant

    for cls in (WeightedLinearSVMClassifier, WeightedSoftmaxClassifier):
        assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"
        assert cls.__init__.__module__ == cls.__module__
    local = variant(LinearSVMClassifier, "LocalSVM", "doc", C=2.0)
    assert local.__module__ == __name__ and local.__init__.__module__ == __name__
    assert local.__qualname__ == "LocalSVM" and local.__doc__ == "doc"
    elsewhere = variant(LinearSVMClassifier, "ElsewhereSVM", "doc", module="some.module", C=2.0)
    assert elsewhere.__module__ == "some.module" == elsewhere.__init__.__module__
    again = pickle.loads(pickle.dumps(WeightedLinearSVMClassifier(C=3.0)))
    assert type(again) is WeightedLinearSVMClassifier and again.C == 3.0
