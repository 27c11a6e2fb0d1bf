"""The basic blocks of the paper's supplementary Figure 1, and per-task BatchNorm.

* ``FBD(n)`` = FC(n) -> BatchNorm -> Dropout
* ``FDL(n)`` = FC(n) -> Dropout -> LeakyReLU

Readings of the paper, each a parameter:

* **LeakyReLU slope** ``leaky_slope=0.2``: the figures draw ``LeReLU(0.2)``, the text says
  0.5. The figures are the more specific source and 0.2 is what common PyTorch GAN code uses.
* **Dropout** ``dropout=0.5``, as both text and figures.
* **BatchNorm(0.8)** is read as ``bn_eps=0.8``: in the PyTorch GAN code the paper builds on,
  ``nn.BatchNorm1d(n, 0.8)`` passes 0.8 as the second positional argument, ``eps`` (not
  ``momentum``). A large eps damps the normalisation of low-variance units.

BatchNorm here is :class:`TaskBatchNorm`: in training, statistics over the sample dim ``-2`` of
each leading (task) index, and nothing is mutated in ``forward``. This keeps a ``(T, n, h)``
call equal to ``vmap`` over the ``T`` tasks and keeps the modules pure under ``torch.func``.
In evaluation (``module.eval()``) it uses running statistics once they have been set by
:func:`calibrate_batch_norm` (the trainers do this before every checkpoint): at synthesis each
class is its own task, and normalising one class's samples by their own statistics would erase
exactly the between-class differences the generator is meant to produce. Inside
:func:`pooled_batch_statistics` it instead normalises by the statistics of the whole batch, all
tasks together (``evaluation.synthesis_bn="batch"``).

Example:
    >>> import torch
    >>> block = FBD(4, 8)
    >>> block(torch.randn(3, 5, 4)).shape  # 3 tasks, 5 samples
    torch.Size([3, 5, 8])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import cast

import torch
from torch import Tensor, nn

from modgen.functional.normalization import pooled_batch_norm, task_batch_norm
from modgen.nn import _checks

__all__ = [
    "TaskBatchNorm",
    "calibrate_batch_norm",
    "pooled_batch_statistics",
    "FBD",
    "FDL",
    "DEFAULT_LEAKY_SLOPE",
    "DEFAULT_DROPOUT",
    "DEFAULT_BN_EPS",
]

#: LeakyReLU slope of the paper's figures (the text says 0.5).
DEFAULT_LEAKY_SLOPE = 0.2
#: Dropout probability of the paper.
DEFAULT_DROPOUT = 0.5
#: BatchNorm eps: the paper's "BatchNorm(0.8)" read as ``BatchNorm1d(n, eps=0.8)``.
DEFAULT_BN_EPS = 0.8


class TaskBatchNorm(nn.Module):
    """BatchNorm over the sample dimension ``-2``, separately for each leading (task) index.

    In training mode it always uses the batch's statistics and mutates nothing, so
    ``torch.func.functional_call``, ``grad`` and ``vmap`` see a pure function. In evaluation
    mode it uses the running statistics (buffers ``running_mean``, ``running_var``) once
    :func:`calibrate_batch_norm` has set them (``calibrated`` is true), like
    ``nn.BatchNorm1d`` in ``eval()``; before that it falls back to batch statistics.

    Args:
        num_features: width ``h``.
        eps: added to the variance (default 0.8, the paper's "BatchNorm(0.8)").
        affine: learn a per-feature scale and shift.

    ``forward(x)``: ``(..., n, h)`` -> ``(..., n, h)``.

    Example:
        >>> bn = TaskBatchNorm(3, eps=1e-5)
        >>> y = bn(torch.randn(2, 10, 3))
        >>> bool(y.mean(-2).abs().max() < 1e-5)
        True
    """

    def __init__(self, num_features: int, eps: float = DEFAULT_BN_EPS, affine: bool = True) -> None:
        super().__init__()
        self.num_features = _checks.positive_int("TaskBatchNorm", "num_features", num_features)
        self.eps = _checks.positive_float("TaskBatchNorm", "bn_eps", eps)
        self.affine = bool(affine)
        if self.affine:
            self.weight = nn.Parameter(torch.ones(self.num_features))
            self.bias = nn.Parameter(torch.zeros(self.num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(self.num_features))
        self.register_buffer("running_var", torch.ones(self.num_features))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool))
        #: Set by :func:`pooled_batch_statistics` only: statistics of the whole batch.
        self.pooled = False

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``(..., n, h)`` over ``n`` per leading index (or by running statistics)."""
        _checks.last_dim("TaskBatchNorm", "x", x.shape, self.num_features)
        if self.pooled:
            return pooled_batch_norm(x, self.weight, self.bias, eps=self.eps)
        if not self.training and bool(self.calibrated):
            mean, var = cast(Tensor, self.running_mean), cast(Tensor, self.running_var)
            y = (x - mean) * (var + self.eps).rsqrt()
            if self.weight is not None:
                y = y * self.weight
            if self.bias is not None:
                y = y + self.bias
            return y
        return task_batch_norm(x, self.weight, self.bias, eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


@torch.no_grad()
def calibrate_batch_norm(module: nn.Module, passes: Iterable[Callable[[], object]]) -> int:
    """Set the running statistics of every :class:`TaskBatchNorm` in ``module``.

    Each pass (a callable that runs ``module`` forward, e.g. the generator on one episode's
    tasks) is run in training mode; each BatchNorm's running mean and variance become the
    average of the per-task batch statistics it saw ("precise BatchNorm"). Random draws of the
    passes (dropout) are the caller's business: wrap the call in ``torch.random.fork_rng`` to
    keep the global stream untouched.

    Args:
        module: a module containing TaskBatchNorm layers.
        passes: callables running the forward passes.

    Returns:
        The number of TaskBatchNorm layers calibrated (0 when there are none).

    Example:
        >>> g = FBD(3, 4)
        >>> x = torch.randn(5, 6, 3) + 2
        >>> calibrate_batch_norm(g, [lambda: g(x)])
        1
        >>> bool(g.bn.calibrated)
        True
    """
    layers = [m for m in module.modules() if isinstance(m, TaskBatchNorm)]
    if not layers:
        return 0
    sums: dict[int, list[Tensor | int]] = {}

    def hook(layer: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        x = inputs[0].detach()
        mean = x.mean(dim=-2).reshape(-1, x.shape[-1])
        var = x.var(dim=-2, unbiased=False).reshape(-1, x.shape[-1])
        acc = sums.setdefault(id(layer), [torch.zeros_like(mean[0]), torch.zeros_like(var[0]), 0])
        acc[0] = acc[0] + mean.sum(0)  # type: ignore[operator]
        acc[1] = acc[1] + var.sum(0)  # type: ignore[operator]
        acc[2] = acc[2] + mean.shape[0]  # type: ignore[operator]

    was_training = module.training
    handles = [m.register_forward_pre_hook(hook) for m in layers]
    try:
        module.train()
        for run in passes:
            run()
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    for m in layers:
        if id(m) in sums:
            total_mean, total_var, count = sums[id(m)]
            cast(Tensor, m.running_mean).copy_(cast(Tensor, total_mean) / count)
            cast(Tensor, m.running_var).copy_(cast(Tensor, total_var) / count)
            cast(Tensor, m.calibrated).fill_(True)
    return len(layers)


@contextmanager
def pooled_batch_statistics(module: nn.Module) -> Iterator[int]:
    """Inside, every :class:`TaskBatchNorm` of ``module`` normalises by the statistics of its
    whole input ``(..., n, h)``: all leading (task) indices and samples together, in training
    and in evaluation mode. Each layer's previous behaviour is restored on exit.

    Synthesis with ``evaluation.synthesis_bn="batch"`` runs the generator on every target class
    at once inside it: the statistics span the classes, so their differences survive (per-class
    statistics would erase them), and no running statistics are used.

    Yields:
        The number of TaskBatchNorm layers switched.

    Example:
        >>> bn = TaskBatchNorm(1, eps=1e-5)
        >>> x = torch.tensor([[[0.0], [0.0]], [[2.0], [2.0]]])  # 2 tasks, each constant
        >>> with pooled_batch_statistics(bn):
        ...     pooled = bn(x)
        >>> pooled.flatten().round().tolist(), bn(x).flatten().tolist()
        ([-1.0, -1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0])
    """
    layers = [m for m in module.modules() if isinstance(m, TaskBatchNorm)]
    before = [m.pooled for m in layers]
    try:
        for m in layers:
            m.pooled = True
        yield len(layers)
    finally:
        for m, was in zip(layers, before, strict=True):
            m.pooled = was


class FBD(nn.Module):
    """FBD block: FC -> :class:`TaskBatchNorm` -> Dropout. ``(..., n, in) -> (..., n, out)``.

    The FC has no bias (BatchNorm's shift replaces it; the function class is the same).

    Args:
        in_features: input width.
        out_features: the block's width ``n`` in ``FBD(n)``.
        dropout: dropout probability (paper: 0.5).
        bn_eps: BatchNorm eps (paper: 0.8).

    Example:
        >>> FBD(4, 6, dropout=0.0)(torch.randn(5, 4)).shape
        torch.Size([5, 6])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        dropout: float = DEFAULT_DROPOUT,
        bn_eps: float = DEFAULT_BN_EPS,
    ) -> None:
        super().__init__()
        # No FC bias: BatchNorm subtracts each unit's mean, so a bias here would be cancelled
        # exactly (its gradient is zero); the BatchNorm's own shift plays its role.
        self.fc = nn.Linear(in_features, out_features, bias=False)
        self.bn = TaskBatchNorm(out_features, eps=bn_eps)
        self.dropout = nn.Dropout(_checks.dropout_p("FBD", "dropout", dropout))

    def forward(self, x: Tensor) -> Tensor:
        """``(..., n, in) -> (..., n, out)``."""
        return self.dropout(self.bn(self.fc(x)))


class FDL(nn.Module):
    """FDL block: FC -> Dropout -> LeakyReLU. ``(..., n, in) -> (..., n, out)``.

    Args:
        in_features: input width.
        out_features: the block's width ``n`` in ``FDL(n)``.
        dropout: dropout probability (paper: 0.5).
        leaky_slope: LeakyReLU negative slope (figures: 0.2; text: 0.5).

    Example:
        >>> FDL(4, 6)(torch.randn(2, 5, 4)).shape
        torch.Size([2, 5, 6])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        dropout: float = DEFAULT_DROPOUT,
        leaky_slope: float = DEFAULT_LEAKY_SLOPE,
    ) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.dropout = nn.Dropout(_checks.dropout_p("FDL", "dropout", dropout))
        self.act = nn.LeakyReLU(_checks.nonneg_float("FDL", "leaky_slope", leaky_slope))

    def forward(self, x: Tensor) -> Tensor:
        """``(..., n, in) -> (..., n, out)``."""
        return self.act(self.dropout(self.fc(x)))
