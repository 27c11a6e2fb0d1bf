"""Contract checks of the network kinds: generator, modulator, critic, auxiliary classifier,
attribute decoder and quality weighter.

Each ``check_<kind>(cls, **params)`` builds ``cls`` the way :func:`modgen.assembly.build_assembly`
does (small dims by default, overridable by keyword), then checks:

* output shapes without and with leading task dims ``(..., n, ·)``, in train and eval mode;
* all outputs finite;
* every parameter gets a finite, non-zero gradient from a random projection of the outputs;
* ``torch.func.functional_call`` reproduces the module, and ``torch.func.grad`` through it
  gives finite gradients for every parameter;
* ``torch.func.vmap`` over the task dim equals the batched call (per-task statistics);
* kind-specific contracts (the generator calls ``modulation(j, o_j)`` for every modulated
  output; the critic's WGAN-GP loss runs under ``torch.func.grad``; ...).

Example:
    >>> from modgen.nn import MLPCritic
    >>> critic = check_critic(MLPCritic, hidden=(16, 8))
    >>> type(critic).__name__
    'MLPCritic'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from modgen.testing.contracts._common import (
    ATOL,
    RTOL,
    ContractError,
    as_device,
    build,
    check_tensor,
    fail,
    randn,
    seeded,
)

__all__ = [
    "check_generator",
    "check_modulator",
    "check_critic",
    "check_aux_classifier",
    "check_attribute_decoder",
    "check_quality_weighter",
]


def _require_module(who: str, obj: Any) -> nn.Module:
    if not isinstance(obj, nn.Module):
        fail(who, f"expected a torch.nn.Module, got {type(obj).__name__}")
    return obj


def _check_gradients(
    who: str, module: nn.Module, loss_fn: Callable[[], Tensor], *, skip: Sequence[str] = ()
) -> None:
    """Every trainable parameter gets a finite, non-zero gradient from ``loss_fn()``."""
    module.zero_grad(set_to_none=True)
    loss = loss_fn()
    if not torch.isfinite(loss):
        fail(who, f"the test loss is not finite ({float(loss)})")
    loss.backward()
    problems = []
    for name, p in module.named_parameters():
        if not p.requires_grad or name in skip:
            continue
        if p.grad is None:
            problems.append(f"{name}: no gradient")
        elif not torch.isfinite(p.grad).all():
            problems.append(f"{name}: NaN/inf gradient")
        elif not (p.grad != 0).any():
            problems.append(f"{name}: gradient is all zeros")
    module.zero_grad(set_to_none=True)
    if problems:
        fail(who, "every parameter must get a finite, non-zero gradient; " + "; ".join(problems))


def _params(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach() for k, v in module.named_parameters()}


def _check_functional(
    who: str, module: nn.Module, args: tuple[Tensor, ...], out_fn: Callable[[Any], Tensor], batched: bool
) -> None:
    """functional_call equals the module; grad works through it; vmap over dim 0 equals the batch."""
    params = _params(module)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            expected = out_fn(module(*args))
            got = out_fn(torch.func.functional_call(module, params, args))
        if not torch.allclose(got, expected, atol=ATOL, rtol=RTOL):
            fail(who, "torch.func.functional_call(module, params, args) differs from module(*args)")

        def loss(p: dict[str, Tensor]) -> Tensor:
            return out_fn(torch.func.functional_call(module, p, args)).square().mean()

        grads = torch.func.grad(loss)(params)
        if set(grads) != set(params):
            fail(who, "torch.func.grad over functional_call did not return every parameter")
        bad = [k for k, g in grads.items() if not torch.isfinite(g).all()]
        if bad:
            fail(who, f"torch.func.grad gives NaN/inf gradients for {', '.join(bad)}")
        if batched:

            def one(p: dict[str, Tensor], *xs: Tensor) -> Tensor:
                return out_fn(torch.func.functional_call(module, p, xs))

            in_dims = (None, *([0] * len(args)))
            try:
                vm = torch.func.vmap(one, in_dims=in_dims)(params, *args)
            except Exception as err:
                raise ContractError(
                    f"{who}: torch.func.vmap over the task dim failed: {type(err).__name__}: {err}"
                ) from err
            if not torch.allclose(vm, expected, atol=ATOL, rtol=RTOL):
                fail(
                    who,
                    "torch.func.vmap over the leading task dim differs from the batched call; "
                    "statistics (e.g. BatchNorm) must be per task, over the sample dim -2",
                )
    finally:
        module.train(was_training)


def _projection(shape: Sequence[int], device: torch.device, seed: int) -> Tensor:
    return randn(shape, torch.Generator(device=device).manual_seed(seed + 1), device)


def _task_shapes(leading: Sequence[int]) -> list[tuple[int, ...]]:
    return [(), tuple(leading)] if tuple(leading) else [()]


class _RecordingModulation:
    """A modulation that records each ``(j, width)`` and returns ``o`` (or ``o * scale``)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.calls: list[tuple[int, int]] = []
        self.scale = scale

    def __call__(self, j: int, o: Tensor) -> Tensor:
        self.calls.append((j, int(o.shape[-1])))
        return o if self.scale == 1.0 else o * self.scale


