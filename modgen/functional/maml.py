"""Functional MAML pieces: inner-loop gradients and updates on parameter dicts.

Parameters are plain ``{name: Tensor}`` dicts (as for :func:`torch.func.functional_call`). The
same two functions serve one adaptation shared by a batch of tasks (plain tensors) and one
adaptation per task (:class:`~modgen.functional.lowrank.TaskParameter` entries, made by
:func:`~modgen.functional.lowrank.per_task`): the parameters say which, not an argument.

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
from typing import cast

import torch
from torch import Tensor

from modgen.functional.lowrank import TaskGrad, TaskParameter, task_grads

__all__ = ["inner_grads", "sgd_update", "is_per_task"]

Params = dict[str, Tensor]


def is_per_task(params: Params, keys: Sequence[str]) -> bool:
    """Whether the ``keys`` entries are adapted per task (:class:`TaskParameter`) or shared.

    Raises:
        TypeError: some are per task and some are not.
    """
    flags = {isinstance(params[k], TaskParameter) for k in keys}
    if len(flags) > 1:
        raise TypeError("the parameters differentiated together must be all per task or all shared")
    return flags == {True}


def inner_grads(
    loss_fn: Callable[[Params], Tensor],
    params: Params,
    keys: Sequence[str],
    *,
    first_order: bool,
) -> list[TaskGrad]:
    """Gradients of ``loss_fn(params)`` with respect to ``params[k]`` for ``k`` in ``keys``.

    With shared parameters, the gradient of the loss (:func:`torch.autograd.grad`; it also runs
    inside :func:`torch.func.grad`); with per-task ones, each task's gradient of its own loss
    (:func:`~modgen.functional.lowrank.task_grads`).

    Args:
        loss_fn: ``params -> scalar``.
        params: the parameter dict (shared ``keys`` entries must require grad).
        keys: which parameters to differentiate.
        first_order: treat the gradients as constants (first-order MAML); otherwise they stay
            differentiable, so a meta-gradient through the update is second order.

    Returns:
        One gradient per key (zeros where the loss does not depend on the parameter): the
        partial derivative — other entries of ``params`` that were computed from these keys
        (an adapted critic, say) are held fixed.
    """
    if is_per_task(params, keys):
        return task_grads(loss_fn, params, keys, first_order=first_order)
    # Differentiate with respect to fresh views of the keys: a partial derivative, as Algorithm 1
    # takes it. Other entries (parameters adapted a moment ago) may depend on these same tensors;
    # through the originals that dependence would enter a total derivative (second order only:
    # first-order updates hold no graph back to the parameters).
    wrt = dict(params)
    for k in keys:
        wrt[k] = params[k].view_as(params[k])
    loss = loss_fn(wrt)
    grads = torch.autograd.grad(loss, [wrt[k] for k in keys], create_graph=not first_order, allow_unused=True)
    return [torch.zeros_like(params[k]) if g is None else g for k, g in zip(keys, grads, strict=True)]


def sgd_update(
    params: Params, keys: Sequence[str], grads: Sequence[TaskGrad], lr: float, *, foreach: bool = False
) -> Params:
    """A new dict with ``params[k] - lr * grad`` for each key (the others shared, unchanged).

    Shared parameters: one fused ``p + (-lr) * g`` per tensor; with ``foreach=True`` one
    multi-tensor kernel for the whole group (fewer GPU launches; not usable under
    :func:`torch.func.vmap`, which has no batching rule for it, nor with tensors on different
    devices). Per-task parameters take :meth:`TaskParameter.descend`. All are differentiable, so
    second-order meta-gradients flow through them.
    """
    if not keys:
        return params
    out = dict(params)
    if is_per_task(params, keys):
        for k, g in zip(keys, grads, strict=True):
            out[k] = cast(TaskParameter, params[k]).descend(g, lr)
        return out
    shared = _dense(grads)
    updated: Sequence[Tensor]
    if foreach and all(params[k].device == shared[0].device for k in keys):
        updated = torch._foreach_add([params[k] for k in keys], shared, alpha=-lr)
    else:
        updated = [torch.add(params[k], g, alpha=-lr) for k, g in zip(keys, shared, strict=True)]
    out.update(zip(keys, updated, strict=True))
    return out


def _dense(grads: Sequence[TaskGrad]) -> list[Tensor]:
    """Gradients of shared parameters, which are tensors (factors belong to per-task ones)."""
    if not all(isinstance(g, Tensor) for g in grads):
        raise TypeError("gradients of shared parameters must be tensors, got per-task factors (LowRankStep)")
    return [g for g in grads if isinstance(g, Tensor)]
