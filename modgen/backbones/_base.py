"""What every backbone is: a frozen ``torch.nn.Module`` from images to pooled features."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ImageBackbone", "IMAGENET_MEAN", "IMAGENET_STD"]

#: The torchvision-style ImageNet channel statistics (RGB, for images in ``[0, 1]``).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


class ImageBackbone(torch.nn.Module):
    """Base class of modgen's backbones: ``(B, 3, H, W)`` normalised images -> ``(B, D)``.

    A backbone is a fixed feature extractor: it is put in eval mode with gradients off when
    built, and :meth:`train` keeps it there (BatchNorm uses its trained statistics, so each
    image's features never depend on the rest of its batch).

    Attributes:
        feature_dim: ``D``, the width of the pooled features.
        input_size: the square resolution it was trained at (the default image size).
        mean: per-channel mean (RGB) the input is normalised with, for pixel values in ``[0, 1]``.
        std: per-channel standard deviation of that normalisation.
        info: provenance for build records: ``name``, ``architecture``, ``weights`` (file name,
            sha256, package and version, or ``"random"``).
    """

    feature_dim: int
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    info: dict[str, Any]

    def freeze(self) -> ImageBackbone:
        """Eval mode and no gradients; returns ``self``."""
        super().train(False)
        self.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> ImageBackbone:
        """A backbone stays in eval mode (its BatchNorm statistics are the trained ones)."""
        return super().train(False)
