"""modgen.functional losses (Eqs. 5-7, WGAN-GP) and task_batch_norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from modgen.errors import ConfigError, ShapeError
from modgen.functional import (
    attribute_loss,
    critic_loss,
    generator_loss,
    gradient_penalty,
    interpolation_epsilon,
    task_batch_norm,
)
from modgen.nn import MLPCritic
from modgen.testing.strategies import leading_dims


def linear_critic(x, a):
    """D(x, a) = x . 1 + a . 1: its input gradient is all ones, ||grad|| = sqrt(D)."""
    return x.sum(-1) + a.sum(-1)


@settings(max_examples=15, deadline=None)
@given(lead=leading_dims(), n=st.integers(1, 5), d=st.integers(1, 6), lam=st.floats(0, 20))
def test_critic_loss_parts_and_sign(lead, n, d, lam):
    g = torch.Generator().manual_seed(n + d)
    x_real, x_fake = torch.randn(*lead, n, d, generator=g), torch.randn(*lead, n, d, generator=g)
    a = torch.randn(*lead, n, 2, generator=g)
    total, parts = critic_loss(linear_critic, x_real, x_fake, a, lam, g)
    real, fake = linear_critic(x_real, a).mean(), linear_critic(x_fake, a).mean()
    expected_gp = (d**0.5 - 1) ** 2 if lam > 0 else 0.0
    torch.testing.assert_close(parts["real"], real)
    torch.testing.assert_close(parts["fake"], fake)
    torch.testing.assert_close(parts["wasserstein"], real - fake)
    torch.testing.assert_close(parts["gp"], torch.tensor(expected_gp), atol=1e-5, rtol=1e-5)
    # Minimising the loss is ascending the paper's L_D = E[D(real)] - E[D(fake)] (Eq. 6).
    torch.testing.assert_close(total, -(real - fake) + lam * parts["gp"], atol=1e-4, rtol=1e-5)


def test_gradient_penalty_matches_autograd_reference_and_reaches_critic_params():
    torch.manual_seed(0)
    critic = MLPCritic(feature_dim=5, attr_dim=3, hidden=(16, 8), dropout=0.0).double()
    x_real, x_fake = torch.randn(2, 6, 5, dtype=torch.float64), torch.randn(2, 6, 5, dtype=torch.float64)
    a = torch.randn(2, 6, 3, dtype=torch.float64)
    eps = torch.rand(2, 6, 1, dtype=torch.float64)
    gp = gradient_penalty(critic, x_real, x_fake, a, epsilon=eps)
    # The last bias does not move the input gradient, so it is unused by the penalty.
    grads = torch.autograd.grad(gp, list(critic.parameters()), allow_unused=True)

    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (gx,) = torch.autograd.grad(critic(x_hat, a).sum(), x_hat, create_graph=True)
    ref = (gx.norm(dim=-1) - 1).square().mean()
    ref_grads = torch.autograd.grad(ref, list(critic.parameters()), allow_unused=True)
    torch.testing.assert_close(gp, ref)
    for got, want in zip(grads, ref_grads, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            torch.testing.assert_close(got, want)
    # Biases do not move the input gradient of a piecewise-linear critic; weights do.
    names = [k for k, _ in critic.named_parameters()]
    for name, g in zip(names, grads, strict=True):
        if name.endswith("weight"):
            assert g is not None and g.abs().sum() > 0, name


def test_critic_loss_under_func_grad_and_vmap_over_tasks():
    torch.manual_seed(1)
    critic = MLPCritic(feature_dim=4, attr_dim=3, hidden=(16, 8)).eval()
    params = {k: v.detach() for k, v in critic.named_parameters()}
    T, n = 3, 5
    x_real, x_fake, a = torch.randn(T, n, 4), torch.randn(T, n, 4), torch.randn(T, n, 3)
    eps = torch.rand(T, n, 1)

    def task_loss(p, xr, xf, aa, e):
        fn = lambda x, y: torch.func.functional_call(critic, p, (x, y))  # noqa: E731
        return critic_loss(fn, xr, xf, aa, 10.0, epsilon=e)[0]

    per_task = torch.func.vmap(torch.func.grad(task_loss), in_dims=(None, 0, 0, 0, 0))(
        params, x_real, x_fake, a, eps
    )
    for t in range(T):
        one = torch.func.grad(task_loss)(params, x_real[t], x_fake[t], a[t], eps[t])
        for k in params:
            assert per_task[k].shape == (T, *params[k].shape)
            torch.testing.assert_close(per_task[k][t], one[k], atol=1e-5, rtol=1e-4)
    assert all(torch.isfinite(g).all() for g in per_task.values())


def test_critic_loss_train_mode_vmap_with_different_randomness():
    critic = MLPCritic(feature_dim=4, attr_dim=3, hidden=(8, 8))
    params = {k: v.detach() for k, v in critic.named_parameters()}
    x, a, eps = torch.randn(2, 3, 4), torch.randn(2, 3, 3), torch.rand(2, 3, 1)

    def loss(p, xr, aa, e):
        fn = lambda xx, yy: torch.func.functional_call(critic, p, (xx, yy))  # noqa: E731
        return critic_loss(fn, xr, xr.flip(0), aa, 10.0, epsilon=e)[0]

    out = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0, 0), randomness="different")(
        params, x, a, eps
    )
    assert all(torch.isfinite(v).all() for v in out.values())


def test_gradient_penalty_is_finite_where_input_gradient_vanishes():
    # D(x) = w * sum(x) with w = 0: ||grad_x D|| = |w| sqrt(D), whose derivative at 0 is 0/0
    # without the epsilon inside the square root.
    w = torch.zeros((), requires_grad=True)
    x = torch.randn(4, 3)
    gp = gradient_penalty(lambda xx, aa: w * xx.sum(-1), x, x, torch.zeros(4, 1), epsilon=torch.rand(4))
    gp.backward()
    assert float(gp) == pytest.approx(1.0, abs=1e-5)
    assert w.grad is not None and torch.isfinite(w.grad).all()


def test_interpolation_epsilon_is_reproducible():
    x = torch.zeros(3, 5, 2)
    e1 = interpolation_epsilon(x, torch.Generator().manual_seed(3))
    e2 = interpolation_epsilon(x, torch.Generator().manual_seed(3))
    assert e1.shape == (3, 5, 1)
    torch.testing.assert_close(e1, e2)


@pytest.mark.parametrize(
    ("args", "kwargs", "err", "match"),
    [
        (
            ((2, 3), (2, 4), (2, 1)),
            {},
            ShapeError,
            r"x_real has shape \(2, 3\) but x_fake has shape \(2, 4\)",
        ),
        (((2, 3), (2, 3), (3, 1)), {}, ShapeError, r"x has shape \(2, 3\) but a has shape \(3, 1\)"),
        (
            ((2, 3), (2, 3), (2, 1)),
            {"epsilon": (3, 1)},
            ShapeError,
            r"epsilon has shape \(3, 1\), expected \(2, 1\)",
        ),
        (
            ((2, 3), (2, 3), (2, 1)),
            {"gp_lambda": -1.0},
            ConfigError,
            r"gp_lambda must be a number >= 0, got -1.0",
        ),
        (((2, 3), (2, 3), (2, 1)), {"no_rng": True}, ConfigError, r"pass generator= .* or epsilon="),
    ],
)
def test_critic_loss_errors(args, kwargs, err, match):
    xr, xf, a = (torch.zeros(s) for s in args)
    eps = torch.rand(kwargs["epsilon"]) if "epsilon" in kwargs else None
    gen = None if kwargs.get("no_rng") else torch.Generator()
    with pytest.raises(err, match=match):
        critic_loss(linear_critic, xr, xf, a, kwargs.get("gp_lambda", 10.0), gen, epsilon=eps)


def test_critic_scores_must_be_one_per_sample():
    with pytest.raises(ShapeError, match=r"scores on real features have shape \(2, 1\), expected \(2,\)"):
        critic_loss(lambda x, a: x[..., :1], torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 1), 0.0)


@settings(max_examples=15, deadline=None)
@given(lead=leading_dims(), n=st.integers(1, 5), d=st.integers(1, 6))
def test_attribute_loss_is_mean_squared_l2(lead, n, d):
    g = torch.Generator().manual_seed(n * d)
    a, r = torch.randn(*lead, n, d, generator=g), torch.randn(*lead, n, d, generator=g)
    flat_a, flat_r = a.reshape(-1, d), r.reshape(-1, d)
    expected = sum(float(((flat_a[i] - flat_r[i]) ** 2).sum()) for i in range(len(flat_a))) / len(flat_a)
    assert float(attribute_loss(a, r)) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_attribute_loss_shape_error():
    with pytest.raises(ShapeError, match=r"a has shape \(2, 3\) but a_rec has shape \(2, 4\)"):
        attribute_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_generator_loss_parts_and_weights():
    g = torch.Generator().manual_seed(0)
    d_fake = torch.randn(2, 4, generator=g)
    a, a_rec = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    logits, y = torch.randn(2, 4, 5, generator=g), torch.randint(0, 5, (2, 4), generator=g)
    total, parts = generator_loss(d_fake, a, a_rec, logits, y, attr_weight=0.5, cls_weight=2.0)
    assert set(parts) == {"adv", "attr", "cls"}
    torch.testing.assert_close(parts["adv"], -d_fake.mean())
    torch.testing.assert_close(parts["attr"], attribute_loss(a, a_rec))
    torch.testing.assert_close(parts["cls"], F.cross_entropy(logits.reshape(8, 5), y.reshape(8)))
    torch.testing.assert_close(total, parts["adv"] + 0.5 * parts["attr"] + 2.0 * parts["cls"])
    total0, parts0 = generator_loss(d_fake, a, None, None, None)
    assert float(parts0["attr"]) == 0.0 and float(parts0["cls"]) == 0.0
    torch.testing.assert_close(total0, parts["adv"])


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (((2, 3), (2, 4, 3), (2, 3, 5), (2, 3)), r"d_fake has shape \(2, 3\) but a has shape \(2, 4, 3\)"),
        (((2, 3), (2, 3, 3), (2, 3, 5), (2, 4)), r"logits have shape \(2, 3, 5\) and y has shape \(2, 4\)"),
    ],
)
def test_generator_loss_shape_errors(shapes, match):
    d, a, logits, y = shapes
    with pytest.raises(ShapeError, match=match):
        generator_loss(
            torch.zeros(d), torch.zeros(a), torch.zeros(a), torch.zeros(logits), torch.zeros(y).long()
        )


def test_generator_loss_needs_integer_labels():
    with pytest.raises(ShapeError, match=r"y must hold integer class indices, got dtype torch.float32"):
        generator_loss(torch.zeros(3), torch.zeros(3, 2), None, torch.zeros(3, 4), torch.zeros(3))


@settings(max_examples=10, deadline=None)
@given(lead=leading_dims(), n=st.integers(2, 6), h=st.integers(1, 5), eps=st.sampled_from([0.8, 1e-5]))
def test_task_batch_norm_equals_batchnorm1d_per_task(lead, n, h, eps):
    g = torch.Generator().manual_seed(n * h)
    x = torch.randn(*lead, n, h, generator=g) * 3 + 1
    w, b = torch.randn(h, generator=g), torch.randn(h, generator=g)
    got = task_batch_norm(x, w, b, eps=eps)
    flat = x.reshape(-1, n, h)
    ref = torch.stack([F.batch_norm(t, None, None, w, b, training=True, eps=eps) for t in flat])
    torch.testing.assert_close(got, ref.reshape(got.shape), atol=1e-5, rtol=1e-5)


def test_task_batch_norm_of_one_sample_is_the_shift():
    b = torch.tensor([0.5, -1.0])
    torch.testing.assert_close(task_batch_norm(torch.randn(3, 1, 2), torch.ones(2), b), b.expand(3, 1, 2))


def test_task_batch_norm_shape_error():
    with pytest.raises(ShapeError, match=r"x must be \(\.\.\., n, h\), got shape \(4,\)"):
        task_batch_norm(torch.zeros(4))