# ------------------------------------------------------------------------------------------------
def check_generator(
    cls: Any,
    *,
    attr_dim: int = 5,
    feature_dim: int = 7,
    noise_dim: int = 3,
    n: int = 4,
    leading: Sequence[int] = (2,),
    device: torch.device | str | None = None,
    seed: int = 0,
    **params: Any,
) -> nn.Module:
    """Check a generator class: ``cls(attr_dim=, feature_dim=, noise_dim=, **params)``.

    Beyond the common checks: ``modulated_dims`` starts with ``Z + A``; ``forward`` calls
    ``modulation(j, o_j)`` once for each ``j`` in order with ``o_j`` of width ``d_j``; an
    identity modulation gives the unmodulated output (eval mode).

    Returns:
        The built generator.

    Example:
        >>> from modgen.nn import MLPGenerator
        >>> check_generator(MLPGenerator, hidden=16).modulated_dims
        [8, 16, 16, 16, 16, 7]
    """
    who = f"generator {getattr(cls, '__name__', cls)}"
    dev = as_device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    dims = {"attr_dim": attr_dim, "feature_dim": feature_dim, "noise_dim": noise_dim}
    with seeded(seed, dev):
        g = _require_module(who, build(who, cls, dims, params, dev))
        mdims = getattr(g, "modulated_dims", None)
        if mdims is None or not len(mdims) or any(not isinstance(d, int) or d <= 0 for d in mdims):
            fail(who, f"modulated_dims must list positive int widths, got {mdims!r}")
        if mdims[0] != noise_dim + attr_dim:
            fail(
                who,
                f"modulated_dims[0] must be Z + A = {noise_dim + attr_dim} (the input [z, a]), got {mdims[0]}",
            )

        def inputs(lead: tuple[int, ...]) -> tuple[Tensor, Tensor]:
            return randn((*lead, n, noise_dim), gen, dev), randn((*lead, n, attr_dim), gen, dev)

        for mode in (True, False):
            g.train(mode)
            for lead in _task_shapes(leading):
                check_tensor(
                    who, f"G(z, a) with leading dims {lead}", g(*inputs(lead)), (*lead, n, feature_dim)
                )
        g.train()
        z, a = inputs(tuple(leading))
        rec = _RecordingModulation()
        g.eval()
        with torch.no_grad():
            plain, modded = g(z, a), g(z, a, rec)
        g.train()
        want = [(j, int(d)) for j, d in enumerate(mdims)]
        if rec.calls != want:
            fail(who, f"forward(z, a, modulation) must call modulation(j, o_j) as {want}, called {rec.calls}")
        if not torch.allclose(plain, modded, atol=ATOL, rtol=RTOL):
            fail(who, "an identity modulation must give the unmodulated output")
        proj = _projection((*leading, n, feature_dim), dev, seed)
        _check_gradients(who, g, lambda: (g(z, a) * proj).sum())
        _check_functional(who, g, (z, a), lambda out: out, batched=bool(tuple(leading)))
    return g


