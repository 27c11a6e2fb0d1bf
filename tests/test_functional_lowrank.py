"""Per-task parameters (modgen.functional.lowrank) against every task's own materialised copy
(torch.func.vmap + torch.func.grad), by hand, under gradcheck, and their error messages."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from modgen.errors import ConfigError, ShapeError
from modgen.functional.lowrank import LowRankStep, TaskParameter, per_task, task_grads
from modgen.functional.maml import inner_grads, is_per_task, sgd_update
from modgen.functional.normalization import task_batch_norm

T, N, IN, HID, OUT = 3, 4, 3, 5, 2


def _params(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"w1": (HID, IN), "b1": (HID,), "g": (HID,), "beta": (HID,), "w2": (OUT, HID), "b2": (OUT,)}
    return {k: torch.randn(s, generator=g, dtype=torch.float64).requires_grad_() for k, s in shapes.items()}


def _net(q, x):
    """FC -> per-task BatchNorm -> LeakyReLU -> FC, ``(T, n, IN) -> (T, n, OUT)``."""
    h = task_batch_norm(F.linear(x, q["w1"], q["b1"]), q["g"], q["beta"], eps=0.1)
    return F.linear(F.leaky_relu(h, 0.2), q["w2"], q["b2"])


def _loss(q, x, y):
    """Mean over tasks of each task's mean squared error (a mean over all rows)."""
    return (_net(q, x) - y).square().mean()


def _input_gradient_penalty(q, x, y):
    """A critic-like loss: the network's input gradient is differentiated (as WGAN-GP does)."""
    scores, vjp = torch.func.vjp(lambda v: _net(q, v).sum(-1), x)
    (gx,) = vjp(torch.ones_like(scores))
    return _loss(q, x, y) + gx.square().sum(-1).mean()


def _data(seed: int):
    g = torch.Generator().manual_seed(seed)
    xs, ys, xq, yq = (
        torch.randn(T, n, d, generator=g, dtype=torch.float64)
        for n, d in ((N, IN), (N, OUT), (N + 1, IN), (N + 1, OUT))
    )
    return xs, ys, xq, yq


def _meta_grads_factored(p, data, *, loss, steps, first_order, lr, factored):
    xs, ys, xq, yq = data
    q = per_task(p, tasks=T, factored=factored)
    for _ in range(steps):
        g = inner_grads(lambda r: loss(r, xs, ys), q, list(q), first_order=first_order)
        q = sgd_update(q, list(q), g, lr)
    return torch.autograd.grad(_loss(q, xq, yq), list(p.values()))


def _meta_grads_materialised(p, data, *, loss, steps, first_order, lr):
    """The reference: vmap over tasks, every task its own adapted copy of every parameter."""
    xs, ys, xq, yq = data

    def one_task(x_s, y_s, x_q, y_q):
        q = dict(p)
        for _ in range(steps):
            g = torch.func.grad(lambda r: loss(r, x_s[None], y_s[None]))(q)
            q = {k: q[k] - lr * (g[k].detach() if first_order else g[k]) for k in q}
        return _loss(q, x_q[None], y_q[None])

    losses = torch.func.vmap(one_task)(xs, ys, xq, yq)
    return torch.autograd.grad(losses.mean(), list(p.values()))


@pytest.mark.parametrize("factored", [["w1", "w2"], []], ids=["factored", "dense"])
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("first_order", [True, False], ids=["first-order", "second-order"])
def test_per_task_meta_gradients_equal_materialised_copies(first_order, steps, factored):
    p, data = _params(0), _data(1)
    kw = {"loss": _loss, "steps": steps, "first_order": first_order, "lr": 0.3}
    got = _meta_grads_factored(p, data, factored=factored, **kw)
    want = _meta_grads_materialised(p, data, **kw)
    for k, a, b in zip(p, got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=k)
    # the adaptation matters: without it the meta-gradients are far off
    plain = torch.autograd.grad(_loss(p, data[2], data[3]), list(p.values()))
    assert max(float((a - b).abs().max()) for a, b in zip(plain, want, strict=True)) > 1e-3


@pytest.mark.parametrize("first_order", [True, False], ids=["first-order", "second-order"])
def test_dense_parameters_differentiated_through_their_input_gradient_equal_materialised(first_order):
    """A gradient penalty uses the weights in a backward pass too: dense per-task parameters
    (what the meta-trainer uses for the critic) get that right."""
    p, data = _params(2), _data(3)
    kw = {"loss": _input_gradient_penalty, "steps": 2, "first_order": first_order, "lr": 0.1}
    got = _meta_grads_factored(p, data, factored=[], **kw)
    want = _meta_grads_materialised(p, data, **kw)
    for k, a, b in zip(p, got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=k)


def test_factored_weight_differentiated_through_an_input_gradient_is_refused():
    p, (xs, ys, _, _) = _params(0), _data(1)
    q = per_task(p, tasks=T, factored=["w1"])
    with pytest.raises(
        ConfigError, match=r"'w1'.*inside a torch.func transform.*keep this network's weights dense"
    ):
        task_grads(lambda r: _input_gradient_penalty(r, xs, ys), q, list(q), first_order=True)


