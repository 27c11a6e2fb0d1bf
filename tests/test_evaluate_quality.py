"""The classifier-free measures of synthetic features, on data built so that each choice shows.

Cosine and Euclidean nearest-class-mean disagree on the data here, the nearest mean is not the
farthest, and the mean gap is a ratio (scaling every feature leaves it unchanged), so swapping
the metric, the arg-max or the normaliser changes a number these tests pin.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modgen.evaluate.quality import QUALITY_MEASURES, feature_quality, mean_gap, ncm_accuracy
from modgen.evaluate.scoring import TestSplit as Split
from modgen.evaluate.sets import TrainingSet

# Two class means, of classes 7 and 3 (ids out of order: the rows map back to ``classes``). The
# sample (2, 0) is nearest to the mean (1, 0) by both measures; (5, 5) points exactly along
# (10, 10) (cosine 1) but is nearer to (1, 0) in distance (sqrt 41 < sqrt 50).
MEANS = np.array([[1.0, 0.0], [10.0, 10.0]])
CLASSES = np.array([7, 3])
X = np.array([[2.0, 0.0], [5.0, 5.0]])
Y = np.array([7, 3])


def test_cosine_and_euclidean_nearest_mean_disagree_where_they_should():
    assert ncm_accuracy(MEANS, CLASSES, X, Y, metric="cosine") == 100.0
    # Euclidean: both samples go to class 7, so class 3 gets nothing right
    assert ncm_accuracy(MEANS, CLASSES, X, Y, metric="euclidean") == 50.0


def test_nearest_mean_is_the_most_similar_not_the_least():
    assert ncm_accuracy(MEANS, CLASSES, X[[1, 0]], Y[[1, 0]], metric="cosine") == 100.0
    # Euclidean: (9, 9) is nearest (10, 10), (1, 1) nearest (1, 0)
    near = np.array([[9.0, 9.0], [1.0, 1.0]])
    assert ncm_accuracy(MEANS, CLASSES, near, np.array([3, 7]), metric="euclidean") == 100.0
    assert ncm_accuracy(MEANS, CLASSES, near, np.array([7, 3]), metric="euclidean") == 0.0


def test_nearest_mean_accuracy_is_per_class():
    # class 7: 3 samples, all right; class 3: 1 sample, nearer the mean of 7 -> per class 50, overall 75
    x = np.array([[2.0, 0.0], [3.0, 0.1], [4.0, 0.0], [1.5, -0.5]])
    y = np.array([7, 7, 7, 3])
    assert ncm_accuracy(np.array([[1.0, 0.0], [1.0, 1.0]]), CLASSES, x, y, metric="euclidean") == 50.0


def test_nearest_mean_takes_tensors_and_ignores_lengths_for_cosine():
    means = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    x = torch.tensor([[100.0, 1.0], [0.1, 0.2]])  # a long and a short vector: only directions count
    assert ncm_accuracy(means, np.array([0, 1]), x, np.array([0, 1]), metric="cosine") == 100.0
    # (0.1, 0.2) is 0.92 from (1, 0) and 4.8 from (0, 5)
    assert ncm_accuracy(means, np.array([0, 1]), x, np.array([0, 1]), metric="euclidean") == 50.0


def test_mean_gap_exact_small_example():
    # real means of 3 classes: pairwise distances 5, 10, 5 -> the mean distance between them is 20/3;
    # synthetic means off by 1, 0 and 2 -> their mean distance to the real ones is 1.
    real = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    synthetic = torch.tensor([[0.0, 1.0], [3.0, 4.0], [6.0, 10.0]])
    assert mean_gap(synthetic, real) == pytest.approx(1.0 / (20.0 / 3.0), rel=1e-12)
    assert mean_gap(real, real) == 0.0
    # as far off as the other class is: 1
    assert mean_gap(torch.tensor([[3.0, 4.0], [0.0, 0.0]]), real[:2]) == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [0.01, 3.0, 250.0])
def test_mean_gap_is_a_ratio_unchanged_by_the_feature_scale(scale):
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    synthetic = real + 0.3 * torch.randn(5, 4, generator=gen, dtype=torch.float64)
    gap = mean_gap(synthetic, real)
    assert 0.0 < gap < 1.0
    assert mean_gap(scale * synthetic, scale * real) == pytest.approx(gap, rel=1e-10)


def test_mean_gap_of_one_class_is_not_a_number():
    assert np.isnan(mean_gap(torch.ones(1, 3), torch.zeros(1, 3)))


def test_feature_quality_judges_each_split_against_its_own_real_samples():
    """Unseen classes 7 and 3 (the disagreeing data above), seen classes 0 and 1 (easy)."""
    unseen = TrainingSet(torch.tensor(MEANS, dtype=torch.float32), torch.tensor([7, 3]), None)
    seen_X = torch.tensor([[1.0, 0.0], [1.0, 0.2], [0.0, 1.0], [0.2, 1.0]])
    seen = TrainingSet(seen_X, torch.tensor([0, 0, 1, 1]), None)
    test = Split(
        unseen_X=torch.tensor(X, dtype=torch.float32),
        unseen_y=Y,
        seen_X=torch.tensor([[2.0, 0.1], [0.0, 2.0]]),
        seen_y=np.array([0, 1]),
    )
    q = feature_quality(unseen, seen, CLASSES, np.array([0, 1]), test, retrieval_k=(1,))
    assert set(q) == {*QUALITY_MEASURES, "retrieval@1"}
    assert q["ncm_cosine_unseen"] == 100.0 and q["ncm_euclidean_unseen"] == 50.0
    assert q["ncm_cosine_seen"] == 100.0 and q["ncm_euclidean_seen"] == 100.0
    # unseen: the real means are the test samples themselves; synthetic (1,0) vs real (2,0): 1, and
    # (10,10) vs (5,5): sqrt 50; the real means are sqrt 34 apart
    assert q["mean_gap_unseen"] == pytest.approx((1.0 + np.sqrt(50.0)) / 2 / np.sqrt(34.0))
    # seen: synthetic means (1, 0.1) and (0.1, 1) vs real (2, 0.1) and (0, 2); real ones sqrt 7.61 apart
    assert q["mean_gap_seen"] == pytest.approx((1.0 + np.sqrt(1.01)) / 2 / np.sqrt(7.61), rel=1e-6)
    # each unseen mean retrieves the real sample of its own class first (cosine)
    assert q["retrieval@1"] == 100.0