def check_modulator(
    cls: Any,
    *,
    attr_dim: int = 5,
    target_dims: Sequence[int] = (8, 6, 7),
    n_way: int = 3,
    n: int = 4,
    leading: Sequence[int] = (2,),
    device: torch.device | str | None = None,
    seed: int = 0,
    **params: Any,
) -> nn.Module:
    """Check a modulator class: ``cls(attr_dim=, target_dims=, **params)``.

    ``forward(task_attributes (..., N, A))`` must return ``None`` (then the modulator must have
    no trainable parameters) or a modulation ``m`` with ``m(j, o)`` of ``o``'s shape for each
    ``j`` and ``o`` ``(..., n, d_j)``.

    Returns:
        The built modulator.

    Example:
        >>> from modgen.nn import AttributeModulator
        >>> type(check_modulator(AttributeModulator, hidden=8, gate="softmax")).__name__
        'AttributeModulator'
    """
    who = f"modulator {getattr(cls, '__name__', cls)}"
    dev = as_device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    tdims = [int(d) for d in target_dims]
    with seeded(seed, dev):
        m = _require_module(
            who, build(who, cls, {"attr_dim": attr_dim, "target_dims": list(tdims)}, params, dev)
        )
        lead = tuple(leading)
        ta = randn((*lead, n_way, attr_dim), gen, dev)
        os_ = [randn((*lead, n, d), gen, dev) for d in tdims]
        first = m(ta)
        if first is None:
            trainable = [k for k, p in m.named_parameters() if p.requires_grad]
            if trainable:
                fail(who, f"returns None (no modulation) but has trainable parameters {trainable}")
            if m(randn((n_way, attr_dim), gen, dev)) is not None:
                fail(who, "returns None for some task attributes and a modulation for others")
            return m
        if not callable(first):
            fail(
                who,
                f"forward must return a callable modulation (j, o) -> o_hat or None, got {type(first).__name__}",
            )

        def apply(mod: Any, outs: Sequence[Tensor]) -> list[Tensor]:
            return [mod(j, o) for j, o in enumerate(outs)]

        for mode in (True, False):
            m.train(mode)
            for tl in _task_shapes(leading):
                t_attrs = randn((*tl, n_way, attr_dim), gen, dev)
                outs = [randn((*tl, n, d), gen, dev) for d in tdims]
                for j, (o, r) in enumerate(zip(outs, apply(m(t_attrs), outs), strict=True)):
                    check_tensor(who, f"modulation({j}, o) with leading dims {tl}", r, tuple(o.shape))
        m.train()
        projs = [_projection(o.shape, dev, seed + j) for j, o in enumerate(os_)]
        _check_gradients(
            who,
            m,
            lambda: torch.stack([(r * p).sum() for r, p in zip(apply(m(ta), os_), projs, strict=True)]).sum(),
        )
        for j in range(len(tdims)):
            _check_functional(
                who,
                _ModulatorAt(m, j),
                (ta, os_[j]),
                lambda out: out,
                batched=bool(lead),
            )
    return m


class _ModulatorAt(nn.Module):
    """``(task_attributes, o) -> modulator(task_attributes)(j, o)`` as a module (for torch.func)."""

    def __init__(self, modulator: nn.Module, j: int) -> None:
        super().__init__()
        self.modulator = modulator
        self.j = j

    def forward(self, task_attributes: Tensor, o: Tensor) -> Tensor:
        return self.modulator(task_attributes)(self.j, o)


def check_critic(
    cls: Any,
    *,
    feature_dim: int = 7,
    attr_dim: int = 5,
    n: int = 4,
    leading: Sequence[int] = (2,),
    device: torch.device | str | None = None,
    seed: int = 0,
    **params: Any,
) -> nn.Module:
    """Check a critic class: ``cls(feature_dim=, attr_dim=, **params)``, ``(x, a) -> (..., n)``.

    Also runs :func:`modgen.functional.critic_loss` with its gradient penalty under
    ``torch.func.grad`` (what the meta-trainer does) and checks every gradient is finite.

    Returns:
        The built critic.
    """
    from modgen.functional.losses import critic_loss

    who = f"critic {getattr(cls, '__name__', cls)}"
    dev = as_device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    with seeded(seed, dev):
        d = _require_module(
            who, build(who, cls, {"feature_dim": feature_dim, "attr_dim": attr_dim}, params, dev)
        )

        def inputs(lead: tuple[int, ...]) -> tuple[Tensor, Tensor]:
            return randn((*lead, n, feature_dim), gen, dev), randn((*lead, n, attr_dim), gen, dev)

        for mode in (True, False):
            d.train(mode)
            for lead in _task_shapes(leading):
                check_tensor(who, f"D(x, a) with leading dims {lead}", d(*inputs(lead)), (*lead, n))
        d.train()
        x, a = inputs(tuple(leading))
        proj = _projection((*leading, n), dev, seed)
        _check_gradients(who, d, lambda: (d(x, a) * proj).sum())
        _check_functional(who, d, (x, a), lambda out: out, batched=bool(tuple(leading)))
        x_fake = randn(x.shape, gen, dev)
        eps = torch.rand((*x.shape[:-1], 1), generator=gen, device=dev)
        params_ = _params(d)

        def loss(p: dict[str, Tensor]) -> Tensor:
            fn = lambda xx, aa: torch.func.functional_call(d, p, (xx, aa))  # noqa: E731
            return critic_loss(fn, x, x_fake, a, 10.0, epsilon=eps)[0]

        d.eval()
        try:
            grads = torch.func.grad(loss)(params_)
        except Exception as err:
            raise ContractError(
                f"{who}: critic_loss with gradient penalty failed under torch.func.grad: {type(err).__name__}: {err}"
            ) from err
        finally:
            d.train()
        bad = [k for k, g in grads.items() if not torch.isfinite(g).all()]
        if bad:
            fail(who, f"critic_loss gradients are NaN/inf for {', '.join(bad)}")
    return d


