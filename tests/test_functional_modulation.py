"""modgen.functional.modulate: the formula of every variant, gradcheck, errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modgen.errors import ConfigError, ShapeError
from modgen.functional import MODULATION_VARIANTS, describe_modulation, modulate
from modgen.recipes import TABLE4_VARIANTS
from modgen.testing.strategies import leading_dims, modulation_variants


def reference(o, w, b, *, base, operator, gate, bias):
    """The formula written out per sample, per task, per feature (no broadcasting tricks)."""
    out = torch.empty_like(o)
    lead = o.shape[:-2]
    for idx in torch.cartesian_prod(*[torch.arange(s) for s in lead]) if lead else [()]:
        idx = tuple(int(i) for i in torch.as_tensor(idx).reshape(-1))
        ww, bb = w[idx], (b[idx] if b is not None else None)
        if gate == "sigmoid":
            gw = 1 / (1 + torch.exp(-ww))
            gb = None if bb is None else 1 / (1 + torch.exp(-bb))
        elif gate == "softmax":
            gw = torch.exp(ww) / torch.exp(ww).sum()
            gb = None if bb is None else torch.exp(bb) / torch.exp(bb).sum()
        else:
            gw, gb = ww, bb
        for s in range(o.shape[-2]):
            row = o[idx][s]
            if base and operator == "add":
                r = (1 + gw) * row
            elif base and operator == "sub":
                r = (1 - gw) * row
            else:
                r = gw * row
            if bias:
                r = r + gb
            out[(*idx, s)] = r
    return out


@settings(max_examples=40, deadline=None)
@given(variant=modulation_variants(), lead=leading_dims(), n=st.integers(1, 4), d=st.integers(1, 5))
def test_modulate_equals_reference_formula(variant, lead, n, d):
    g = torch.Generator().manual_seed(n * 10 + d)
    o = torch.randn(*lead, n, d, generator=g, dtype=torch.float64)
    w = torch.randn(*lead, d, generator=g, dtype=torch.float64)
    b = torch.randn(*lead, d, generator=g, dtype=torch.float64)
    got = modulate(o, w, b, **variant)
    assert got.shape == o.shape
    torch.testing.assert_close(got, reference(o, w, b, **variant))


def test_amaz_default_is_eq3():
    o, w, b = torch.randn(3, 4), torch.randn(4), torch.randn(4)
    torch.testing.assert_close(modulate(o, w, b), (1 + torch.sigmoid(w)) * o + torch.sigmoid(b))
    assert describe_modulation(base=True, operator="add", gate="sigmoid", bias=True) == (
        "(1 + sigmoid(w)) * o + sigmoid(b)"
    )


def test_table4_variants_are_covered_and_described():
    for params in TABLE4_VARIANTS.values():
        assert params in [dict(v) for v in MODULATION_VARIANTS]
    assert describe_modulation(**TABLE4_VARIANTS["amaz-t4-w"]) == "w * o"
    assert describe_modulation(**TABLE4_VARIANTS["amaz-t4-sub-softmax"]) == "(1 - softmax(w)) * o"


def test_softmax_gate_normalises_over_features():
    o = torch.ones(2, 5)
    out = modulate(o, torch.randn(5), None, base=False, operator="mul", gate="softmax", bias=False)
    torch.testing.assert_close(out.sum(-1), torch.ones(2))


@pytest.mark.parametrize("variant", MODULATION_VARIANTS, ids=lambda v: "-".join(str(x) for x in v.values()))
def test_modulate_gradcheck_float64(variant):
    g = torch.Generator().manual_seed(0)
    o = torch.randn(2, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    if variant["bias"]:
        assert torch.autograd.gradcheck(lambda o, w, b: modulate(o, w, b, **variant), (o, w, b))
    else:
        assert torch.autograd.gradcheck(lambda o, w: modulate(o, w, None, **variant), (o, w))


def test_one_task_parameters_broadcast_over_tasks_and_samples():
    o = torch.randn(3, 5, 4)
    w, b = torch.randn(4), torch.randn(4)
    torch.testing.assert_close(modulate(o, w, b), torch.stack([modulate(o[t], w, b) for t in range(3)]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gate": "tanh"}, r"gate must be one of 'sigmoid', 'softmax', 'none', got 'tanh'"),
        ({"operator": "div"}, r"operator must be one of 'add', 'sub', 'mul', got 'div'"),
        ({"base": "yes"}, r"base must be true or false, got 'yes'"),
        ({"bias": 1}, r"bias must be true or false, got 1"),
    ],
)
def test_bad_options_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        modulate(torch.ones(2, 3), torch.ones(3), torch.ones(3), **kwargs)


def test_bias_without_b_is_an_error():
    with pytest.raises(ConfigError, match=r"bias=True needs the shift parameters b"):
        modulate(torch.ones(2, 3), torch.ones(3), None)


@pytest.mark.parametrize(
    ("o", "w", "b", "match"),
    [
        ((2, 3), (4,), (4,), r"w must be \(\.\.\., 3\) to match o of shape \(2, 3\), got \(4,\)"),
        ((2, 3), (3,), (2,), r"b must have the shape of w \(3,\), got \(2,\)"),
        ((3,), (3,), (3,), r"o must be \(\.\.\., n, d\), got shape \(3,\)"),
        ((2, 5, 3), (4, 3), (4, 3), r"w of shape \(4, 3\) does not broadcast over the samples of o"),
        ((5, 3), (2, 3), (2, 3), r"w of shape \(2, 3\) would broadcast o \(5, 3\) to \(2, 5, 3\)"),
    ],
)
def test_shape_errors_name_both_shapes(o, w, b, match):
    with pytest.raises(ShapeError, match=match):
        modulate(torch.ones(o), torch.ones(w), torch.ones(b))
