"""Per-task batch normalisation as a pure function (no running statistics).

PyTorch's ``BatchNorm1d`` mixes every leading index into one batch and updates running-stat
buffers in place during training. Neither fits modgen: a ``(T, n, h)`` input holds ``T``
tasks whose statistics must stay apart, and in-place buffer updates break
``torch.func.functional_call`` / ``vmap`` / ``grad`` purity. ``task_batch_norm`` normalises
over the sample dimension ``-2`` of each leading index with the batch's own statistics,
always, so ``vmap`` over tasks equals the batched call.

Example:
    >>> import torch
    >>> x = torch.randn(3, 8, 4)  # 3 tasks, 8 samples, width 4
    >>> y = task_batch_norm(x, eps=1e-5)
    >>> bool(y.mean(-2).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

from torch import Tensor

from modgen.errors import ShapeError

__all__ = ["task_batch_norm", "pooled_batch_norm"]


def task_batch_norm(
    x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, *, eps: float = 0.8
) -> Tensor:
    """Normalise over the sample dim ``-2`` per leading index, then apply ``weight``/``bias``.

    Uses the biased variance (as BatchNorm does in training). With one sample the output is
    ``bias`` (the centred input is zero), never NaN, since ``eps > 0``.

    Args:
        x: ``(..., n, h)``.
        weight: ``(h,)`` scale, or ``None``.
        bias: ``(h,)`` shift, or ``None``.
        eps: added to the variance; 0.8 is the "BatchNorm(0.8)" of the paper (see
            :class:`modgen.nn.TaskBatchNorm`).

    Returns:
        ``(..., n, h)``.

    Raises:
        ShapeError: ``x`` has fewer than two dimensions.

    Example:
        >>> import torch
        >>> task_batch_norm(torch.tensor([[0.0], [2.0]]), eps=0.0)
        tensor([[-1.],
                [ 1.]])
    """
    if x.dim() < 2:
        raise ShapeError(f"task_batch_norm: x must be (..., n, h), got shape {tuple(x.shape)}")
    mean = x.mean(dim=-2, keepdim=True)
    var = x.var(dim=-2, unbiased=False, keepdim=True)
    y = (x - mean) * (var + eps).rsqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def pooled_batch_norm(
    x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, *, eps: float = 0.8
) -> Tensor:
    """Normalise over every dim but the last (all tasks and samples together), then scale/shift.

    The statistics of a whole ``(..., n, h)`` batch, as ``nn.BatchNorm1d`` takes them on
    ``x.reshape(-1, h)``; what synthesis uses with ``evaluation.synthesis_bn="batch"``.

    Args:
        x: ``(..., n, h)``.
        weight: ``(h,)`` scale, or ``None``.
        bias: ``(h,)`` shift, or ``None``.
        eps: added to the variance.

    Returns:
        ``(..., n, h)``.

    Raises:
        ShapeError: ``x`` has fewer than two dimensions.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[0.0], [0.0]], [[2.0], [2.0]]])  # 2 tasks, each constant
        >>> pooled_batch_norm(x, eps=0.0).flatten().tolist()  # the tasks stay apart
        [-1.0, -1.0, 1.0, 1.0]
    """
    if x.dim() < 2:
        raise ShapeError(f"pooled_batch_norm: x must be (..., n, h), got shape {tuple(x.shape)}")
    dims = tuple(range(x.dim() - 1))
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    y = (x - mean) * (var + eps).rsqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