def _check_head(
    who: str,
    cls: Any,
    dims: dict[str, int],
    out_dim: int,
    n: int,
    leading: Sequence[int],
    device: torch.device | str | None,
    seed: int,
    params: dict[str, Any],
) -> nn.Module:
    dev = as_device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    feature_dim = dims["feature_dim"]
    with seeded(seed, dev):
        h = _require_module(who, build(who, cls, dims, params, dev))
        for mode in (True, False):
            h.train(mode)
            for lead in _task_shapes(leading):
                out = h(randn((*lead, n, feature_dim), gen, dev))
                check_tensor(who, f"output with leading dims {lead}", out, (*lead, n, out_dim))
        h.train()
        x = randn((*leading, n, feature_dim), gen, dev)
        proj = _projection((*leading, n, out_dim), dev, seed)
        _check_gradients(who, h, lambda: (h(x) * proj).sum())
        _check_functional(who, h, (x,), lambda out: out, batched=bool(tuple(leading)))
    return h


def check_aux_classifier(
    cls: Any,
    *,
    feature_dim: int = 7,
    num_classes: int = 3,
    n: int = 4,
    leading: Sequence[int] = (2,),
    device: torch.device | str | None = None,
    seed: int = 0,
    **params: Any,
) -> nn.Module:
    """Check an auxiliary classifier: ``cls(feature_dim=, num_classes=, **params)``, ``x -> (..., n, C)``.

    Returns:
        The built classifier.
    """
    who = f"aux_classifier {getattr(cls, '__name__', cls)}"
    dims = {"feature_dim": feature_dim, "num_classes": num_classes}
    return _check_head(who, cls, dims, num_classes, n, leading, device, seed, params)


def check_attribute_decoder(
    cls: Any,
    *,
    feature_dim: int = 7,
    attr_dim: int = 5,
    n: int = 4,
    leading: Sequence[int] = (2,),
    device: torch.device | str | None = None,
    seed: int = 0,
    **params: Any,
) -> nn.Module:
    """Check an attribute decoder: ``cls(feature_dim=, attr_dim=, **params)``, ``x -> (..., n, A)``.

    Returns:
        The built decoder.
    """
    who = f"attribute_decoder {getattr(cls, '__name__', cls)}"
    dims = {"feature_dim": feature_dim, "attr_dim": attr_dim}
    return _check_head(who, cls, dims, attr_dim, n, leading, device, seed, params)


def check_quality_weighter(
    cls: Any,
    *,
    attr_dim: int = 5,
    num_classes: int = 3,
    n: int = 6,
    device: torch.device | str | None = None,
    seed: int = 0,
    **params: Any,
) -> Any:
    """Check a quality weighter: ``cls(**params)`` with ``sample_weights`` and ``class_weights``.

    ``sample_weights((n, A), (n, A)) -> (n,)`` and ``class_weights((n,), labels (n,), C) -> (C,)``,
    finite, on the inputs' device.

    Returns:
        The built weighter.
    """
    who = f"quality_weighter {getattr(cls, '__name__', cls)}"
    dev = as_device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    q = build(who, cls, {}, params, dev)
    for method in ("sample_weights", "class_weights"):
        if not callable(getattr(q, method, None)):
            fail(who, f"has no method {method}")
    a = randn((n, attr_dim), gen, dev)
    a_rec = a + 0.5 * randn((n, attr_dim), gen, dev)
    sw = check_tensor(who, "sample_weights(a, a_rec)", q.sample_weights(a, a_rec), (n,))
    if sw.device != a.device:
        fail(who, f"sample_weights are on {sw.device}, expected the inputs' device {a.device}")
    labels = torch.arange(n, device=dev) % num_classes
    cw = check_tensor(
        who, "class_weights(sw, labels, C)", q.class_weights(sw, labels, num_classes), (num_classes,)
    )
    if cw.device != a.device:
        fail(who, f"class_weights are on {cw.device}, expected the inputs' device {a.device}")
    return q
