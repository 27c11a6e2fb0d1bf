"""The closed-form baselines at their edges: class indices out of range either way, and ridge
predictions that add back the semantics' mean."""

from __future__ import annotations

import numpy as np
import pytest

from modgen.baselines import eszsl_fit, ridge_predict
from modgen.errors import DataError


@pytest.mark.parametrize("class_index", [[-1, 1], [0, 2], [0.0, 1.0], [0]])
def test_eszsl_refuses_class_indices_it_cannot_use(class_index):
    with pytest.raises(DataError, match=r"eszsl_fit: class_index must be 2 integers in \[0, 2\)"):
        eszsl_fit(np.eye(2), class_index, np.eye(2), 1.0, 1.0)


def test_ridge_prediction_adds_back_the_mean_semantics():
    # W = I, feature mean (1, 0), semantic mean (0, 2): x = (1, 0) predicts (0, 0) + (0, 2)
    fit = (np.eye(2), np.array([1.0, 0.0]), np.array([0.0, 2.0]))
    sims = ridge_predict([[1.0, 0.0], [4.0, -2.0]], fit, [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(sims[0], [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(sims[1], [1.0, 0.0], atol=1e-12)  # (3, -2) + (0, 2) = (3, 0): along (1, 0)
