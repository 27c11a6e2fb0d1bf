"""Quality weighters (Eqs. 12 and 14)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from modgen.errors import ConfigError, DataError, ShapeError
from modgen.nn import CosineQualityWeighter, UniformQualityWeighter


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 12), a_dim=st.integers(1, 6), c=st.integers(1, 5), seed=st.integers(0, 100))
def test_cosine_weights_are_eq12_and_class_means_eq14(n, a_dim, c, seed):
    g = torch.Generator().manual_seed(seed)
    a, a_rec = torch.randn(n, a_dim, generator=g), torch.randn(n, a_dim, generator=g)
    labels = torch.randint(0, c, (n,), generator=g)
    raw = CosineQualityWeighter(clamp_min=None)
    sw = raw.sample_weights(a, a_rec)
    for i in range(n):
        cos = float(a[i] @ a_rec[i]) / max(float(a[i].norm() * a_rec[i].norm()), 1e-8)
        assert float(sw[i]) == pytest.approx(cos, abs=1e-5)
    cw = raw.class_weights(sw, labels, c)
    assert cw.shape == (c,)
    for k in range(c):
        members = sw[labels == k]
        assert float(cw[k]) == pytest.approx(float(members.mean()) if len(members) else 0.0, abs=1e-6)
    clamped = CosineQualityWeighter().sample_weights(a, a_rec)
    torch.testing.assert_close(clamped, sw.clamp_min(0.0))


def test_cosine_weights_accept_leading_dims():
    a, r = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    torch.testing.assert_close(
        CosineQualityWeighter(clamp_min=None).sample_weights(a, r), F.cosine_similarity(a, r, dim=-1)
    )


def test_uniform_weights_are_ones():
    u = UniformQualityWeighter()
    assert torch.equal(u.sample_weights(torch.randn(5, 3), torch.randn(5, 3)), torch.ones(5))
    assert torch.equal(u.class_weights(torch.rand(5), torch.tensor([0, 1, 1, 2, 0]), 4), torch.ones(4))


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (
            lambda q: q.sample_weights(torch.zeros(3, 2), torch.zeros(3, 4)),
            ShapeError,
            r"attributes have shape \(3, 2\) and reconstructed attributes \(3, 4\)",
        ),
        (
            lambda q: q.class_weights(torch.zeros(3), torch.tensor([0, 5, 1]), 3),
            DataError,
            r"label 5 is outside \[0, 3\)",
        ),
        (
            lambda q: q.class_weights(torch.zeros(3), torch.zeros(2).long(), 3),
            ShapeError,
            r"sample_weights have shape \(3,\) but labels \(2,\)",
        ),
        (
            lambda q: q.class_weights(torch.zeros(2), torch.zeros(2), 3),
            ShapeError,
            r"labels must be integer class indices, got dtype torch.float32",
        ),
        (
            lambda q: q.class_weights(torch.zeros(2), torch.zeros(2).long(), 0),
            ConfigError,
            r"num_classes must be a positive integer, got 0",
        ),
        (
            lambda q: CosineQualityWeighter(clamp_min="0"),
            ConfigError,
            r"clamp_min must be a number or None, got '0'",
        ),
    ],
)
def test_errors(call, err, match):
    with pytest.raises(err, match=match):
        call(CosineQualityWeighter())