@pytest.mark.parametrize("factored", [True, False], ids=["factored", "dense"])
def test_per_task_step_of_a_quadratic_by_hand(factored):
    """Task t: L_s = (x_t w - 1)^2, L_q = (x_t w' - 3)^2, w' = w - lr dL_s/dw = w - 2 lr (x_t w - 1) x_t.

    Meta-gradient of the mean over tasks: mean_t 2 (x_t w' - 3) x_t dw'/dw with dw'/dw = 1 - 2 lr x_t^2
    (second order) or 1 (first order).
    """
    w0, lr, xs = 0.5, 0.1, torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)
    x = xs.reshape(3, 1, 1)
    for first_order in (False, True):
        w = torch.tensor([[w0]], dtype=torch.float64, requires_grad=True)
        q = per_task({"w": w}, tasks=3, factored=["w"] if factored else [])
        g = inner_grads(
            lambda r: (F.linear(x, r["w"]) - 1).square().mean(), q, ["w"], first_order=first_order
        )
        adapted = sgd_update(q, ["w"], g, lr)
        (meta,) = torch.autograd.grad((F.linear(x, adapted["w"]) - 3).square().mean(), [w])
        w1 = w0 - 2 * lr * (xs * w0 - 1) * xs
        factor = 1.0 if first_order else 1 - 2 * lr * xs**2
        want = (2 * (xs * w1 - 3) * xs * factor).mean()
        assert float(meta) == pytest.approx(float(want), rel=1e-12)


def test_second_order_factored_step_passes_gradcheck():
    data = _data(5)

    def meta_loss(w1, b1, w2):
        p = {**{k: v.detach() for k, v in _params(4).items()}, "w1": w1, "b1": b1, "w2": w2}
        q = per_task(p, tasks=T, factored=["w1", "w2"])
        for _ in range(2):
            g = inner_grads(lambda r: _loss(r, data[0], data[1]), q, list(q), first_order=False)
            q = sgd_update(q, list(q), g, 0.2)
        return _loss(q, data[2], data[3])

    p = _params(4)
    assert torch.autograd.gradcheck(meta_loss, (p["w1"], p["b1"], p["w2"]))


def test_task_grads_of_a_factored_weight_are_its_support_rows():
    p, (xs, ys, _, _) = _params(0), _data(1)
    q = per_task(p, tasks=T, factored=["w1", "w2"])
    g = dict(zip(q, task_grads(lambda r: _loss(r, xs, ys), q, list(q), first_order=True), strict=True))
    assert (
        isinstance(g["w1"], LowRankStep) and g["w1"].u.shape == (T, N, HID) and g["w1"].v.shape == (T, N, IN)
    )
    assert torch.equal(g["w1"].v, xs)
    assert isinstance(g["b1"], torch.Tensor) and g["b1"].shape == (T, HID)
    # U_t^T V_t is task t's own gradient
    for t in range(T):
        (own,) = torch.autograd.grad(_loss(p, xs[t : t + 1], ys[t : t + 1]), [p["w1"]])
        torch.testing.assert_close(g["w1"].u[t].T @ g["w1"].v[t], own)


def test_per_task_parameter_refuses_what_it_cannot_compute():
    p = _params(0)
    q = per_task(p, tasks=T, factored=["w1"])
    with pytest.raises(
        ConfigError,
        match=r"'w1' is a factored weight; it can only be used through torch.nn.functional.linear",
    ):
        torch.ones(T, 1, IN) * q["w1"]
    with pytest.raises(
        ConfigError, match=r"'w1': 'matmul' is not supported on a per-task parameter.*adaptation=batch"
    ):
        torch.matmul(q["w1"], torch.ones(IN, 1, dtype=torch.float64))
    with pytest.raises(ConfigError, match=r"'w1': '.mT' is not supported on a per-task parameter"):
        _ = q["w1"].mT
    with pytest.raises(ShapeError, match=r"'w1'.*input has shape \(2, 4, 3\); expected \(T=3, \.\.\., in\)"):
        F.linear(torch.ones(2, 4, IN, dtype=torch.float64), q["w1"])
    stepped = q["g"].descend(torch.ones(T, HID, dtype=torch.float64), 0.1)
    with pytest.raises(ShapeError, match=r"'g'.*other operand has shape \(5,\); expected \(T=3, \.\.\., 5\)"):
        torch.ones(HID, dtype=torch.float64) * stepped
    with pytest.raises(ShapeError, match=r"per_task: factored parameter 'b1' must be a 2-d weight"):
        per_task(p, tasks=T, factored=["b1"])
    with pytest.raises(TypeError, match="all per task or all shared"):
        is_per_task({**p, "w1": q["w1"]}, ["w1", "w2"])
    with pytest.raises(TypeError, match="'w1' is factored: its gradient must be a LowRankStep"):
        q["w1"].descend(torch.zeros(T, HID, IN), 0.1)
    assert isinstance(q["w1"], TaskParameter) and q["w1"].shape == p["w1"].shape
    assert "TaskParameter('w1', shape=(5, 3), tasks=3, factored, 0 low-rank step(s))" == repr(q["w1"])
