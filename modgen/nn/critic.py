"""The conditional WGAN critic D of the paper's supplementary Figure 4."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from modgen.errors import ShapeError
from modgen.nn import _checks
from modgen.nn.blocks import DEFAULT_DROPOUT, DEFAULT_LEAKY_SLOPE, FDL

__all__ = ["MLPCritic"]


class MLPCritic(nn.Module):
    """Critic ``D(x, a)``: FDL(h1), FC(h1), Dropout, FDL(h2), FC(h2), then a scalar, on ``[x, a]``.

    Figure 4 ends with FC(512); a WGAN critic scores each sample with one number, so a final
    ``Linear(h2, 1)`` follows; these last two layers have no bias (see the code). The critic has no BatchNorm (a gradient penalty per sample needs
    samples to be scored independently).

    Args:
        feature_dim: feature dimension ``D``.
        attr_dim: attribute dimension ``A`` (the critic is conditioned on ``a``).
        hidden: ``(h1, h2)`` (paper: ``(1024, 512)``); a list (TOML) is accepted.
        leaky_slope: LeakyReLU slope (default 0.2, see :mod:`modgen.nn.blocks`).
        dropout: dropout probability (paper: 0.5).

    ``forward(x, a)``: ``(..., n, D)``, ``(..., n, A)`` -> scores ``(..., n)``.

    Raises:
        ConfigError: a parameter is out of range (the message names it).

    Example:
        >>> d = MLPCritic(feature_dim=6, attr_dim=4, hidden=[16, 8])
        >>> d(torch.randn(2, 5, 6), torch.randn(2, 5, 4)).shape
        torch.Size([2, 5])
    """

    def __init__(
        self,
        feature_dim: int,
        attr_dim: int,
        hidden: Sequence[int] = (1024, 512),
        leaky_slope: float = DEFAULT_LEAKY_SLOPE,
        dropout: float = DEFAULT_DROPOUT,
    ) -> None:
        super().__init__()
        owner = "MLPCritic"
        self.feature_dim = _checks.positive_int(owner, "feature_dim", feature_dim)
        self.attr_dim = _checks.positive_int(owner, "attr_dim", attr_dim)
        self.hidden = _checks.widths(owner, "hidden", hidden, length=2)
        slope = _checks.nonneg_float(owner, "leaky_slope", leaky_slope)
        p = _checks.dropout_p(owner, "dropout", dropout)
        h1, h2 = self.hidden
        self.net = nn.Sequential(
            FDL(self.feature_dim + self.attr_dim, h1, dropout=p, leaky_slope=slope),
            nn.Linear(h1, h1),
            nn.Dropout(p),
            FDL(h1, h2, dropout=p, leaky_slope=slope),
            # No biases after the last nonlinearity: they add one constant to every score,
            # which cancels in the WGAN loss (mean D(fake) - mean D(real)) and in its gradient
            # penalty, so they would never learn.
            nn.Linear(h2, h2, bias=False),
            nn.Linear(h2, 1, bias=False),
        )

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        """Score features: ``(..., n, D)``, ``(..., n, A)`` -> ``(..., n)``.

        Raises:
            ShapeError: ``x`` or ``a`` has the wrong width or their leading dims differ.
        """
        _checks.last_dim("MLPCritic", "x", x.shape, self.feature_dim)
        _checks.last_dim("MLPCritic", "a", a.shape, self.attr_dim)
        if x.shape[:-1] != a.shape[:-1]:
            raise ShapeError(
                f"MLPCritic: x has shape {tuple(x.shape)} but a has shape {tuple(a.shape)}; "
                "expected the same leading dims (..., n)"
            )
        return self.net(torch.cat([x, a], dim=-1)).squeeze(-1)
