"""Validation of constructor parameters: each raises ConfigError naming owner, parameter, value."""

from __future__ import annotations

from collections.abc import Sequence

from modgen.errors import ConfigError, ShapeError


def positive_int(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return value


def dropout_p(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigError(f"{owner}: {name} must be a probability in [0, 1), got {value!r}")
    return float(value)


def nonneg_float(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def positive_float(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{owner}: {name} must be a number > 0, got {value!r}")
    return float(value)


def choice(owner: str, name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{owner}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def widths(owner: str, name: str, value: object, *, length: int | None = None) -> tuple[int, ...]:
    """A tuple of positive ints from a tuple or list (TOML gives lists)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(f"{owner}: {name} must be a list of positive integers, got {value!r}")
    out = tuple(positive_int(owner, f"{name}[{i}]", v) for i, v in enumerate(value))
    if length is not None and len(out) != length:
        raise ConfigError(f"{owner}: {name} must list {length} widths, got {len(out)}: {value!r}")
    if not out:
        raise ConfigError(f"{owner}: {name} must not be empty")
    return out


def last_dim(owner: str, name: str, t_shape: Sequence[int], dim: int, *, min_dims: int = 2) -> None:
    """Raise ShapeError unless a tensor of shape ``t_shape`` is ``(..., n, dim)``."""
    if len(t_shape) < min_dims or t_shape[-1] != dim:
        lead = "(..., n, " if min_dims >= 2 else "(..., "
        raise ShapeError(f"{owner}: {name} must be {lead}{dim}), got shape {tuple(t_shape)}")
