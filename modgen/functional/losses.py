"""The losses of AMAZ (Eqs. 5-7) as pure functions returning ``(total, parts)``.

``parts`` maps a name to a scalar tensor for logging. The parts keep their autograd graph
(a trainer may differentiate one part on its own, e.g. the attribute loss for AP/AM/AD);
detach them before storing. Every loss accepts leading task dimensions and averages over
everything, and every function runs under ``torch.func.grad`` / ``vmap``: the gradient
penalty takes its input gradient with :func:`torch.func.vjp`, not ``torch.autograd.grad``.

Example:
    >>> import torch
    >>> float(attribute_loss(torch.zeros(2, 3), torch.ones(2, 3)))
    3.0
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from modgen.errors import ConfigError, ShapeError

__all__ = ["critic_loss", "gradient_penalty", "attribute_loss", "generator_loss", "interpolation_epsilon"]

#: ``critic_fn(x (..., n, D), a (..., n, A)) -> scores (..., n)``.
CriticFn = Callable[[Tensor, Tensor], Tensor]

# Keeps sqrt differentiable where the input gradient vanishes (sqrt'(0) is infinite).
_NORM_EPS = 1e-12


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def interpolation_epsilon(x_real: Tensor, generator: torch.Generator | None) -> Tensor:
    """Draw the WGAN-GP interpolation weights ``eps ~ U(0, 1)``, one per sample.

    Args:
        x_real: ``(..., n, D)``; gives the shape, dtype and device.
        generator: the ``torch.Generator`` to draw from (on ``x_real``'s device).

    Returns:
        ``(..., n, 1)``.

    Raises:
        ConfigError: ``generator`` is ``None`` (modgen never draws from the global RNG).

    Example:
        >>> interpolation_epsilon(torch.zeros(4, 3), torch.Generator().manual_seed(0)).shape
        torch.Size([4, 1])
    """
    if generator is None:
        raise ConfigError(
            "critic_loss: the gradient penalty needs random interpolation weights; pass generator= "
            "(a torch.Generator on the data's device) or epsilon= (a tensor of shape (..., n, 1))"
        )
    return torch.rand((*x_real.shape[:-1], 1), generator=generator, device=x_real.device, dtype=x_real.dtype)


def gradient_penalty(
    critic_fn: CriticFn,
    x_real: Tensor,
    x_fake: Tensor,
    a: Tensor,
    *,
    generator: torch.Generator | None = None,
    epsilon: Tensor | None = None,
) -> Tensor:
    """WGAN-GP penalty ``mean((||grad_x D(x_hat, a)||_2 - 1)^2)`` on random interpolates.

    ``x_hat = eps * x_real + (1 - eps) * x_fake`` per sample. The input gradient is taken with
    :func:`torch.func.vjp`, so the penalty is differentiable w.r.t. the critic's parameters
    under plain autograd and under ``torch.func`` transforms alike.

    Args:
        critic_fn: ``(x (..., n, D), a (..., n, A)) -> (..., n)``.
        x_real: ``(..., n, D)`` real features.
        x_fake: ``(..., n, D)`` generated features (detach them for a critic-only update).
        a: ``(..., n, A)`` attributes of the samples.
        generator: draws ``eps`` when ``epsilon`` is not given.
        epsilon: ``(..., n, 1)`` or ``(..., n)`` interpolation weights (use this under ``vmap``,
            where random ops cannot take a generator).

    Returns:
        A scalar tensor.

    Raises:
        ShapeError: the inputs' shapes disagree.
        ConfigError: neither ``generator`` nor ``epsilon`` is given.

    Example:
        >>> critic = lambda x, a: (x * x).sum(-1) / 2  # grad = x
        >>> x = torch.ones(5, 4) / 2  # ||x|| = 1
        >>> gradient_penalty(critic, x, x, torch.zeros(5, 2), epsilon=torch.rand(5, 1))
        tensor(0.)
    """
    _check_critic_inputs(x_real, x_fake, a)
    eps = _epsilon(x_real, generator, epsilon)
    x_hat = eps * x_real + (1 - eps) * x_fake
    out = torch.func.vjp(lambda x: critic_fn(x, a), x_hat)
    scores, vjp_fn = out[0], out[1]
    (grad,) = vjp_fn(torch.ones_like(scores))
    norm = torch.sqrt(grad.square().sum(dim=-1) + _NORM_EPS)
    return (norm - 1).square().mean()


def critic_loss(
    critic_fn: CriticFn,
    x_real: Tensor,
    x_fake: Tensor,
    a: Tensor,
    gp_lambda: float,
    generator: torch.Generator | None = None,
    *,
    epsilon: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """WGAN-GP critic loss, minimised by the critic: ``mean D(fake) - mean D(real) + lambda * GP``.

    Sign convention: the paper's critic objective (Eq. 6) is
    ``L_D = E[D(x, a)] - E[D(G(z, a), a)]``, which D *maximises* (Algorithm 1 adds
    ``alpha_1 * grad L_D``). This function returns ``-L_D + lambda * GP``, so a gradient
    *descent* step on it is the paper's ascent step on ``L_D`` (plus the WGAN-GP penalty, which
    Eq. 6 leaves implicit). Use the same descent optimiser for every parameter group.

    Args:
        critic_fn: ``(x (..., n, D), a (..., n, A)) -> scores (..., n)``, e.g. a critic module
            or ``lambda x, a: torch.func.functional_call(critic, params, (x, a))``.
        x_real: ``(..., n, D)`` real features.
        x_fake: ``(..., n, D)`` generated features.
        a: ``(..., n, A)`` their attributes (the critic is conditional).
        gp_lambda: weight of the gradient penalty; 0 skips it.
        generator: ``torch.Generator`` for the interpolation weights.
        epsilon: the interpolation weights ``(..., n, 1)`` instead of ``generator``.

    Returns:
        ``(total, parts)`` with parts ``real`` (mean D(real)), ``fake`` (mean D(fake)),
        ``wasserstein`` (real - fake, the critic's estimate of the distance) and ``gp``.

    Raises:
        ShapeError: shapes disagree, or the critic's scores are not ``(..., n)``.
        ConfigError: ``gp_lambda`` is negative, or positive with neither ``generator`` nor
            ``epsilon``.

    Example:
        >>> critic = lambda x, a: x.sum(-1) + a.sum(-1)
        >>> x_real, x_fake, a = torch.ones(4, 3), torch.zeros(4, 3), torch.zeros(4, 2)
        >>> total, parts = critic_loss(critic, x_real, x_fake, a, 10.0, torch.Generator().manual_seed(0))
        >>> sorted(parts), float(parts["wasserstein"])
        (['fake', 'gp', 'real', 'wasserstein'], 3.0)
    """
    if isinstance(gp_lambda, bool) or not isinstance(gp_lambda, (int, float)) or gp_lambda < 0:
        raise ConfigError(f"critic_loss: gp_lambda must be a number >= 0, got {gp_lambda!r}")
    _check_critic_inputs(x_real, x_fake, a)
    d_real = critic_fn(x_real, a)
    d_fake = critic_fn(x_fake, a)
    for name, d in (("real", d_real), ("fake", d_fake)):
        if d.shape != x_real.shape[:-1]:
            raise ShapeError(
                f"critic_loss: the critic's scores on {name} features have shape {_shape(d)}, "
                f"expected {_shape(x_real)[:-1]} (one score per sample)"
            )
    real, fake = d_real.mean(), d_fake.mean()
    if gp_lambda > 0:
        gp = gradient_penalty(critic_fn, x_real, x_fake, a, generator=generator, epsilon=epsilon)
    else:
        gp = torch.zeros((), dtype=real.dtype, device=real.device)
    total = fake - real + gp_lambda * gp
    return total, {"real": real, "fake": fake, "wasserstein": real - fake, "gp": gp}


def attribute_loss(a: Tensor, a_rec: Tensor) -> Tensor:
    """Attribute reconstruction loss of Eq. 5: the mean over samples of ``||a - a_rec||_2^2``.

    Args:
        a: ``(..., n, A)`` true attributes.
        a_rec: ``(..., n, A)`` attributes reconstructed by AD from generated features.

    Returns:
        A scalar tensor (mean over every leading and sample index).

    Raises:
        ShapeError: the shapes differ.

    Example:
        >>> attribute_loss(torch.zeros(2, 4, 3), torch.ones(2, 4, 3))
        tensor(3.)
    """
    if a.shape != a_rec.shape:
        raise ShapeError(
            f"attribute_loss: a has shape {_shape(a)} but a_rec has shape {_shape(a_rec)}; "
            "expected the same (..., n, A)"
        )
    if a.dim() < 1:
        raise ShapeError(f"attribute_loss: a must be (..., n, A), got shape {_shape(a)}")
    return (a - a_rec).square().sum(dim=-1).mean()


def generator_loss(
    d_fake: Tensor,
    a: Tensor,
    a_rec: Tensor | None,
    logits: Tensor | None,
    y: Tensor | None,
    attr_weight: float = 1.0,
    cls_weight: float = 1.0,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Generator loss of Eq. 7: ``-mean D(G(z, a), a) + attr_weight * L_AD + cls_weight * CE``.

    Args:
        d_fake: ``(..., n)`` critic scores of the generated features.
        a: ``(..., n, A)`` the attributes they were generated from.
        a_rec: ``(..., n, A)`` AD's reconstruction of ``a``, or ``None`` (attr part 0).
        logits: ``(..., n, C)`` the auxiliary classifier's logits, or ``None`` (cls part 0).
        y: ``(..., n)`` integer class labels (indices into the ``C`` logits).
        attr_weight: weight of the attribute term (Eq. 7 uses 1).
        cls_weight: weight of the classification term (Eq. 7 uses 1).

    Returns:
        ``(total, parts)`` with the unweighted parts ``adv``, ``attr`` and ``cls``.

    Raises:
        ShapeError: the shapes disagree (the message gives both) or ``y`` is not integer.

    Example:
        >>> d = torch.zeros(2, 5)
        >>> a = torch.zeros(2, 5, 3)
        >>> logits, y = torch.zeros(2, 5, 4), torch.zeros(2, 5, dtype=torch.long)
        >>> total, parts = generator_loss(d, a, a, logits, y)
        >>> round(float(parts["cls"]), 4), float(parts["attr"]), float(parts["adv"])
        (1.3863, 0.0, -0.0)
    """
    if d_fake.shape != a.shape[:-1]:
        raise ShapeError(
            f"generator_loss: d_fake has shape {_shape(d_fake)} but a has shape {_shape(a)}; "
            "expected d_fake (..., n) and a (..., n, A)"
        )
    zero = torch.zeros((), dtype=d_fake.dtype, device=d_fake.device)
    adv = -d_fake.mean()
    attr = attribute_loss(a, a_rec) if a_rec is not None else zero
    if logits is not None:
        if y is None:
            raise ShapeError("generator_loss: logits were given without labels y")
        if logits.shape[:-1] != y.shape or y.shape != d_fake.shape:
            raise ShapeError(
                f"generator_loss: logits have shape {_shape(logits)} and y has shape {_shape(y)}; "
                f"expected logits (..., n, C) and y (..., n) with (..., n) = {_shape(d_fake)}"
            )
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
            raise ShapeError(f"generator_loss: y must hold integer class indices, got dtype {y.dtype}")
        cls = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long())
    else:
        cls = zero
    total = adv + attr_weight * attr + cls_weight * cls
    return total, {"adv": adv, "attr": attr, "cls": cls}


def _check_critic_inputs(x_real: Tensor, x_fake: Tensor, a: Tensor) -> None:
    if x_real.shape != x_fake.shape:
        raise ShapeError(
            f"critic_loss: x_real has shape {_shape(x_real)} but x_fake has shape {_shape(x_fake)}; "
            "expected the same (..., n, D)"
        )
    if x_real.dim() < 2 or a.dim() != x_real.dim() or a.shape[:-1] != x_real.shape[:-1]:
        raise ShapeError(
            f"critic_loss: x has shape {_shape(x_real)} but a has shape {_shape(a)}; "
            "expected x (..., n, D) and a (..., n, A) with the same (..., n)"
        )


def _epsilon(x_real: Tensor, generator: torch.Generator | None, epsilon: Tensor | None) -> Tensor:
    if epsilon is None:
        return interpolation_epsilon(x_real, generator)
    want = (*x_real.shape[:-1], 1)
    if epsilon.shape == x_real.shape[:-1]:
        epsilon = epsilon.unsqueeze(-1)
    if tuple(epsilon.shape) != want:
        raise ShapeError(
            f"critic_loss: epsilon has shape {_shape(epsilon)}, expected {want} (one weight per sample)"
        )
    return epsilon
