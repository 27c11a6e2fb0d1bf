"""``features=imagenet`` for the embedded data sets: an ImageNet-pretrained backbone's features.

Users' xlsa17 folders hold high-dimensional, non-negative, global-pooled features of an
ImageNet-pretrained CNN. The embedded sets' own features are pixels (digits) or a small CNN
trained on the seen classes (fashion-mnist), so neither looks like what users bring. With the
loader option ``features="imagenet"`` the same images, in the same split, go through a
registered backbone instead (default ``efficientnet-lite0``: 1280-d, ``pip install
'modgen-zsl[features]'``).

Preprocessing: the gray images are upscaled bilinearly to ``image_size`` (default 64) and
replicated to three channels, then normalised as the backbone was trained
(:class:`~modgen.backbones.Preprocessing`). 64 pixels: the smallest multiple of 32 (which keeps
the padding of the 224-pixel training geometry) at which the last stage still sees a 2x2 map.
Measured on one thread of a busy shared machine: fashion-mnist's 52,000 images in 8.4 minutes
(the process got 42% of a core), digits' 1,797 in 10-20 s; 96 pixels cost 3-4x more per image
(digits: 38 s against 10 s) and did not raise the closed-form floor on the digits validation
classes.

Features are extracted once and cached under ``cache_dir`` (default: ``$MODGEN_CACHE``, else
``$XDG_CACHE_HOME/modgen``, else ``~/.cache/modgen``; ``""`` turns the cache off), keyed by a
digest of the images, the backbone and its weights' sha256 and the preprocessing, and written
atomically. The data's ``preprocessing`` records the backbone, its weights' package, version and
sha256, and the preprocessing, so a run's ``summary.json`` says which features it saw.

Example:
    >>> from modgen.data.digits import load_digits_zsl
    >>> data = load_digits_zsl(features="imagenet")  # doctest: +SKIP
    >>> data.feature_dim, data.preprocessing["backbone"]["weights"]["sha256"][:8]  # doctest: +SKIP
    (1280, '57934424')
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from modgen.data._common import default_cache_dir, read_cached, save_atomic
from modgen.data.zsldata import ZSLData
from modgen.errors import ConfigError

__all__ = ["with_imagenet_features", "check_imagenet_options", "IMAGENET_IMAGE_SIZE"]

#: The square side the embedded sets' images are upscaled to (see the module's description).
IMAGENET_IMAGE_SIZE = 64

log = logging.getLogger("modgen")


def check_imagenet_options(dataset: str, backbone: Any, image_size: Any) -> None:
    """Fail early (before any image is read) on a bad ``backbone`` or ``image_size`` option."""
    if not isinstance(backbone, str) or not backbone:
        raise ConfigError(
            f"{dataset}: option backbone={backbone!r} must name a backbone (modgen list backbone)"
        )
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ConfigError(f"{dataset}: option image_size={image_size!r} must be an integer >= 8 (pixels)")


def _backbone(name: str) -> Any:
    """A built-in backbone (the embedded data sets load without any plugin).

    Raises:
        ConfigError: ``name`` is not a built-in backbone.
    """
    from modgen.backbones import build_backbone, builtin_backbones

    builtin = builtin_backbones()
    if name not in builtin.backbone:
        raise ConfigError(
            f"option backbone={name!r}: features=imagenet uses the built-in backbones "
            f"({', '.join(builtin.backbone.names())}); for a plugin's backbone write an xlsa17 folder with "
            "`modgen data features` and train with --data"
        )
    return build_backbone(name, None, registries=builtin)


def with_imagenet_features(
    data: ZSLData,
    images: np.ndarray,
    *,
    backbone: str = "efficientnet-lite0",
    image_size: int = IMAGENET_IMAGE_SIZE,
    batch_size: int = 128,
    cache_dir: str | Path | None = None,
) -> ZSLData:
    """``data`` with its features replaced by ``backbone``'s features of ``images``.

    Args:
        data: the data set (its rows are ``images``' rows).
        images: ``(N, H, W)`` gray images, uint8 or floats in ``[0, 1]``.
        backbone: a registered backbone.
        image_size: the square input side.
        batch_size: images per forward pass (runs on torch's current CPU threads).
        cache_dir: where features are cached (``None``: the default cache; ``""``: none).

    Returns:
        The data with ``(N, D)`` float32 features and the backbone recorded in ``preprocessing``.

    Raises:
        ConfigError: an unknown backbone or a missing package (``pip install 'modgen-zsl[features]'``).
        DataError: the backbone's weights fail their checksum or do not fit its architecture.
    """
    from modgen.backbones import Preprocessing, extract_features

    check_imagenet_options(data.name, backbone, image_size)
    net = _backbone(backbone)
    prep = Preprocessing.for_backbone(net, image_size)
    settings = {
        "backbone": net.info,
        "preprocessing": prep.describe(),
        "images": [list(images.shape), str(images.dtype)],
    }
    cache: Path | None = None
    if cache_dir is None:
        cache_dir = default_cache_dir()
    if cache_dir:
        digest = hashlib.sha256(
            json.dumps(settings, sort_keys=True).encode()
            + hashlib.sha256(np.ascontiguousarray(images).tobytes()).digest()
        ).hexdigest()[:20]
        cache = Path(cache_dir).expanduser() / f"{data.name}-imagenet-{backbone}-{digest}.npy"
    feats = read_cached(cache, (images.shape[0], int(net.feature_dim)))
    if feats is None:
        import torch

        log.info(
            "%s: %s features of %d images at %d px on %d thread(s), once%s",
            data.name,
            backbone,
            images.shape[0],
            prep.image_size,
            torch.get_num_threads(),
            f" (cached in {cache.parent})" if cache is not None else "",
        )
        t0 = time.perf_counter()
        feats = extract_features(net, images, image_size=prep.image_size, batch_size=batch_size)
        log.info("%s: features extracted in %.0f s", data.name, time.perf_counter() - t0)
        if cache is not None:
            save_atomic(cache, feats)
    shape = "x".join(str(s) for s in images.shape[1:])
    prep_record = dict(
        data.preprocessing,
        features=f"{backbone} features ({feats.shape[1]}-d) of the {shape} images upscaled to "
        f"{prep.image_size}x{prep.image_size}",
        backbone=net.info,
        backbone_input=prep.describe(),
    )
    if cache is not None:
        prep_record["imagenet_cache"] = cache.name
    return attrs.evolve(data, features=feats, preprocessing=prep_record)
