"""The attribute-aware modulation network (Section II-B): task encoder AP and layer modulators AM.

The attribute projector AP (Eq. 1) embeds a task's attribute set ``(..., N, A)``: FDL(hidden)
on each class attribute, then the mean over the ``N`` classes, giving ``e`` ``(..., E)``
(pooling makes ``e`` independent of the order of the classes and of ``N``). One independent
layer modulator ``AM_j`` per modulated generator output (Eq. 2) maps ``e`` to ``(w_j, b_j)``
with two linear layers. :func:`modgen.functional.modulate` then applies Eq. 3 (or a Table IV
variant) to the generator's ``o_j``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from modgen.errors import ConfigError, ShapeError
from modgen.functional.modulation import (
    GATES,
    OPERATORS,
    check_modulation_options,
    describe_modulation,
    modulate,
)
from modgen.nn import _checks
from modgen.nn.blocks import DEFAULT_DROPOUT, DEFAULT_LEAKY_SLOPE, FDL

__all__ = ["AttributeModulation", "AttributeModulator", "NoModulator", "SHIFT_BEFORE_BN"]

#: What :class:`AttributeModulator` does with the shift heads of outputs a BatchNorm follows.
SHIFT_BEFORE_BN: tuple[str, ...] = ("keep", "drop")


class AttributeModulation:
    """The modulation of one or more tasks: ``(j, o) -> modulate(o, w_j, b_j, **options)``.

    Made by :meth:`AttributeModulator.forward`; it is a
    :class:`~modgen.interfaces.Modulation`.

    Args:
        params: ``[(w_j, b_j)]``, one pair per modulated output, each ``(..., d_j)``
            (``b_j`` is ``None`` when ``bias`` is false, or when that output's shift head was
            dropped: the output is then only scaled).
        base, operator, gate, bias: the variant, see :func:`modgen.functional.modulate`.

    Example:
        >>> import torch
        >>> m = AttributeModulation([(torch.zeros(3), torch.zeros(3))])
        >>> m(0, torch.ones(4, 3))[0]
        tensor([2., 2., 2.])
    """

    def __init__(
        self,
        params: Sequence[tuple[Tensor, Tensor | None]],
        *,
        base: bool = True,
        operator: str = "add",
        gate: str = "sigmoid",
        bias: bool = True,
    ) -> None:
        check_modulation_options(base=base, operator=operator, gate=gate, bias=bias)
        self.params = list(params)
        self.base, self.operator, self.gate, self.bias = base, operator, gate, bias

    def __len__(self) -> int:
        return len(self.params)

    def __call__(self, j: int, o: Tensor) -> Tensor:
        """Modulate the ``j``-th output ``o`` ``(..., n, d_j)`` -> ``(..., n, d_j)``.

        Raises:
            ShapeError: ``j`` is not a modulated output, or ``o`` does not match ``d_j``.
        """
        if not 0 <= j < len(self.params):
            raise ShapeError(
                f"AttributeModulation: output index j={j} is out of range; the modulator was built for "
                f"{len(self.params)} outputs (j = 0..{len(self.params) - 1})"
            )
        w, b = self.params[j]
        if o.dim() < 2 or o.shape[-1] != w.shape[-1]:
            raise ShapeError(
                f"AttributeModulation: output {j} has shape {tuple(o.shape)}, expected (..., n, {w.shape[-1]}); "
                "build the modulator with the generator's modulated_dims"
            )
        # b is None for an output whose shift head was dropped (shift_before_bn="drop").
        bias = self.bias and b is not None
        return modulate(o, w, b, base=self.base, operator=self.operator, gate=self.gate, bias=bias)

    def __repr__(self) -> str:
        dims = [int(w.shape[-1]) for w, _ in self.params]
        formula = describe_modulation(base=self.base, operator=self.operator, gate=self.gate, bias=self.bias)
        return f"AttributeModulation(o_hat = {formula}, dims={dims})"


class AttributeModulator(nn.Module):
    """Task encoder AP (FDL, mean over classes) plus one layer modulator AM per target output.

    Args:
        attr_dim: attribute dimension ``A``.
        target_dims: widths ``d_0, ..., d_k`` of the generator's modulated outputs
            (``generator.modulated_dims``).
        hidden: width ``E`` of AP's FDL, i.e. of the task embedding (paper: 2048).
        base, operator, gate, bias: the modulation variant (:func:`modgen.functional.modulate`);
            the default is AMAZ's Eq. 3, ``(1 + sigmoid(w)) * o + sigmoid(b)``. With
            ``bias=False`` no ``b`` heads are built (they would get no gradient).
        leaky_slope: AP's LeakyReLU slope.
        dropout: AP's dropout probability.
        shift_before_bn: ``keep`` (default: a shift head ``b_j`` for every output) or ``drop``:
            no shift head for the outputs listed in ``bn_cancelled_shifts``. A per-task shift of
            an output that a per-task BatchNorm follows (through a linear layer) is cancelled in
            training, so its head gets no gradient, yet it acts at synthesis, where BatchNorm
            uses running statistics: an untrained parameter that moves the synthetic features.
        bn_cancelled_shifts: the indices ``j`` of the outputs whose shift a BatchNorm cancels,
            as the generator declares them (``generator.bn_cancelled_shifts``, passed by
            :func:`~modgen.assembly.build_assembly`).

    ``forward(task_attributes)``: ``(..., N, A)`` -> :class:`AttributeModulation` whose
    parameters are ``(..., d_j)``.

    Raises:
        ConfigError: a parameter is invalid (the message names it and the choices).

    Example:
        >>> import torch
        >>> mod = AttributeModulator(attr_dim=4, target_dims=[7, 16], hidden=8)
        >>> modulation = mod(torch.randn(2, 3, 4))  # 2 tasks of 3 classes
        >>> modulation(1, torch.randn(2, 5, 16)).shape
        torch.Size([2, 5, 16])
    """

    def __init__(
        self,
        attr_dim: int,
        target_dims: Sequence[int],
        hidden: int = 2048,
        base: bool = True,
        operator: str = "add",
        gate: str = "sigmoid",
        bias: bool = True,
        leaky_slope: float = DEFAULT_LEAKY_SLOPE,
        dropout: float = DEFAULT_DROPOUT,
        shift_before_bn: str = "keep",
        bn_cancelled_shifts: Sequence[int] = (),
    ) -> None:
        super().__init__()
        owner = "AttributeModulator"
        self.attr_dim = _checks.positive_int(owner, "attr_dim", attr_dim)
        self.target_dims = _checks.widths(owner, "target_dims", target_dims)
        self.hidden = _checks.positive_int(owner, "hidden", hidden)
        _checks.choice(owner, "operator", operator, OPERATORS)
        _checks.choice(owner, "gate", gate, GATES)
        for name, flag in (("base", base), ("bias", bias)):
            if not isinstance(flag, bool):
                raise ConfigError(f"{owner}: {name} must be true or false, got {flag!r}")
        self.base, self.operator, self.gate, self.bias = base, operator, gate, bias
        self.encoder = FDL(
            self.attr_dim,
            self.hidden,
            dropout=_checks.dropout_p(owner, "dropout", dropout),
            leaky_slope=_checks.nonneg_float(owner, "leaky_slope", leaky_slope),
        )
        self.shift_before_bn = _checks.choice(owner, "shift_before_bn", shift_before_bn, SHIFT_BEFORE_BN)
        cancelled = tuple(bn_cancelled_shifts)
        for j in cancelled:
            if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < len(self.target_dims):
                raise ConfigError(
                    f"{owner}: bn_cancelled_shifts must hold output indices 0..{len(self.target_dims) - 1}, "
                    f"got {list(cancelled)!r}"
                )
        #: The outputs built without a shift head (only scaled).
        self.unshifted: tuple[int, ...] = (
            tuple(sorted(set(cancelled))) if self.shift_before_bn == "drop" else ()
        )
        self.w_heads = nn.ModuleList(nn.Linear(self.hidden, d) for d in self.target_dims)
        self.b_heads: nn.ModuleList | None = None
        if bias:
            # Every head is drawn, dropped ones included, so the kept heads start from the same
            # weights as with "keep" (paired comparisons); a dropped head is a parameter-free stand-in.
            heads = [nn.Linear(self.hidden, d) for d in self.target_dims]
            self.b_heads = nn.ModuleList(
                nn.Identity() if j in self.unshifted else head for j, head in enumerate(heads)
            )

    def encode(self, task_attributes: Tensor) -> Tensor:
        """The task embedding ``e`` (Eq. 1): ``(..., N, A)`` -> ``(..., E)``.

        Raises:
            ShapeError: ``task_attributes`` is not ``(..., N, A)``.
        """
        if task_attributes.dim() < 2 or task_attributes.shape[-1] != self.attr_dim:
            raise ShapeError(
                f"AttributeModulator: task_attributes must be (..., N, {self.attr_dim}) (the attribute "
                f"set of each task), got shape {tuple(task_attributes.shape)}"
            )
        return self.encoder(task_attributes).mean(dim=-2)

    def parameters_for(self, task_attributes: Tensor) -> list[tuple[Tensor, Tensor | None]]:
        """The raw modulation parameters (Eq. 2): ``[(w_j, b_j)]``, each ``(..., d_j)``.

        ``b_j`` is ``None`` when the modulator was built with ``bias=False``.
        """
        e = self.encode(task_attributes)
        if self.b_heads is None:
            return [(head(e), None) for head in self.w_heads]
        return [
            (hw(e), None if j in self.unshifted else hb(e))
            for j, (hw, hb) in enumerate(zip(self.w_heads, self.b_heads, strict=True))
        ]

    def forward(self, task_attributes: Tensor) -> AttributeModulation:
        """``(..., N, A)`` -> the tasks' :class:`AttributeModulation`."""
        return AttributeModulation(
            self.parameters_for(task_attributes),
            base=self.base,
            operator=self.operator,
            gate=self.gate,
            bias=self.bias,
        )

    def extra_repr(self) -> str:
        formula = describe_modulation(base=self.base, operator=self.operator, gate=self.gate, bias=self.bias)
        dropped = f"; no shift at outputs {list(self.unshifted)}" if self.unshifted else ""
        return f"o_hat = {formula}{dropped}"


