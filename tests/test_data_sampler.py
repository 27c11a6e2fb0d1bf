"""The episodic task sampler: hypothesis properties, determinism and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fixtures import toy_data
from hypothesis import given, settings
from hypothesis import strategies as st

from modgen.data.sampler import EpisodicTaskSampler
from modgen.data.zsldata import Episode, ZSLData
from modgen.errors import ConfigError, DataError


@st.composite
def sampler_setups(draw: st.DrawFn) -> tuple[ZSLData, dict[str, int], int]:
    n_way = draw(st.integers(1, 4))
    classes = draw(st.integers(2 * n_way, 2 * n_way + 4))
    k_support = draw(st.integers(1, 4))
    k_query = draw(st.integers(1, 4))
    # test_seen takes every 4th sample; enough samples per class for max(Ks, Kq) trainval shots
    counts = draw(st.lists(st.integers(2 * max(k_support, k_query), 12), min_size=classes, max_size=classes))
    data = toy_data(counts, feature_dim=3, attr_dim=draw(st.integers(1, 4)), seed=draw(st.integers(0, 99)))
    params = {"n_way": n_way, "k_support": k_support, "k_query": k_query, "tasks": draw(st.integers(1, 5))}
    return data, params, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None)
@given(setup=sampler_setups())
def test_episode_sizes_disjoint_classes_and_valid_labels(setup: tuple[ZSLData, dict[str, int], int]) -> None:
    data, params, seed = setup
    sampler = EpisodicTaskSampler(data, **params)
    ep = sampler.sample(torch.Generator().manual_seed(seed))
    t, n, ks, kq = params["tasks"], params["n_way"], params["k_support"], params["k_query"]
    a, d = data.attr_dim, data.feature_dim
    assert isinstance(ep, Episode)
    assert tuple(ep.support_x.shape) == (t, n * ks, d) and tuple(ep.query_x.shape) == (t, n * kq, d)
    assert tuple(ep.support_a.shape) == (t, n * ks, a) and tuple(ep.query_attrs.shape) == (t, n, a)
    assert ep.support_y.dtype == torch.long and ep.query_classes.dtype == torch.long
    trainval = set(data.trainval.tolist())
    for i in range(t):
        sup, qry = ep.support_classes[i].tolist(), ep.query_classes[i].tolist()
        assert len(set(sup)) == n and len(set(qry)) == n and not set(sup) & set(qry)
        for part, classes, k in (("support", sup, ks), ("query", qry, kq)):
            x, y = getattr(ep, f"{part}_x")[i], getattr(ep, f"{part}_y")[i]
            assert y.tolist() == [c for c in classes for _ in range(k)]
            assert all(0 <= c < data.seen_classes.size for c in classes)
            rows = x[:, 0].long().numpy()  # features[:, 0] is the sample index
            assert set(rows.tolist()) <= trainval and np.unique(rows).size == rows.size
            assert np.array_equal(data.labels[rows], data.seen_classes[y.numpy()])
            assert np.allclose(x.numpy(), data.features[rows])
            assert np.allclose(
                getattr(ep, f"{part}_a")[i].numpy(), data.semantics[data.seen_classes[y.numpy()]]
            )
            assert np.allclose(
                getattr(ep, f"{part}_attrs")[i].numpy(), data.semantics[data.seen_classes[classes]]
            )


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_same_generator_state_gives_the_same_episode(seed: int) -> None:
    sampler = EpisodicTaskSampler(toy_data([8] * 6), n_way=2, k_support=3, k_query=2, tasks=4)
    a = sampler.sample(torch.Generator().manual_seed(seed))
    b = sampler.sample(torch.Generator().manual_seed(seed))
    assert all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("support_x", "query_x", "support_classes"))
    g = torch.Generator().manual_seed(seed)
    first, second = sampler.sample(g), sampler.sample(g)
    assert torch.equal(first.support_x, a.support_x)
    assert not torch.equal(first.support_x, second.support_x)  # the generator advances


def test_every_class_plays_both_roles_and_shots_are_spread() -> None:
    data = toy_data([8] * 6)
    sampler = EpisodicTaskSampler(data, n_way=2, k_support=2, k_query=2, tasks=600)
    ep = sampler.sample(torch.Generator().manual_seed(0))
    support_counts = torch.bincount(ep.support_classes.flatten(), minlength=6)
    query_counts = torch.bincount(ep.query_classes.flatten(), minlength=6)
    # each class is a support class of a task with probability 1/3: 200 expected of 600
    assert support_counts.min() > 150 and support_counts.max() < 250
    assert query_counts.min() > 150 and query_counts.max() < 250
    rows = ep.support_x[..., 0].long().flatten()
    assert torch.unique(rows).numel() == data.trainval.size  # every trainval sample gets drawn


def test_train_split_and_labels_index_seen_classes() -> None:
    data = toy_data([8, 8, 8, 8, 8], val_classes=(0,))
    sampler = EpisodicTaskSampler(data, n_way=2, k_support=2, k_query=1, tasks=50, features_split="train")
    ep = sampler.sample(torch.Generator().manual_seed(1))
    assert sampler.class_ids.tolist() == [1, 2, 3, 4] and sampler.num_classes == 5
    assert 0 not in ep.support_classes.unique().tolist() + ep.query_classes.unique().tolist()
    assert "classes=4" in repr(sampler)


def test_too_few_training_classes() -> None:
    with pytest.raises(
        DataError,
        match=r"toy: the episodic task sampler needs at least 2 \* n_way = 10 training classes in 'trainval' "
        r"\(5 support \+ 5 query classes, disjoint\), but there are 4. Lower task_sampler.n_way to at most 2.",
    ):
        EpisodicTaskSampler(toy_data(), n_way=5)


def test_class_with_too_few_samples_is_named() -> None:
    data = toy_data([8, 8, 3, 8])  # class 2 has 3 trainval samples
    with pytest.raises(
        DataError,
        match=r"toy: class 2 \('c2'\) has only 3 samples in 'trainval', fewer than max\(k_support, k_query\) = 5",
    ):
        EpisodicTaskSampler(data, n_way=2, k_support=5, k_query=2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_way": 0}, r"task_sampler.n_way: expected a positive integer, got 0"),
        ({"k_support": 2.5}, r"task_sampler.k_support: expected a positive integer, got 2.5"),
        ({"tasks": True}, r"task_sampler.tasks: expected a positive integer, got True"),
        (
            {"features_split": "test_seen"},
            r"task_sampler.features_split: unknown value 'test_seen'; expected one of",
        ),
    ],
)
def test_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EpisodicTaskSampler(toy_data([8] * 4), **({"n_way": 1} | params))


def test_not_zsldata() -> None:
    with pytest.raises(ConfigError, match=r"task_sampler: expected a ZSLData, got dict"):
        EpisodicTaskSampler({})  # type: ignore[arg-type]


def test_digits_preset_works_in_the_validation_view(registries) -> None:
    from modgen.data.digits import load_digits_zsl
    from modgen.pipeline import resolve_spec

    params = resolve_spec(registries, "amaz", dataset="digits").task_sampler.params
    assert params["n_way"] == 2  # the digits preset, not the paper's 10-way tasks
    view = load_digits_zsl().validation_view()
    ep = EpisodicTaskSampler(view, **params).sample(torch.Generator().manual_seed(0))
    assert ep.n_way == params["n_way"] and ep.tasks == params["tasks"]


@pytest.mark.cuda
def test_sampling_on_cuda_matches_its_own_generator() -> None:
    sampler = EpisodicTaskSampler(toy_data([8] * 6), n_way=2, k_support=2, k_query=2, tasks=3, device="cuda")
    a = sampler.sample(torch.Generator(device="cuda").manual_seed(3))
    b = sampler.sample(torch.Generator(device="cuda").manual_seed(3))
    c = sampler.sample(torch.Generator().manual_seed(3))  # a CPU generator also works
    assert a.device.type == "cuda" and c.device.type == "cuda"
    assert torch.equal(a.support_x, b.support_x)
