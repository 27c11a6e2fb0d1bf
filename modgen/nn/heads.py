"""The auxiliary classifier C and the attribute decoder AD of the paper's supplementary Figure 3.

Figure 3 and its text: "C and AD start with a FDL(512) and a FDL(1024), respectively. Then C
and AD apply FDL(512) and FC(512)". Read literally, both would end in a 512-wide FC, which fits
neither head: C scores the training classes (the cross-entropy of Eq. 7) and AD reconstructs the
``A``-dimensional attribute vector (Eqs. 4-5). We read the last FC(512) as the output layer,
``FC(num_classes)`` for C and ``FC(attr_dim)`` for AD:

* C:  FDL(512), FDL(512), FC(num_classes)
* AD: FDL(1024), FDL(512), FC(attr_dim)
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from modgen.nn import _checks
from modgen.nn.blocks import DEFAULT_DROPOUT, DEFAULT_LEAKY_SLOPE, FDL

__all__ = ["MLPAuxClassifier", "MLPAttributeDecoder"]


def _two_fdl_then_fc(
    in_dim: int, hidden: tuple[int, int], out_dim: int, slope: float, p: float
) -> nn.Sequential:
    h1, h2 = hidden
    return nn.Sequential(
        FDL(in_dim, h1, dropout=p, leaky_slope=slope),
        FDL(h1, h2, dropout=p, leaky_slope=slope),
        nn.Linear(h2, out_dim),
    )


class MLPAuxClassifier(nn.Module):
    """Auxiliary classifier ``C(x)``: FDL(h1), FDL(h2), FC(num_classes) -> logits.

    Args:
        feature_dim: feature dimension ``D``.
        num_classes: number of training classes ``C`` (known when the assembly is built).
        hidden: ``(h1, h2)`` (paper: ``(512, 512)``); a list (TOML) is accepted.
        leaky_slope: LeakyReLU slope (default 0.2).
        dropout: dropout probability (paper: 0.5).

    ``forward(x)``: ``(..., n, D)`` -> logits ``(..., n, C)``.

    Raises:
        ConfigError: a parameter is out of range (the message names it).

    Example:
        >>> import torch
        >>> c = MLPAuxClassifier(feature_dim=6, num_classes=3, hidden=(8, 8))
        >>> c(torch.randn(2, 5, 6)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        hidden: Sequence[int] = (512, 512),
        leaky_slope: float = DEFAULT_LEAKY_SLOPE,
        dropout: float = DEFAULT_DROPOUT,
    ) -> None:
        super().__init__()
        owner = "MLPAuxClassifier"
        self.feature_dim = _checks.positive_int(owner, "feature_dim", feature_dim)
        self.num_classes = _checks.positive_int(owner, "num_classes", num_classes)
        self.hidden = _checks.widths(owner, "hidden", hidden, length=2)
        self.net = _two_fdl_then_fc(
            self.feature_dim,
            (self.hidden[0], self.hidden[1]),
            self.num_classes,
            _checks.nonneg_float(owner, "leaky_slope", leaky_slope),
            _checks.dropout_p(owner, "dropout", dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(..., n, D)`` -> logits ``(..., n, C)``.

        Raises:
            ShapeError: ``x`` does not end in ``D``.
        """
        _checks.last_dim("MLPAuxClassifier", "x", x.shape, self.feature_dim, min_dims=1)
        return self.net(x)


class MLPAttributeDecoder(nn.Module):
    """Attribute decoder AD (the paper's "attribute discriminator"): FDL(h1), FDL(h2), FC(A).

    Args:
        feature_dim: feature dimension ``D``.
        attr_dim: attribute dimension ``A`` (the output width).
        hidden: ``(h1, h2)`` (paper: ``(1024, 512)``); a list (TOML) is accepted.
        leaky_slope: LeakyReLU slope (default 0.2).
        dropout: dropout probability (paper: 0.5).

    ``forward(x)``: ``(..., n, D)`` -> reconstructed attributes ``(..., n, A)``.

    Raises:
        ConfigError: a parameter is out of range (the message names it).

    Example:
        >>> import torch
        >>> ad = MLPAttributeDecoder(feature_dim=6, attr_dim=4, hidden=[8, 8])
        >>> ad(torch.randn(5, 6)).shape
        torch.Size([5, 4])
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
        owner = "MLPAttributeDecoder"
        self.feature_dim = _checks.positive_int(owner, "feature_dim", feature_dim)
        self.attr_dim = _checks.positive_int(owner, "attr_dim", attr_dim)
        self.hidden = _checks.widths(owner, "hidden", hidden, length=2)
        self.net = _two_fdl_then_fc(
            self.feature_dim,
            (self.hidden[0], self.hidden[1]),
            self.attr_dim,
            _checks.nonneg_float(owner, "leaky_slope", leaky_slope),
            _checks.dropout_p(owner, "dropout", dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(..., n, D)`` -> ``(..., n, A)``.

        Raises:
            ShapeError: ``x`` does not end in ``D``.
        """
        _checks.last_dim("MLPAttributeDecoder", "x", x.shape, self.feature_dim, min_dims=1)
        return self.net(x)
