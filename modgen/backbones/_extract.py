"""Images to features through a backbone: one preprocessing, batched, recorded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from attrs import frozen

from modgen.errors import ConfigError, DataError, ShapeError

__all__ = ["Preprocessing", "extract_features", "EXTRACTION_VERSION"]

#: Bumped whenever the preprocessing or pooling changes what features an image gets (caches
#: keyed on it are then never read again).
EXTRACTION_VERSION = 1

Progress = Callable[[int, int], None]


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 8:
        raise ConfigError(f"image_size: expected an integer >= 8 (pixels of the square input), got {value!r}")
    return value


@frozen
class Preprocessing:
    """How an image becomes a backbone's input.

    Pixels are scaled to ``[0, 1]`` (``uint8 / 255``; float images are taken as already in
    ``[0, 1]``), a gray image is replicated to three channels (an alpha channel is dropped), the
    shorter side is resized to ``image_size`` (bilinear, ``align_corners=False``, antialiased
    when shrinking) and the centre ``image_size x image_size`` square is kept (square images are
    only resized), then each channel is normalised with the backbone's ``mean`` and ``std``.

    Attributes:
        image_size: the side of the square input.
        mean: per-channel (RGB) mean.
        std: per-channel (RGB) standard deviation.

    Example:
        >>> prep = Preprocessing(16, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        >>> prep([np.zeros((8, 8), np.uint8)]).shape
        torch.Size([1, 3, 16, 16])
    """

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def for_backbone(cls, backbone: Any, image_size: int | None = None) -> Preprocessing:
        """The backbone's own normalisation at ``image_size`` (default: its training resolution)."""
        size = _size(image_size if image_size is not None else int(backbone.input_size))
        return cls(size, tuple(float(v) for v in backbone.mean), tuple(float(v) for v in backbone.std))  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        """A JSON-ready record (build info, cache keys)."""
        return {
            "image_size": self.image_size,
            "pixels": "uint8 / 255 (float images taken as in [0, 1])",
            "channels": "gray replicated to RGB; alpha dropped",
            "resize": "shorter side to image_size, bilinear (align_corners=False, antialiased when shrinking), "
            "centre crop",
            "normalise": {"mean": list(self.mean), "std": list(self.std)},
            "pooling": "the backbone's own (mean over positions)",
            "extraction_version": EXTRACTION_VERSION,
        }

    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """``B`` images (each ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``) -> ``(B, 3, S, S)``."""
        shapes = {np.shape(im) for im in images}
        if len(shapes) == 1:
            x = self._resize(
                _channels_first(np.stack(list(images)) if not isinstance(images, np.ndarray) else images)
            )
        else:
            x = torch.cat([self._resize(_channels_first(np.asarray(im)[None])) for im in images])
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, 3, 1, 1)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        s = self.image_size
        h, w = x.shape[-2:]
        scale = s / min(h, w)
        nh, nw = max(s, round(h * scale)), max(s, round(w * scale))
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=scale < 1)
        top, left = (nh - s) // 2, (nw - s) // 2
        return x[..., top : top + s, left : left + s]


def _channels_first(batch: np.ndarray) -> torch.Tensor:
    """``(B, H, W[, C])`` pixels -> ``(B, 3, H, W)`` float32 in ``[0, 1]``."""
    arr = np.asarray(batch)
    if not arr.flags.writeable:  # torch.from_numpy warns on read-only arrays (Pillow's are)
        arr = np.array(arr)
    if arr.dtype == np.uint8:
        x = torch.from_numpy(np.ascontiguousarray(arr)).float().div_(255.0)
    elif arr.dtype.kind == "f":
        x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    else:
        raise DataError(f"images: expected uint8 or float pixels, got dtype {arr.dtype}")
    if x.ndim == 3:
        x = x.unsqueeze(-1)
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"images: expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) per image, got {tuple(arr.shape[1:])}"
        )
    x = x[..., :3] if x.shape[-1] >= 3 else x.expand(*x.shape[:-1], 3)
    return x.permute(0, 3, 1, 2)


def extract_features(
    backbone: Any,
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    image_size: int | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
) -> np.ndarray:
    """Features of every image through ``backbone``, batch by batch.

    Runs under ``torch.inference_mode`` with the backbone frozen, on the threads torch is set
    to use (the caller decides them: ``torch.set_num_threads``).

    Args:
        backbone: an :class:`~modgen.backbones.ImageBackbone` (or anything with its attributes).
        images: an array ``(N, H, W[, C])`` or a sequence of ``N`` images (each read when it is
            indexed, so an image folder is never held in memory at once).
        image_size: the square input side (default: the backbone's training resolution).
        batch_size: images per forward pass.
        device: where the backbone runs.
        progress: called as ``progress(done, total)`` after each batch.

    Returns:
        ``(N, D)`` float32 features.

    Raises:
        ConfigError: a bad ``image_size`` or ``batch_size``.
        DataError: an image that cannot be read or has an unusable shape or dtype.
        ShapeError: the backbone returned something other than ``(B, feature_dim)`` finite values.

    Example:
        >>> from modgen.backbones import TinyBackbone
        >>> extract_features(TinyBackbone(dim=4), np.zeros((5, 8, 8), np.uint8), image_size=16, batch_size=2).shape
        (5, 4)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size: expected a positive integer, got {batch_size!r}")
    prep = Preprocessing.for_backbone(backbone, image_size)
    dev = torch.device(device)
    backbone = backbone.to(dev).to(memory_format=torch.channels_last)
    backbone.train(False)
    n, dim = len(images), int(backbone.feature_dim)
    out = np.empty((n, dim), dtype=np.float32)
    name = getattr(backbone, "info", {}).get("name", type(backbone).__name__)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            batch = (
                images[start:stop]
                if isinstance(images, np.ndarray)
                else [images[i] for i in range(start, stop)]
            )
            feats = backbone(prep(batch).to(dev))
            if tuple(feats.shape) != (stop - start, dim) or not bool(torch.isfinite(feats).all()):
                raise ShapeError(
                    f"backbone {name!r} returned {tuple(feats.shape)} (finite: {bool(torch.isfinite(feats).all())}) "
                    f"for {stop - start} images; expected ({stop - start}, {dim}) finite features"
                )
            out[start:stop] = feats.float().cpu().numpy()
            if progress is not None:
                progress(stop, n)
    return out
