"""Tests of the modgen-diverse-sampler plugin: episodes are valid, diverse, reproducible; errors are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from modgen_diverse_sampler import AttributeDiverseTaskSampler, farthest_point_classes
from modgen_diverse_sampler import plugin as diverse_plugin

from modgen.data.zsldata import Episode, ZSLData
from modgen.errors import ConfigError, DataError, ShapeError
from modgen.plugins import get_registries

CLUSTERS = 6  # 2 * n_way for n_way = 3
PER_CLUSTER = 3


def clustered_data(shots: int = 6, seed: int = 0) -> ZSLData:
    """18 seen classes in 6 tight clusters far apart in attribute space, plus 2 unseen classes.

    Features are ``[class id, sample number]`` so each episode sample can be traced back.
    """
    rng = np.random.default_rng(seed)
    centres = np.eye(CLUSTERS) * 10.0
    seen = np.repeat(centres, PER_CLUSTER, axis=0) + rng.normal(0, 0.1, (CLUSTERS * PER_CLUSTER, CLUSTERS))
    semantics = np.vstack([seen, rng.normal(0, 1, (2, CLUSTERS))])
    c = semantics.shape[0]
    labels = np.repeat(np.arange(c), shots)
    features = np.stack([labels, np.tile(np.arange(shots), c)], axis=1).astype(np.float32)
    seen_ids = np.arange(c - 2)
    return ZSLData(
        name="clusters",
        features=features,
        labels=labels,
        semantics=semantics,
        class_names=[f"c{i}" for i in range(c)],
        trainval=np.flatnonzero(labels < c - 2),
        test_seen=[],
        test_unseen=np.flatnonzero(labels >= c - 2),
        seen_classes=seen_ids,
        unseen_classes=[c - 2, c - 1],
    )


@pytest.fixture(scope="module")
def data() -> ZSLData:
    return clustered_data()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), metric=st.sampled_from(["euclidean", "cosine"]))
def test_episode_is_valid_and_each_task_covers_every_cluster(data: ZSLData, seed: int, metric: str) -> None:
    sampler = AttributeDiverseTaskSampler(data, n_way=3, k_support=4, k_query=2, tasks=5, metric=metric)
    ep = sampler.sample(torch.Generator().manual_seed(seed))
    assert isinstance(ep, Episode)
    assert (ep.tasks, ep.n_way, ep.k_support, ep.k_query) == (5, 3, 4, 2)
    for t in range(ep.tasks):
        sup, qry = ep.support_classes[t].tolist(), ep.query_classes[t].tolist()
        assert not set(sup) & set(qry)
        # farthest-point sampling takes one class from each of the 2N far-apart clusters
        assert sorted(c // PER_CLUSTER for c in sup + qry) == list(range(CLUSTERS))
        for part, classes, k in (("support", sup, 4), ("query", qry, 2)):
            x = getattr(ep, f"{part}_x")[t]
            y = getattr(ep, f"{part}_y")[t]
            assert y.tolist() == [c for c in classes for _ in range(k)]
            assert x[:, 0].long().tolist() == y.tolist()  # each feature is of its label's class
            shots = x.view(len(classes), k, 2)[:, :, 1]
            assert all(len(set(row.tolist())) == k for row in shots)  # distinct samples per class
            torch.testing.assert_close(getattr(ep, f"{part}_a")[t], torch.from_numpy(data.semantics[y]))
            torch.testing.assert_close(
                getattr(ep, f"{part}_attrs")[t], torch.from_numpy(data.semantics[classes])
            )


def test_same_generator_state_gives_same_episode(data: ZSLData) -> None:
    sampler = AttributeDiverseTaskSampler(data, n_way=3, k_support=2, k_query=2, tasks=8)
    a = sampler.sample(torch.Generator().manual_seed(7))
    b = sampler.sample(torch.Generator().manual_seed(7))
    c = sampler.sample(torch.Generator().manual_seed(8))
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_classes, b.query_classes)
    assert not torch.equal(a.support_x, c.support_x)


def test_classes_are_more_spread_than_uniform_sampling() -> None:
    from modgen.data.digits import load_digits_zsl
    from modgen.data.sampler import EpisodicTaskSampler

    digits = load_digits_zsl()
    params = dict(n_way=2, k_support=2, k_query=2, tasks=200)

    def mean_min_distance(sampler: object) -> float:
        ep = sampler.sample(torch.Generator().manual_seed(0))
        attrs = torch.cat([ep.support_attrs, ep.query_attrs], dim=1)  # (T, 2N, A)
        d = torch.cdist(attrs, attrs) + torch.eye(attrs.shape[1]) * 1e9
        return d.amin(dim=(1, 2)).mean().item()

    diverse = mean_min_distance(AttributeDiverseTaskSampler(digits, **params))
    uniform = mean_min_distance(EpisodicTaskSampler(digits, **params))
    assert diverse > uniform


def test_farthest_point_classes_picks_the_farthest_and_distinct() -> None:
    points = torch.tensor([[0.0], [1.0], [10.0], [4.0], [4.0]])
    dist = torch.cdist(points, points)
    assert farthest_point_classes(dist, torch.tensor([0, 2]), 3).tolist() == [[0, 2, 3], [2, 0, 3]]
    # duplicate points (distance 0) are still never chosen twice
    assert sorted(farthest_point_classes(dist, torch.tensor([3]), 5)[0].tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(ShapeError, match=r"count must be in \[1, 5\] \(the classes\), got 6"):
        farthest_point_classes(dist, torch.tensor([0]), 6)
    with pytest.raises(ShapeError, match=r"distances must be \(S, S\), got \(5, 1\)"):
        farthest_point_classes(points, torch.tensor([0]), 1)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_way": 0}, ConfigError, r"task_sampler.n_way: expected a positive integer, got 0"),
        ({"tasks": 1.5}, ConfigError, r"task_sampler.tasks: expected a positive integer, got 1.5"),
        (
            {"metric": "manhattan"},
            ConfigError,
            r"task_sampler.metric: unknown value 'manhattan'; expected one of",
        ),
        ({"features_split": "val"}, ConfigError, r"task_sampler.features_split: unknown value 'val'"),
        ({"n_way": 10}, DataError, r"needs at least 2 \* n_way = 20 training classes .* there are 18"),
        (
            {"k_support": 7},
            DataError,
            r"has only 6 samples in 'trainval', fewer than max\(k_support, k_query\) = 7",
        ),
    ],
)
def test_bad_parameters_name_the_field(data: ZSLData, params: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        AttributeDiverseTaskSampler(data, **{"n_way": 3, "k_support": 2, "k_query": 2, "tasks": 2, **params})


def test_not_a_zsldata_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"task_sampler: expected a ZSLData, got dict"):
        AttributeDiverseTaskSampler({}, n_way=1)  # type: ignore[arg-type]


def test_registers_under_the_plugin_name() -> None:
    regs = get_registries(extra=[("diverse", diverse_plugin)], entry_points=False)
    assert regs.failures == []
    entry = regs.task_sampler.entry("diverse.attribute-diverse")
    assert (entry.obj, entry.origin) == (AttributeDiverseTaskSampler, "diverse")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_episode_on_cuda(data: ZSLData) -> None:
    sampler = AttributeDiverseTaskSampler(data, n_way=3, k_support=2, k_query=2, tasks=3, device="cuda")
    ep = sampler.sample(torch.Generator(device="cuda").manual_seed(0))
    assert ep.device.type == "cuda"
    assert not set(ep.support_classes[0].tolist()) & set(ep.query_classes[0].tolist())


def test_a_recipe_with_the_sampler_resolves_and_trains_one_episode(tmp_path) -> None:
    """``--set task_sampler.name=diverse.attribute-diverse`` keeps the preset's task sizes."""
    from modgen.data import load_dataset
    from modgen.pipeline import resolve_spec
    from modgen.testing.presets import tiny
    from modgen.train.loop import train

    regs = get_registries(extra=[("diverse", diverse_plugin)], entry_points=False)
    spec = resolve_spec(
        regs,
        "amaz",
        dataset="digits",
        overrides=["task_sampler.name=diverse.attribute-diverse", "trainer.episodes=1", "run.device=cpu"],
    )
    spec = tiny(spec, regs)
    assert spec.task_sampler.name == "diverse.attribute-diverse" and spec.task_sampler.params["n_way"] == 2
    outcome = train(spec, regs, data=load_dataset(regs, spec.data), out=tmp_path / "run", device="cpu")
    assert outcome.episodes == 1 and all(np.isfinite(v) for v in outcome.last_metrics.values())
