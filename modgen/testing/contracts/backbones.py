"""The contract of the ``backbone`` kind: a frozen module from images to pooled features."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modgen.testing.contracts._common import ATOL, RTOL, as_device, build, check_tensor, fail, name_of

__all__ = ["check_backbone"]


def check_backbone(
    factory: Any,
    *,
    batch: int = 3,
    image_size: int = 64,
    device: torch.device | str | None = None,
    **params: Any,
) -> Any:
    """Check a backbone factory against the ``backbone`` contract.

    Builds ``factory(**params)`` and checks: a ``torch.nn.Module`` with an integer
    ``feature_dim``, an ``input_size``, three-channel ``mean``/``std`` and an ``info`` record
    whose ``weights`` entry says where they come from; ``(B, 3, S, S)`` images give ``(B, D)``
    finite features; the result is deterministic, each image's features do not depend on the
    rest of its batch (eval-mode BatchNorm), and it stays that way after ``.train()``.

    Args:
        factory: the registered object (a class or a function returning the backbone).
        batch: images per checked batch.
        image_size: the side of the checked images (small keeps the check fast).
        device: where to run it.
        **params: the backbone's parameters (``weights=``, ``sha256=``, ...).

    Returns:
        The built backbone.

    Example:
        >>> from modgen.backbones import TinyBackbone
        >>> check_backbone(TinyBackbone, dim=4).feature_dim
        4
    """
    who = f"backbone {name_of(factory)}"
    dev = as_device(device)
    net = build(who, factory, {}, params, dev)
    if not isinstance(net, nn.Module):
        fail(who, f"should build a torch.nn.Module, got {type(net).__name__}")
    dim = getattr(net, "feature_dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        fail(who, f"feature_dim should be a positive integer, got {dim!r}")
    if not isinstance(getattr(net, "input_size", None), int):
        fail(
            who,
            f"input_size should be an integer (the training resolution), got {getattr(net, 'input_size', None)!r}",
        )
    for key in ("mean", "std"):
        value = getattr(net, key, None)
        if not isinstance(value, (tuple, list)) or len(value) != 3:
            fail(who, f"{key} should be three per-channel numbers (RGB), got {value!r}")
    info = getattr(net, "info", None)
    if not isinstance(info, dict) or "name" not in info or not isinstance(info.get("weights"), dict):
        fail(
            who,
            f"info should be a dict with 'name' and a 'weights' dict (their source and sha256), got {info!r}",
        )

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, image_size, image_size, generator=gen).to(dev)
    net.train()  # a backbone must stay in eval mode
    with torch.no_grad():
        out = check_tensor(who, "forward(images)", net(images), (batch, dim))
        again = net(images)
        alone = net(images[:1])
    if not torch.equal(out, again):
        fail(who, "two forward passes over the same images differ; a backbone must be deterministic")
    if not torch.allclose(out[:1], alone, atol=ATOL, rtol=RTOL):
        fail(
            who,
            "an image's features depend on the rest of its batch (max difference "
            f"{(out[:1] - alone).abs().max().item():.3g}); keep BatchNorm in eval mode",
        )
    return net
