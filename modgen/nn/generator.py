"""The conditional feature generator G of the paper's supplementary Figure 2."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modgen.errors import ConfigError, ShapeError
from modgen.interfaces import Modulation
from modgen.nn import _checks
from modgen.nn.blocks import DEFAULT_BN_EPS, DEFAULT_DROPOUT, DEFAULT_LEAKY_SLOPE, FBD, FDL

__all__ = ["MLPGenerator", "OUTPUT_ACTIVATIONS"]

#: Activations that may follow G's output layer.
OUTPUT_ACTIVATIONS: tuple[str, ...] = ("none", "relu", "sigmoid")


class MLPGenerator(nn.Module):
    """Generator ``G(z, a)``: FDL(h), FBD(h), FBD(h), LeakyReLU, FC(D) on ``[z, a]``.

    Every intermediate output can be modulated (Eq. 3, Figure 3): ``o_0 = [z, a]`` (the input),
    the outputs of FDL, FBD, FBD, LeakyReLU and the output FC, i.e. ``modulated_dims =
    [Z + A, h, h, h, h, D]``. With a :class:`~modgen.interfaces.Modulation` given, ``forward``
    replaces each ``o_j`` by ``modulation(j, o_j)``; ``output_activation`` is applied after
    the last modulation.

    Note:
        BatchNorm statistics are per task, so a per-task *shift* of ``o_1`` or ``o_2`` (the
        ``+ g(b_j)`` of Eq. 3) is cancelled exactly by the FC + BatchNorm of the FBD block
        that follows: those two shifts do not change ``x_hat`` and the modulator heads making
        them get zero gradient. The scales ``g(w_1)``, ``g(w_2)`` and every other ``b_j`` act.
        At synthesis BatchNorm uses running statistics, so those untrained shifts *do* act
        there; the generator declares them in ``bn_cancelled_shifts`` (``[1, 2]``) and the
        modulator option ``shift_before_bn="drop"`` builds no head for them.

    Args:
        attr_dim: attribute dimension ``A``.
        feature_dim: feature dimension ``D``.
        noise_dim: noise dimension ``Z``.
        hidden: hidden width ``h`` (paper: 2048).
        leaky_slope: LeakyReLU slope (see :mod:`modgen.nn.blocks`; default 0.2).
        dropout: dropout probability inside G (paper: 0.5; 0 turns it off).
        bn_eps: BatchNorm eps (paper's "BatchNorm(0.8)").
        output_activation: ``none`` (the paper), ``relu`` (non-negative ResNet features) or
            ``sigmoid`` (features scaled to [0, 1]).
        attribute_skip: add a linear map of the attributes, ``W a + b``, to the output before
            ``output_activation`` (not in the paper; default off). It bypasses the hidden
            layers' per-task BatchNorm, which in small tasks (2-way) keeps only how the task's
            classes differ, so a class's absolute position reaches the output through a path
            that is the same in every task and at synthesis — the path the linear
            attributes-to-class-means map transfers along.

    ``forward(z, a, modulation=None)``: ``z`` ``(..., n, Z)``, ``a`` ``(..., n, A)`` ->
    ``x_hat`` ``(..., n, D)``.

    Raises:
        ConfigError: a parameter is out of range (the message names it).

    Example:
        >>> g = MLPGenerator(attr_dim=4, feature_dim=6, noise_dim=3, hidden=16)
        >>> g.modulated_dims
        [7, 16, 16, 16, 16, 6]
        >>> g(torch.randn(2, 5, 3), torch.randn(2, 5, 4)).shape
        torch.Size([2, 5, 6])
    """

    def __init__(
        self,
        attr_dim: int,
        feature_dim: int,
        noise_dim: int,
        hidden: int = 2048,
        leaky_slope: float = DEFAULT_LEAKY_SLOPE,
        dropout: float = DEFAULT_DROPOUT,
        bn_eps: float = DEFAULT_BN_EPS,
        output_activation: str = "none",
        attribute_skip: bool = False,
    ) -> None:
        super().__init__()
        owner = "MLPGenerator"
        self.attr_dim = _checks.positive_int(owner, "attr_dim", attr_dim)
        self.feature_dim = _checks.positive_int(owner, "feature_dim", feature_dim)
        self.noise_dim = _checks.positive_int(owner, "noise_dim", noise_dim)
        self.hidden = _checks.positive_int(owner, "hidden", hidden)
        slope = _checks.nonneg_float(owner, "leaky_slope", leaky_slope)
        p = _checks.dropout_p(owner, "dropout", dropout)
        eps = _checks.positive_float(owner, "bn_eps", bn_eps)
        self.output_activation = _checks.choice(
            owner, "output_activation", output_activation, OUTPUT_ACTIVATIONS
        )
        if not isinstance(attribute_skip, bool):
            raise ConfigError(f"{owner}: attribute_skip must be true or false, got {attribute_skip!r}")
        self.attribute_skip = attribute_skip
        h = self.hidden
        self.fdl = FDL(self.noise_dim + self.attr_dim, h, dropout=p, leaky_slope=slope)
        self.fbd1 = FBD(h, h, dropout=p, bn_eps=eps)
        self.fbd2 = FBD(h, h, dropout=p, bn_eps=eps)
        self.act = nn.LeakyReLU(slope)
        self.out = nn.Linear(h, self.feature_dim)
        self.skip = nn.Linear(self.attr_dim, self.feature_dim) if attribute_skip else None
        self.modulated_dims: list[int] = [self.noise_dim + self.attr_dim, h, h, h, h, self.feature_dim]
        # o_1 and o_2 each feed an FBD block (FC without bias -> per-task BatchNorm).
        self.bn_cancelled_shifts: list[int] = [1, 2]

    def forward(self, z: Tensor, a: Tensor, modulation: Modulation | None = None) -> Tensor:
        """Generate features ``(..., n, Z)``, ``(..., n, A)`` -> ``(..., n, D)``.

        Raises:
            ShapeError: ``z`` or ``a`` is not ``(..., n, Z)`` / ``(..., n, A)`` with the same
                leading dims.
        """
        _checks.last_dim("MLPGenerator", "z", z.shape, self.noise_dim)
        _checks.last_dim("MLPGenerator", "a", a.shape, self.attr_dim)
        if z.shape[:-1] != a.shape[:-1]:
            raise ShapeError(
                f"MLPGenerator: z has shape {tuple(z.shape)} but a has shape {tuple(a.shape)}; "
                "expected the same leading dims (..., n)"
            )
        layers = (self.fdl, self.fbd1, self.fbd2, self.act, self.out)
        o = torch.cat([z, a], dim=-1)
        if modulation is not None:
            o = modulation(0, o)
        for j, layer in enumerate(layers, start=1):
            o = layer(o)
            if modulation is not None:
                o = modulation(j, o)
        if self.skip is not None:
            o = o + self.skip(a)
        if self.output_activation == "relu":
            o = torch.relu(o)
        elif self.output_activation == "sigmoid":
            o = torch.sigmoid(o)
        return o