class NoModulator(nn.Module):
    """No modulation: ``forward`` returns ``None`` and G runs unmodulated (ZSML, plain GAN).

    It has no parameters of its own, so presets that size the modulator (``hidden``) leave it
    alone, and ``--set modulator.hidden=...`` on an unmodulated recipe is an error.

    Args:
        attr_dim: attribute dimension ``A`` (checked against the task attributes).
        target_dims: the generator's modulated dims (accepted for a uniform constructor).

    Example:
        >>> import torch
        >>> NoModulator(attr_dim=4, target_dims=[7])(torch.randn(3, 4)) is None
        True
    """

    def __init__(self, attr_dim: int, target_dims: Sequence[int] = ()) -> None:
        super().__init__()
        self.attr_dim = _checks.positive_int("NoModulator", "attr_dim", attr_dim)
        self.target_dims = tuple(target_dims)

    def forward(self, task_attributes: Tensor) -> None:
        """``(..., N, A)`` -> ``None``.

        Raises:
            ShapeError: ``task_attributes`` does not end in ``A``.
        """
        if task_attributes.dim() < 2 or task_attributes.shape[-1] != self.attr_dim:
            raise ShapeError(
                f"NoModulator: task_attributes must be (..., N, {self.attr_dim}), "
                f"got shape {tuple(task_attributes.shape)}"
            )
        return None

    def extra_repr(self) -> str:
        return "G unmodulated"
