"""Functional MAML pieces: inner-loop gradients and updates on parameter dicts.

Parameters are plain ``{name: Tensor}`` dicts (as for :func:`torch.func.functional_call`). The
same two functions serve plain autograd (one adaptation for a batch of tasks) and
:func:`torch.func.vmap` (one adaptation per task).

Example (one MAML step on ``L_s(t) = (t - 1)^2``, then the query loss ``L_q(t) = (t - 3)^2``):
    >>> import torch
    >>> p = {"t": torch.tensor(0.0, requires_grad=True)}
    >>> g = inner_grads(lambda q: (q["t"] - 1) ** 2, p, ["t"], first_order=False)
    >>> adapted = sgd_update(p, ["t"], g, lr=0.25)  # t' = 0 - 0.25 * (-2) = 0.5
    >>> (meta,) = torch.autograd.grad((adapted["t"] - 3) ** 2, [p["t"]])
    >>> float(meta)  # 2 (t' - 3) (1 - 2 lr) = -5 * 0.5
    -2.5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["inner_grads", "sgd_update"]

Params = dict[str, Tensor]


def inner_grads(
    loss_fn: Callable[[Params], Tensor],
    params: Params,
    keys: Sequence[str],
    *,
    first_order: bool,
    backend: str = "autograd",
) -> list[Tensor]:
    """Gradients of ``loss_fn(params)`` with respect to ``params[k]`` for ``k`` in ``keys``.

    Args:
        loss_fn: ``params -> scalar``.
        params: the parameter dict (the ``keys`` entries must require grad for ``autograd``).
        keys: which parameters to differentiate.
        first_order: treat the gradients as constants (first-order MAML); otherwise they stay
            differentiable, so a meta-gradient through the update is second order.
        backend: ``"autograd"`` (:func:`torch.autograd.grad`) or ``"func"``
            (:func:`torch.func.grad`, usable inside :func:`torch.func.vmap`).

    Returns:
        One gradient per key (zeros where the loss does not depend on the parameter).
    """
    if backend == "autograd":
        loss = loss_fn(params)
        grads = torch.autograd.grad(
            loss, [params[k] for k in keys], create_graph=not first_order, allow_unused=True
        )
        return [torch.zeros_like(params[k]) if g is None else g for k, g in zip(keys, grads, strict=True)]
    if backend == "func":

        def sub_loss(sub: Params) -> Tensor:
            return loss_fn({**params, **sub})

        g = torch.func.grad(sub_loss)({k: params[k] for k in keys})
        return [g[k].detach() if first_order else g[k] for k in keys]
    raise ValueError(f"inner_grads: backend must be 'autograd' or 'func', got {backend!r}")


def sgd_update(
    params: Params, keys: Sequence[str], grads: Sequence[Tensor], lr: float, *, foreach: bool = False
) -> Params:
    """A new dict with ``params[k] - lr * grad`` for each key (the others shared, unchanged).

    One fused ``p + (-lr) * g`` per tensor; with ``foreach=True`` one multi-tensor kernel for the
    whole group (fewer GPU launches; not usable under :func:`torch.func.vmap`, which has no
    batching rule for it, nor with tensors on different devices). Both are differentiable, so
    second-order meta-gradients flow through them.
    """
    if not keys:
        return params
    out = dict(params)
    if foreach and all(params[k].device == grads[0].device for k in keys):
        updated = torch._foreach_add([params[k] for k in keys], list(grads), alpha=-lr)
    else:
        updated = [torch.add(params[k], g, alpha=-lr) for k, g in zip(keys, grads, strict=True)]
    out.update(zip(keys, updated, strict=True))
    return out
