"""The AMAZ networks: shapes, modulation, gradients, torch.func, blocks, errors, CUDA."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modgen.errors import ConfigError, ShapeError
from modgen.functional import attribute_loss, critic_loss, generator_loss, modulate
from modgen.nn import (
    FBD,
    FDL,
    AttributeModulation,
    AttributeModulator,
    MLPAttributeDecoder,
    MLPAuxClassifier,
    MLPCritic,
    MLPGenerator,
    NoModulator,
    TaskBatchNorm,
)
from modgen.testing.strategies import dims, leading_dims, modulation_variants, task_sizes, widths


def _nets(A, D, Z, C, h=16, variant=None, device="cpu", **kw):
    g = MLPGenerator(A, D, Z, hidden=h, **kw).to(device)
    m = AttributeModulator(A, g.modulated_dims, hidden=h, **(variant or {})).to(device)
    d = MLPCritic(D, A, hidden=(h, h)).to(device)
    c = MLPAuxClassifier(D, C, hidden=(h, h)).to(device)
    ad = MLPAttributeDecoder(D, A, hidden=(h, h)).to(device)
    return g, m, d, c, ad


def _shapes(device, dims_, lead, task, variant, hidden):
    A, D, Z, C = dims_["attr_dim"], dims_["feature_dim"], dims_["noise_dim"], dims_["num_classes"]
    n, N = task["n"], task["n_way"]
    g, m, d, c, ad = _nets(A, D, Z, C, h=hidden, variant=variant, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    z = torch.randn(*lead, n, Z, generator=gen, device=device)
    a = torch.randn(*lead, n, A, generator=gen, device=device)
    ta = torch.randn(*lead, N, A, generator=gen, device=device)
    modulation = m(ta)
    assert isinstance(modulation, AttributeModulation) and len(modulation) == 6
    for (w, b), dj in zip(modulation.params, g.modulated_dims, strict=True):
        assert w.shape == (*lead, dj)
        assert (b is None) == (not variant["bias"]) and (b is None or b.shape == (*lead, dj))
    assert m.encode(ta).shape == (*lead, hidden)
    x = g(z, a, modulation)
    assert x.shape == (*lead, n, D) and x.device.type == torch.device(device).type
    assert d(x, a).shape == (*lead, n)
    assert c(x).shape == (*lead, n, C)
    assert ad(x).shape == (*lead, n, A)
    for out in (x, d(x, a), c(x), ad(x)):
        assert torch.isfinite(out).all()


@settings(max_examples=20, deadline=None)
@given(
    dims_=dims(),
    lead=leading_dims(),
    task=task_sizes(),
    variant=modulation_variants(),
    hidden=st.integers(4, 24),
)
def test_shapes_over_dims_tasks_and_every_modulation_variant(dims_, lead, task, variant, hidden):
    _shapes("cpu", dims_, lead, task, variant, hidden)


@pytest.mark.cuda
@settings(max_examples=8, deadline=None)
@given(dims_=dims(), lead=leading_dims(), task=task_sizes(), variant=modulation_variants())
def test_shapes_on_cuda(dims_, lead, task, variant):
    _shapes("cuda", dims_, lead, task, variant, 16)


@settings(max_examples=10, deadline=None)
@given(dims_=dims(), lead=leading_dims(), n=st.integers(1, 5))
def test_no_modulator_leaves_g_equal_to_unmodulated(dims_, lead, n):
    A, D, Z = dims_["attr_dim"], dims_["feature_dim"], dims_["noise_dim"]
    g = MLPGenerator(A, D, Z, hidden=8).eval()
    none = NoModulator(A, g.modulated_dims)
    assert list(none.parameters()) == []
    z, a = torch.randn(*lead, n, Z), torch.randn(*lead, n, A)
    modulation = none(torch.randn(*lead, 3, A))
    assert modulation is None
    torch.testing.assert_close(g(z, a, modulation), g(z, a))


def test_generator_applies_eq3_at_every_modulated_output():
    torch.manual_seed(0)
    g = MLPGenerator(3, 4, 2, hidden=8, dropout=0.0)
    m = AttributeModulator(3, g.modulated_dims, hidden=8, dropout=0.0)
    ta, z, a = torch.randn(5, 3), torch.randn(6, 2), torch.randn(6, 3)
    params = m.parameters_for(ta)
    o = modulate(torch.cat([z, a], -1), *params[0])
    for j, layer in enumerate((g.fdl, g.fbd1, g.fbd2, g.act, g.out), start=1):
        o = modulate(layer(o), *params[j])
    torch.testing.assert_close(g(z, a, m(ta)), o)


@pytest.mark.parametrize(
    ("act", "check"), [("relu", lambda x: (x >= 0).all()), ("sigmoid", lambda x: ((x > 0) & (x < 1)).all())]
)
def test_output_activation(act, check):
    g = MLPGenerator(3, 5, 3, hidden=8, output_activation=act)
    assert check(g(torch.randn(4, 3) * 10, torch.randn(4, 3) * 10))


def test_task_embedding_is_a_mean_over_classes():
    m = AttributeModulator(4, [3], hidden=8).eval()
    ta = torch.randn(2, 5, 4)
    torch.testing.assert_close(m.encode(ta), m.encode(ta.flip(-2)))
    one = torch.randn(1, 4)
    torch.testing.assert_close(m.encode(one), m.encode(one.expand(7, 4)))  # replicating a class (II-E)


def test_every_parameter_gets_a_gradient_from_its_loss():
    """Eqs. 5-7 through the whole assembly: every parameter gets a finite, non-zero gradient,
    except the shift heads b_1, b_2, whose shift per-task BatchNorm cancels (see MLPGenerator)."""
    torch.manual_seed(0)
    A, D, Z, C, T, n, N = 4, 6, 4, 3, 2, 5, 3
    g, m, d, c, ad = _nets(A, D, Z, C)
    z, a, ta = torch.randn(T, n, Z), torch.randn(T, n, A), torch.randn(T, N, A)
    x_real, y = torch.randn(T, n, D), torch.randint(0, C, (T, n))
    x_fake = g(z, a, m(ta))
    d_loss, _ = critic_loss(d, x_real, x_fake.detach(), a, 10.0, torch.Generator().manual_seed(0))
    g_loss, parts = generator_loss(d(x_fake, a), a, ad(x_fake), c(x_fake), y)
    assert set(parts) == {"adv", "attr", "cls"}
    groups = {
        "d": (d, d_loss),
        "gc": (g, g_loss),
        "c": (c, g_loss),
        "am": (m, g_loss),
        "ad": (ad, parts["attr"]),
    }
    dead = {"b_heads.1.weight", "b_heads.1.bias", "b_heads.2.weight", "b_heads.2.bias"}
    for key, (net, loss) in groups.items():
        grads = torch.autograd.grad(loss, list(net.parameters()), retain_graph=True, allow_unused=True)
        for (name, _), grad in zip(net.named_parameters(), grads, strict=True):
            assert grad is not None and torch.isfinite(grad).all(), f"{key}: {name}"
            if key == "am" and name in dead:
                assert grad.abs().max() < 1e-5, name
            else:
                assert grad.abs().sum() > 0, f"{key}: {name}"
    assert float(attribute_loss(a, ad(x_fake)).detach()) > 0


def test_functional_call_grad_and_vmap_over_tasks_through_g_and_modulator():
    torch.manual_seed(0)
    A, D, Z, T, n, N = 3, 5, 3, 4, 6, 2
    g = MLPGenerator(A, D, Z, hidden=16).eval()
    m = AttributeModulator(A, g.modulated_dims, hidden=16).eval()
    pg = {k: v.detach() for k, v in g.named_parameters()}
    pm = {k: v.detach() for k, v in m.named_parameters()}
    z, a, ta = torch.randn(T, n, Z), torch.randn(T, n, A), torch.randn(T, N, A)

    def one_task(pg_, pm_, z_, a_, ta_):
        modulation = torch.func.functional_call(m, pm_, (ta_,))
        return torch.func.functional_call(g, pg_, (z_, a_, modulation))

    batched = g(z, a, m(ta))
    per_task = torch.func.vmap(one_task, in_dims=(None, None, 0, 0, 0))(pg, pm, z, a, ta)
    torch.testing.assert_close(per_task, batched, atol=1e-5, rtol=1e-4)
    for t in range(T):  # per-task BatchNorm: a task alone gives the same features
        torch.testing.assert_close(g(z[t], a[t], m(ta[t])), batched[t], atol=1e-5, rtol=1e-4)

    def loss(pg_, pm_, z_, a_, ta_):
        return one_task(pg_, pm_, z_, a_, ta_).square().mean()

    grads = torch.func.vmap(torch.func.grad(loss, argnums=(0, 1)), in_dims=(None, None, 0, 0, 0))(
        pg, pm, z, a, ta
    )
    for group, params in zip(grads, (pg, pm), strict=True):
        assert set(group) == set(params)
        assert all(v.shape == (T, *params[k].shape) and torch.isfinite(v).all() for k, v in group.items())

    g.train()
    m.train()
    out = torch.func.vmap(one_task, in_dims=(None, None, 0, 0, 0), randomness="different")(pg, pm, z, a, ta)
    assert out.shape == (T, n, D) and torch.isfinite(out).all()


def test_blocks_structure_and_pure_forward():
    fbd, fdl = FBD(3, 4, dropout=0.1, bn_eps=0.5), FDL(3, 4, dropout=0.2, leaky_slope=0.3)
    assert [type(x).__name__ for x in fbd.children()] == ["Linear", "TaskBatchNorm", "Dropout"]
    assert [type(x).__name__ for x in fdl.children()] == ["Linear", "Dropout", "LeakyReLU"]
    assert fbd.bn.eps == 0.5 and fbd.dropout.p == 0.1 and fbd.fc.bias is None
    assert fdl.act.negative_slope == 0.3 and fdl.dropout.p == 0.2
    g = MLPGenerator(3, 4, 3, hidden=8)
    assert {n.rsplit(".", 1)[1] for n, _ in g.named_buffers()} == {
        "running_mean",
        "running_var",
        "calibrated",
    }
    assert g.fbd1.bn.eps == 0.8 and g.act.negative_slope == 0.2 and g.fdl.dropout.p == 0.5
    x = torch.randn(2, 5, 8)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    g.fbd1(x)
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())


@settings(max_examples=10, deadline=None)
@given(lead=leading_dims(), n=st.integers(1, 6), h=widths(1, 1, 6))
def test_task_batchnorm_per_task_statistics(lead, n, h):
    bn = TaskBatchNorm(h[0], eps=1e-5)
    x = torch.randn(*lead, n, h[0]) * 4 + 2
    y = bn(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    if n > 1:
        torch.testing.assert_close(y.mean(-2), torch.zeros(*lead, h[0]), atol=1e-4, rtol=0)
    bn.eval()  # batch statistics in eval mode too (no running stats)
    torch.testing.assert_close(bn(x), y)


def test_critic_heads_accept_list_hidden_and_default_widths():
    assert MLPCritic(4, 3, hidden=[8, 4]).hidden == (8, 4)
    assert MLPCritic(4, 3).hidden == (1024, 512)
    assert MLPAuxClassifier(4, 3).hidden == (512, 512)
    assert MLPAttributeDecoder(4, 3).hidden == (1024, 512)
    critic = MLPCritic(4, 3, hidden=(8, 6))
    assert [type(x).__name__ for x in critic.net] == ["FDL", "Linear", "Dropout", "FDL", "Linear", "Linear"]
    assert critic.net[-1].out_features == 1


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MLPGenerator(3, 4, 3, hidden=0), r"MLPGenerator: hidden must be a positive integer, got 0"),
        (
            lambda: MLPGenerator(3, 4, 3, dropout=1.0),
            r"MLPGenerator: dropout must be a probability in \[0, 1\), got 1.0",
        ),
        (lambda: MLPGenerator(3, 4, 3, bn_eps=0), r"MLPGenerator: bn_eps must be a number > 0, got 0"),
        (
            lambda: MLPGenerator(3, 4, 3, leaky_slope=-1),
            r"MLPGenerator: leaky_slope must be a number >= 0, got -1",
        ),
        (
            lambda: MLPGenerator(3, 4, 3, output_activation="tanh"),
            r"output_activation must be one of 'none', 'relu', 'sigmoid', got 'tanh'",
        ),
        (
            lambda: AttributeModulator(3, [4], gate="tanh"),
            r"AttributeModulator: gate must be one of .* got 'tanh'",
        ),
        (
            lambda: AttributeModulator(3, [4], operator="x"),
            r"AttributeModulator: operator must be one of .* got 'x'",
        ),
        (
            lambda: AttributeModulator(3, [4], bias="no"),
            r"AttributeModulator: bias must be true or false, got 'no'",
        ),
        (lambda: AttributeModulator(3, []), r"AttributeModulator: target_dims must not be empty"),
        (lambda: MLPCritic(4, 3, hidden=(8,)), r"MLPCritic: hidden must list 2 widths, got 1: \(8,\)"),
        (
            lambda: MLPCritic(4, 3, hidden="64"),
            r"MLPCritic: hidden must be a list of positive integers, got '64'",
        ),
        (lambda: MLPAuxClassifier(4, 0), r"MLPAuxClassifier: num_classes must be a positive integer, got 0"),
        (
            lambda: MLPAttributeDecoder(4, 3, hidden=[8, -1]),
            r"MLPAttributeDecoder: hidden\[1\] must be a positive integer, got -1",
        ),
    ],
)
def test_bad_parameters_raise_config_error(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda g, m: g(torch.zeros(2, 4), torch.zeros(2, 3)),
            r"MLPGenerator: z must be \(\.\.\., n, 3\), got shape \(2, 4\)",
        ),
        (
            lambda g, m: g(torch.zeros(2, 3), torch.zeros(5, 3)),
            r"z has shape \(2, 3\) but a has shape \(5, 3\); expected the same leading dims",
        ),
        (lambda g, m: m(torch.zeros(4)), r"task_attributes must be \(\.\.\., N, 3\) .* got shape \(4,\)"),
        (lambda g, m: m(torch.zeros(2, 3))(6, torch.zeros(2, 5)), r"output index j=6 is out of range"),
        (
            lambda g, m: m(torch.zeros(2, 3))(1, torch.zeros(2, 5)),
            r"output 1 has shape \(2, 5\), expected \(\.\.\., n, 8\)",
        ),
        (
            lambda g, m: MLPCritic(5, 3, hidden=(4, 4))(torch.zeros(2, 5), torch.zeros(3, 3)),
            r"x has shape \(2, 5\) but a has shape \(3, 3\)",
        ),
        (
            lambda g, m: MLPAuxClassifier(5, 2, hidden=(4, 4))(torch.zeros(2, 4)),
            r"x must be \(\.\.\., 5\), got shape \(2, 4\)",
        ),
        (
            lambda g, m: NoModulator(3)(torch.zeros(2, 4)),
            r"NoModulator: task_attributes must be \(\.\.\., N, 3\), got shape \(2, 4\)",
        ),
    ],
)
def test_shape_errors(call, match):
    g = MLPGenerator(3, 5, 3, hidden=8)
    m = AttributeModulator(3, g.modulated_dims, hidden=8)
    with pytest.raises(ShapeError, match=match):
        call(g, m)


def test_batch_norm_running_statistics_after_calibration():
    """At synthesis each class is its own task: with per-task batch statistics the class mean
    would be normalised away, so eval() uses calibrated running statistics instead."""
    from modgen.nn.blocks import TaskBatchNorm, calibrate_batch_norm

    bn = TaskBatchNorm(2, eps=1e-5)
    x = torch.tensor([[[0.0, 0.0], [2.0, 4.0]], [[4.0, 8.0], [6.0, 12.0]]])  # 2 tasks, 2 samples
    bn.eval()
    before = bn(x[:1])  # not calibrated: batch statistics even in eval()
    torch.testing.assert_close(before.mean(-2), torch.zeros(1, 2), atol=1e-5, rtol=0)
    assert calibrate_batch_norm(bn, [lambda: bn(x)]) == 1
    assert bn.calibrated and not bn.training
    torch.testing.assert_close(bn.running_mean, torch.tensor([3.0, 6.0]))  # mean of task means 1,2 and 5,10
    torch.testing.assert_close(bn.running_var, torch.tensor([1.0, 4.0]))  # mean of task variances
    one_class = bn(torch.tensor([3.0, 6.0]).expand(1, 3, 2))  # one "class" at the running mean -> 0
    torch.testing.assert_close(one_class, torch.zeros(1, 3, 2), atol=1e-4, rtol=0)
    bn.train()
    torch.testing.assert_close(bn(x).mean(-2), torch.zeros(2, 2), atol=1e-5, rtol=0)
