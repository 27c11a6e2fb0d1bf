"""ZSLData and Episode: validation on construction, scaling, the validation view, summary."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from data_fixtures import toy_data
from hypothesis import given, settings
from hypothesis import strategies as st

from modgen.data.zsldata import Episode, ZSLData
from modgen.errors import ConfigError, DataError, ShapeError


def test_fields_are_converted_to_the_documented_dtypes() -> None:
    data = toy_data(features=np.arange(40).reshape(20, 2), semantics=np.ones((6, 2), dtype=np.int32))
    assert data.features.dtype == np.float32 and data.semantics.dtype == np.float32
    assert data.labels.dtype == np.int64 and data.test_seen.dtype == np.int64
    assert isinstance(data.class_names, tuple) and data.class_names[0] == "c0"
    assert (data.feature_dim, data.attr_dim, data.num_classes, data.num_samples) == (2, 2, 6, 20)
    assert data.train.size == 0 and not data.has_validation


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"features": np.array([[np.nan, 1.0]] * 20)}, r"field 'features' holds NaN or infinite values"),
        ({"semantics": np.full((6, 2), np.inf)}, r"field 'semantics' holds NaN or infinite values"),
        (
            {"features": np.zeros(20)},
            r"field 'features' must be a 2-D float array, got dtype float32 shape \(20,\)",
        ),
        ({"labels": np.zeros(20)}, r"field 'labels' must be 20 integers .* got dtype float64"),
        ({"labels": np.zeros(19, dtype=int)}, r"field 'labels' must be 20 integers"),
        ({"labels": np.full(20, 7)}, r"field 'labels' holds class id 7, outside \[0, 6\)"),
        ({"class_names": ["a", "b"]}, r"field 'class_names' must hold 6 names"),
        ({"trainval": [0, 0, 1]}, r"field 'trainval' holds duplicate entries"),
        ({"test_unseen": [18, 19, 25]}, r"field 'test_unseen' holds sample index 25, outside \[0, 20\)"),
        ({"test_seen": [0]}, r"fields 'trainval' and 'test_seen' share 1 samples \(e.g. sample 0\)"),
        ({"unseen_classes": [3, 4, 5]}, r"seen_classes and unseen_classes overlap: class 3 \('c3'\)"),
        ({"seen_classes": [1, 0, 2, 3]}, r"field 'seen_classes' must be sorted ascending"),
        (
            {"trainval": [0, 1, 2, 16], "test_unseen": [17, 18, 19]},
            r"field 'trainval' holds samples of class 4 \('c4'\), which is not in seen_classes",
        ),
        (
            {"test_unseen": [16]},
            r"unseen class 5 \('c5'\) is empty: it has no samples in field 'test_unseen'",
        ),
        (
            {"seen_classes": [0, 1, 2, 3, 4], "unseen_classes": [5], "test_unseen": [18, 19]},
            r"seen class 4 \('c4'\) is empty",
        ),
        (
            {"val_classes": [1], "val": [4, 16]},
            r"field 'val' holds samples of class 4 \('c4'\), which is not in val",
        ),
        (
            {"val_classes": [4], "val": [16]},
            r"val_classes must be seen classes, but class 4 is not in seen_classes",
        ),
        (
            {"val_classes": [1], "val": [4], "train": [0, 5]},
            r"field 'train' holds samples of validation class 1 \('c1'\)",
        ),
        ({"val_classes": (1,), "val": []}, r"validation class 1 \('c1'\) is empty"),
        ({"preprocessing": {"x": object()}}, r"field 'preprocessing' must be JSON-able"),
        ({"name": 3}, r"field 'name' must be a string"),
    ],
)
def test_bad_values_raise_data_error_naming_the_field(overrides: dict, message: str) -> None:
    counts = [4, 4, 4, 4]
    with pytest.raises(DataError, match=message):
        toy_data(counts, n_unseen=2, **{"features": np.zeros((20, 3))} | overrides)


@settings(max_examples=15, deadline=None)
@given(
    counts=st.lists(st.integers(1, 12), min_size=3, max_size=8),
    n_val=st.integers(1, 2),
    seed=st.integers(0, 1000),
)
def test_validation_view_partitions_train_and_hides_test_classes(
    counts: list[int], n_val: int, seed: int
) -> None:
    val_classes = tuple(range(len(counts) - n_val, len(counts)))
    data = toy_data(counts, val_classes=val_classes, seed=seed)
    view = data.validation_view()
    assert view.seen_classes.tolist() == sorted(set(data.labels[data.train].tolist()))
    assert view.unseen_classes.tolist() == list(val_classes)
    assert np.array_equal(np.sort(np.concatenate([view.trainval, view.test_seen])), np.sort(data.train))
    assert np.array_equal(view.test_unseen, np.sort(data.val))
    assert not np.isin(
        data.labels[np.concatenate([view.trainval, view.test_seen, view.test_unseen])], data.unseen_classes
    ).any()
    for c in view.seen_classes:
        n = int((data.labels[data.train] == c).sum())
        fit = int((data.labels[view.trainval] == c).sum())
        assert fit == (n if n == 1 else min(max(round(n * 0.8), 1), n - 1))
    assert view.preprocessing["view"] == "validation" and not view.has_validation
    # fixed: the same data gives the same view
    assert np.array_equal(data.validation_view().trainval, view.trainval)


def test_validation_view_without_val_split_is_a_clear_error() -> None:
    with pytest.raises(DataError, match=r"toy: no validation split .* Use the test protocol"):
        toy_data().validation_view()


def test_minmax_is_fitted_on_trainval_only() -> None:
    data = toy_data([5, 5, 5], seed=3)
    scaled = data.scaled("minmax")
    fit = scaled.features[data.trainval]
    assert np.allclose(fit.min(axis=0), 0) and np.allclose(fit.max(axis=0), 1)
    assert scaled.preprocessing["scaling"] == "minmax"
    assert scaled.preprocessing["fit_on"] == f"trainval ({data.trainval.size} samples)"
    # changing held-out samples changes nothing about how trainval is scaled
    moved = data.features.copy()
    held_out = np.concatenate([data.test_seen, data.test_unseen])
    moved[held_out] += 100.0
    import attrs

    rescaled = attrs.evolve(data, features=moved).scaled("minmax")
    assert np.allclose(rescaled.features[data.trainval], scaled.features[data.trainval])
    assert data.preprocessing == {}  # the original is untouched


def test_l2_and_none_scaling_and_unknown_method() -> None:
    data = toy_data()
    unit = data.scaled("l2")
    assert np.allclose(np.linalg.norm(unit.features, axis=1), 1, atol=1e-5)
    assert unit.scaled("minmax").preprocessing["scaling"] == "l2+minmax"
    assert data.scaled("none").features is data.features
    with pytest.raises(
        ConfigError, match=r"scaling: unknown method 'zscore'; expected one of minmax, l2, none"
    ):
        data.scaled("zscore")


def test_constant_dimension_stays_finite_under_minmax() -> None:
    data = toy_data(features=np.ones((20, 2)))
    assert np.isfinite(data.scaled("minmax").features).all()


def test_summary_is_json_able_and_counts_splits() -> None:
    data = toy_data([4, 4, 4], val_classes=(2,))
    summary = json.loads(json.dumps(data.summary()))
    assert summary["splits"]["trainval"] == {"samples": data.trainval.size, "classes": 3}
    assert summary["splits"]["val"]["classes"] == 1
    assert summary["unseen_classes"] == ["c3", "c4"] and summary["val_classes"] == ["c2"]


def _episode(
    t: int = 2, n: int = 3, ks: int = 2, kq: int = 1, d: int = 4, a: int = 5, **over: torch.Tensor
) -> Episode:
    parts = {}
    for name, k in (("support", ks), ("query", kq)):
        parts |= {
            f"{name}_x": torch.zeros(t, n * k, d),
            f"{name}_a": torch.zeros(t, n * k, a),
            f"{name}_y": torch.zeros(t, n * k, dtype=torch.long),
            f"{name}_classes": torch.zeros(t, n, dtype=torch.long),
            f"{name}_attrs": torch.zeros(t, n, a),
        }
    return Episode(**(parts | over))


def test_episode_shapes_properties_and_to() -> None:
    ep = _episode()
    assert (ep.tasks, ep.n_way, ep.k_support, ep.k_query) == (2, 3, 2, 1)
    moved = ep.to("cpu")
    assert moved.device.type == "cpu" and torch.equal(moved.query_attrs, ep.query_attrs)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"support_x": torch.zeros(2, 6)}, r"Episode.support: expected x \(T, n, D\)"),
        ({"query_y": torch.zeros(2, 4, dtype=torch.long)}, r"Episode.query: inconsistent shapes"),
        ({"support_x": torch.zeros(2, 5, 4)}, r"Episode.support: inconsistent shapes"),
        (
            {"query_x": torch.zeros(2, 3, 7)},
            r"support_x \(2, 6, 4\) and query_x \(2, 3, 7\) must have the same",
        ),
    ],
)
def test_episode_shape_errors(over: dict, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        _episode(**over)


def test_zsldata_is_frozen() -> None:
    data = toy_data()
    with pytest.raises(AttributeError):
        data.name = "other"  # type: ignore[misc]
    assert isinstance(data, ZSLData)
