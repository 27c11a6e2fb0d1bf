"""Metrics against scikit-learn references and hand-computed retrieval cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import balanced_accuracy_score

from modgen.errors import ConfigError, DataError, ShapeError
from modgen.evaluate import (
    harmonic_mean,
    per_class_accuracies,
    per_class_top1,
    retrieval_average_precision,
    retrieval_precision,
)

labels = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7)), min_size=1, max_size=60)


@settings(max_examples=40)
@given(pairs=labels)
def test_per_class_top1_equals_balanced_accuracy(pairs):
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about predicted labels absent from y_true
        expected = balanced_accuracy_score(y_true, y_pred)
    assert per_class_top1(y_true, y_pred) == pytest.approx(expected, abs=1e-12)


def test_per_class_top1_differs_from_overall_accuracy():
    # class 0: 3/3 right, class 1: 0/1 right -> per-class 0.5, overall 0.75
    y_true, y_pred = [0, 0, 0, 1], [0, 0, 0, 0]
    assert per_class_top1(y_true, y_pred) == 0.5
    classes, accs = per_class_accuracies(y_true, y_pred)
    assert classes.tolist() == [0, 1] and accs.tolist() == [1.0, 0.0]


@settings(max_examples=40)
@given(u=st.floats(0, 1), s=st.floats(0, 1))
def test_harmonic_mean_reference(u, s):
    h = harmonic_mean(u, s)
    if u + s == 0:
        assert h == 0.0
    else:
        assert h == pytest.approx(2 * u * s / (u + s))
        assert min(u, s) - 1e-12 <= h <= max(u, s) + 1e-12
    assert harmonic_mean(s, u) == pytest.approx(h)


def test_harmonic_mean_hand_values():
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(0.0, 0.9) == 0.0
    assert harmonic_mean(0.5, 1.0) == pytest.approx(2 / 3)


def test_retrieval_hand_computed_cosine():
    # database: 6 samples of classes 0, 0, 1, 1, 2, 2 on the unit circle-ish
    db = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0], [-0.6, -0.8]])
    db_labels = np.array([0, 0, 1, 1, 2, 2])
    queries = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, -0.1]])  # lengths differ: cosine ignores them
    q_labels = np.array([0, 1, 2])
    # query 0 ranks: (1,0) 1.0, (0.8,0.6) 0.8, (0.6,0.8) 0.6 -> top-2 {0,0}: 1.0; top-3: 2/3
    # query 1 ranks: (0,1) 1.0, (0.6,0.8) 0.8, (0.8,0.6) 0.6 -> top-2 {1,1}: 1.0; top-3: 2/3
    # query 2 ranks: (-1,0) .995, (-0.6,-0.8) .677, (0,1) -.0995 -> top-2: 1.0; top-3: 2/3
    np.testing.assert_allclose(retrieval_precision(queries, q_labels, db, db_labels, k=2), [1, 1, 1])
    np.testing.assert_allclose(retrieval_precision(queries, q_labels, db, db_labels, k=3), [2 / 3] * 3)
    assert retrieval_average_precision(queries, q_labels, db, db_labels, k=1) == 1.0


def test_retrieval_hand_computed_euclidean_differs_from_cosine():
    db = np.array([[1.0, 0.0], [10.0, 0.0], [0.0, 1.0]])
    db_labels = np.array([0, 0, 1])
    q = np.array([[1.0, 0.1]])
    # cosine: both class-0 samples point the same way -> top-2 = {0, 0}: precision 1
    assert retrieval_average_precision(q, [0], db, db_labels, k=2, metric="cosine") == 1.0
    # euclidean: nearest are (1,0) then (0,1) -> precision 1/2
    assert retrieval_average_precision(q, [0], db, db_labels, k=2, metric="euclidean") == 0.5


def test_retrieval_ties_keep_database_order():
    db = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert retrieval_precision(np.array([[1.0, 0.0]]), [7], db, [3, 7, 7], k=1).tolist() == [0.0]
    assert retrieval_precision(np.array([[1.0, 0.0]]), [7], db, [7, 3, 3], k=1).tolist() == [1.0]


def test_metric_errors():
    with pytest.raises(ShapeError, match=r"y_true has 2 labels but y_pred has 3"):
        per_class_top1([0, 1], [0, 1, 1])
    with pytest.raises(DataError, match=r"y_true is empty"):
        per_class_top1([], [])
    with pytest.raises(DataError, match=r"harmonic_mean: u must be a finite number >= 0, got -0.1"):
        harmonic_mean(-0.1, 0.5)
    db = np.eye(3)
    with pytest.raises(
        ConfigError, match=r"retrieval k: expected an integer in \[1, 3\] \(the database size\), got 4"
    ):
        retrieval_precision(db[:1], [0], db, [0, 1, 2], k=4)
    with pytest.raises(ConfigError, match=r"retrieval metric: expected one of cosine, euclidean, got 'l1'"):
        retrieval_precision(db[:1], [0], db, [0, 1, 2], k=1, metric="l1")
    with pytest.raises(ShapeError, match=r"must share D"):
        retrieval_precision(np.ones((1, 2)), [0], db, [0, 1, 2], k=1)
