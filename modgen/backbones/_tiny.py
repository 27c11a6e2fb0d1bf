"""``tiny``: a small convolutional backbone with seeded random weights, for tests and smoke runs."""

from __future__ import annotations

from pathlib import Path

import torch

from modgen.backbones._base import IMAGENET_MEAN, IMAGENET_STD, ImageBackbone
from modgen.backbones._weights import load_weights, resolve_weights
from modgen.errors import ConfigError

__all__ = ["TinyBackbone"]


class TinyBackbone(ImageBackbone):
    """Random weights, for tests only: two small conv layers, ReLU, mean over positions.

    Its features mean nothing (nothing was trained); it exercises the extraction path in
    milliseconds. ``(B, 3, H, W)`` -> ``(B, dim)``.

    Args:
        dim: feature width ``D``.
        seed: seed of the random weights (the global random state is left alone).
        weights: a local state-dict file to load instead (needs ``sha256``).
        sha256: the checksum ``weights`` must have.

    Example:
        >>> TinyBackbone(dim=4)(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 4])
    """

    input_size = 32
    mean = IMAGENET_MEAN
    std = IMAGENET_STD

    def __init__(
        self, dim: int = 8, seed: int = 0, weights: str | Path | None = None, sha256: str | None = None
    ) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"dim: expected a positive integer, got {dim!r}")
        self.feature_dim = dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
                torch.nn.BatchNorm2d(8),
                torch.nn.ReLU(),
                torch.nn.Conv2d(8, dim, 3, stride=2, padding=1),
                torch.nn.ReLU(),
            )
        source = resolve_weights("tiny", weights, sha256, None)
        if source is not None:
            load_weights(self.body, source, "tiny")
        self.info = {
            "name": "tiny",
            "architecture": f"modgen TinyBackbone (dim {dim})",
            "pretrained_on": "nothing (random weights, for tests)",
            "weights": source.describe() if source is not None else {"source": f"random, seed {seed}"},
        }
        self.freeze()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, dim)``."""
        return self.body(images).mean(dim=(2, 3))  # type: ignore[no-any-return]
