"""The modulation operation of Eq. 3 and its Table IV variants, as a pure tensor function.

``modulate`` is usable without any module: the attribute modulator calls it, and so can a
trainer or a plugin that makes its own ``(w, b)``. All variants are the same formula::

    scale = 1 + g(w)   if base and operator == "add"
            1 - g(w)   if base and operator == "sub"
            g(w)       if operator == "mul" or not base
    o_hat = scale * o (+ g(b) if bias)

with the gate ``g`` one of ``sigmoid``, ``softmax`` (over the feature dimension ``d``) or
``none`` (identity). AMAZ's default (Eq. 3) is ``(1 + sigmoid(w)) * o + sigmoid(b)``.

Example:
    >>> import torch
    >>> o, w, b = torch.ones(2, 3), torch.zeros(3), torch.zeros(3)
    >>> modulate(o, w, b)  # (1 + 0.5) * 1 + 0.5
    tensor([[2., 2., 2.],
            [2., 2., 2.]])
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from modgen.errors import ConfigError, ShapeError

__all__ = [
    "GATES",
    "OPERATORS",
    "MODULATION_VARIANTS",
    "gate",
    "modulate",
    "check_modulation_options",
    "describe_modulation",
]

#: The gates applied to ``w`` and ``b``.
GATES: tuple[str, ...] = ("sigmoid", "softmax", "none")
#: How the gated ``w`` scales ``o``: ``(1 + g(w))``, ``(1 - g(w))`` or ``g(w)``.
OPERATORS: tuple[str, ...] = ("add", "sub", "mul")

#: Every combination of ``modulate``'s options, as keyword dicts (Table IV is a subset).
MODULATION_VARIANTS: tuple[dict[str, object], ...] = tuple(
    {"base": base, "operator": op, "gate": g, "bias": bias}
    for base, op, g, bias in itertools.product((True, False), OPERATORS, GATES, (True, False))
)


def check_modulation_options(*, base: object, operator: object, gate: object, bias: object) -> None:
    """Validate ``modulate``'s option values.

    Raises:
        ConfigError: a value is not one of the allowed choices; the message names the option,
            the value and the choices.

    Example:
        >>> check_modulation_options(base=True, operator="add", gate="sigmoid", bias=True)
    """
    if not isinstance(base, bool):
        raise ConfigError(f"modulation option base must be true or false, got {base!r}")
    if not isinstance(bias, bool):
        raise ConfigError(f"modulation option bias must be true or false, got {bias!r}")
    if operator not in OPERATORS:
        raise ConfigError(
            f"modulation option operator must be one of {', '.join(map(repr, OPERATORS))}, got {operator!r}"
        )
    if gate not in GATES:
        raise ConfigError(
            f"modulation option gate must be one of {', '.join(map(repr, GATES))}, got {gate!r}"
        )


def gate(x: Tensor, kind: str) -> Tensor:
    """Apply a modulation gate: ``sigmoid``, ``softmax`` over the last dim, or ``none``.

    Args:
        x: ``(..., d)`` modulation parameters.
        kind: one of :data:`GATES`.

    Returns:
        ``(..., d)``.

    Raises:
        ConfigError: ``kind`` is not a known gate.

    Example:
        >>> gate(torch.zeros(4), "softmax")
        tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """
    if kind == "sigmoid":
        return torch.sigmoid(x)
    if kind == "softmax":
        return torch.softmax(x, dim=-1)
    if kind == "none":
        return x
    raise ConfigError(f"modulation option gate must be one of {', '.join(map(repr, GATES))}, got {kind!r}")


def modulate(
    o: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    *,
    base: bool = True,
    operator: str = "add",
    gate: str = "sigmoid",
    bias: bool = True,
) -> Tensor:
    """Modulate a layer output with per-task parameters (Eq. 3 and the Table IV variants).

    ``w`` and ``b`` hold one vector per task and are broadcast over the sample dimension of
    ``o`` (they are unsqueezed at ``-2``).

    Args:
        o: ``(..., n, d)`` the layer output of ``n`` samples.
        w: ``(..., d)`` the scale parameters of the task(s).
        b: ``(..., d)`` the shift parameters; required when ``bias`` is true, ignored otherwise.
        base: keep the unit base, ``1 +- g(w)`` (otherwise the scale is ``g(w)``).
        operator: ``add`` (``1 + g(w)``), ``sub`` (``1 - g(w)``) or ``mul`` (``g(w)``).
        gate: ``sigmoid``, ``softmax`` (over ``d``) or ``none``, applied to ``w`` and ``b``.
        bias: add ``g(b)``.

    Returns:
        ``o_hat`` ``(..., n, d)``, the shape of ``o``.

    Raises:
        ConfigError: an option is not one of its choices, or ``bias`` is true without ``b``.
        ShapeError: ``w``/``b`` do not end in ``d`` or do not broadcast to ``o``.

    Example:
        >>> o = torch.randn(2, 5, 4)  # 2 tasks, 5 samples, width 4
        >>> w, b = torch.randn(2, 4), torch.randn(2, 4)
        >>> modulate(o, w, b, gate="softmax", operator="sub").shape
        torch.Size([2, 5, 4])
    """
    check_modulation_options(base=base, operator=operator, gate=gate, bias=bias)
    if o.dim() < 2:
        raise ShapeError(f"modulate: o must be (..., n, d), got shape {tuple(o.shape)}")
    _check_param_shape("w", w, o)
    if bias:
        if b is None:
            raise ConfigError("modulate: bias=True needs the shift parameters b; pass b or set bias=False")
        if b.shape != w.shape:
            raise ShapeError(f"modulate: b must have the shape of w {tuple(w.shape)}, got {tuple(b.shape)}")
    gw = _apply_gate(w, gate).unsqueeze(-2)
    if base and operator == "add":
        scale = 1 + gw
    elif base and operator == "sub":
        scale = 1 - gw
    else:
        scale = gw
    out = scale * o
    if bias and b is not None:  # b is not None whenever bias is (checked above)
        out = out + _apply_gate(b, gate).unsqueeze(-2)
    return out


# ``modulate``'s keyword ``gate`` shadows the module function inside it.
_apply_gate = gate


def _check_param_shape(name: str, p: Tensor, o: Tensor) -> None:
    d = o.shape[-1]
    if p.dim() < 1 or p.shape[-1] != d:
        raise ShapeError(
            f"modulate: {name} must be (..., {d}) to match o of shape {tuple(o.shape)}, got {tuple(p.shape)}"
        )
    try:
        full = torch.broadcast_shapes(o.shape, (*p.shape[:-1], 1, d))
    except RuntimeError as err:
        raise ShapeError(
            f"modulate: {name} of shape {tuple(p.shape)} does not broadcast over the samples of o "
            f"{tuple(o.shape)}; expected its leading dims to match o's leading (task) dims"
        ) from err
    if tuple(full) != tuple(o.shape):
        raise ShapeError(
            f"modulate: {name} of shape {tuple(p.shape)} would broadcast o {tuple(o.shape)} to "
            f"{tuple(full)}; its leading dims must match o's leading (task) dims"
        )


def describe_modulation(*, base: bool, operator: str, gate: str, bias: bool) -> str:
    """The formula of a variant as text, e.g. ``(1 + sigmoid(w)) * o + sigmoid(b)``.

    Example:
        >>> describe_modulation(base=False, operator="add", gate="none", bias=False)
        'w * o'
    """
    check_modulation_options(base=base, operator=operator, gate=gate, bias=bias)
    gw = "w" if gate == "none" else f"{gate}(w)"
    if base and operator == "add":
        text = f"(1 + {gw}) * o"
    elif base and operator == "sub":
        text = f"(1 - {gw}) * o"
    else:
        text = f"{gw} * o"
    if bias:
        text += " + " + ("b" if gate == "none" else f"{gate}(b)")
    return text
