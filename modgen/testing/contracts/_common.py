"""What every contract check shares: the error, building a component, tensor and device helpers."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn

import torch
from torch import Tensor, nn

__all__ = ["ContractError"]

ATOL = 1e-4
RTOL = 1e-4


class ContractError(AssertionError):
    """A component breaks the contract of its kind."""


def fail(who: str, message: str) -> NoReturn:
    raise ContractError(f"{who}: {message}")


def name_of(cls: Any) -> str:
    return str(getattr(cls, "__name__", cls))


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed dropout and other global-RNG draws without leaking the state to the caller."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def as_device(device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def randn(shape: Sequence[int], gen: torch.Generator, device: torch.device) -> Tensor:
    return torch.randn(tuple(shape), generator=gen, device=device)


def accepted(factory: Any) -> set[str] | None:
    """The keyword parameters ``factory`` takes; ``None`` when it takes ``**kwargs`` (or any)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def defaults_for(factory: Any, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The check's default sizes the factory accepts and the caller did not set (as ``tune`` does)."""
    takes = accepted(factory)
    return {k: v for k, v in defaults.items() if k not in given and (takes is None or k in takes)}


def call(who: str, factory: Any, *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)``; an exception becomes a :class:`ContractError` naming the call."""
    try:
        return factory(*args, **kwargs)
    except Exception as err:
        shown = [*(type(a).__name__ for a in args), *(f"{k}={v!r}" for k, v in kwargs.items())]
        raise ContractError(
            f"{who}: {name_of(factory)}({', '.join(shown)}) raised {type(err).__name__}: {err}"
        ) from err


def build(who: str, cls: Any, dims: dict[str, Any], params: dict[str, Any], device: torch.device) -> Any:
    try:
        obj = cls(**dims, **params)
    except Exception as err:
        raise ContractError(
            f"{who}: cls({', '.join(f'{k}={v!r}' for k, v in {**dims, **params}.items())}) raised "
            f"{type(err).__name__}: {err}"
        ) from err
    if isinstance(obj, nn.Module):
        obj.to(device)
    return obj


def check_tensor(who: str, what: str, t: Any, shape: tuple[int, ...]) -> Tensor:
    if not isinstance(t, Tensor):
        fail(who, f"{what} should be a Tensor of shape {shape}, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        fail(who, f"{what} has shape {tuple(t.shape)}, expected {shape}")
    if t.is_floating_point() and not torch.isfinite(t).all():
        fail(who, f"{what} has NaN or infinite values")
    return t
