"""The AMAZ networks (supplementary "Model architecture", Sections II-B and II-C).

Every network takes inputs with any leading (task) dims, ``(..., n, in) -> (..., n, out)``, and
normalises per task over the sample dim ``-2`` (:class:`TaskBatchNorm`). Registered names:

* generator ``mlp``: :class:`MLPGenerator`
* modulator ``attribute``: :class:`AttributeModulator`; ``none``: :class:`NoModulator`
* critic ``mlp``: :class:`MLPCritic`
* aux_classifier ``mlp``: :class:`MLPAuxClassifier`
* attribute_decoder ``mlp``: :class:`MLPAttributeDecoder`
* quality_weighter ``cosine``: :class:`CosineQualityWeighter`; ``uniform``:
  :class:`UniformQualityWeighter`

Example:
    >>> import torch
    >>> g = MLPGenerator(attr_dim=4, feature_dim=6, noise_dim=4, hidden=16)
    >>> mod = AttributeModulator(attr_dim=4, target_dims=g.modulated_dims, hidden=8)
    >>> a = torch.randn(2, 5, 4)  # 2 tasks, 5 samples each
    >>> g(torch.randn(2, 5, 4), a, mod(a)).shape
    torch.Size([2, 5, 6])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modgen.nn.blocks import FBD, FDL, TaskBatchNorm
from modgen.nn.critic import MLPCritic
from modgen.nn.generator import MLPGenerator
from modgen.nn.heads import MLPAttributeDecoder, MLPAuxClassifier
from modgen.nn.modulator import AttributeModulation, AttributeModulator, NoModulator
from modgen.nn.quality import CosineQualityWeighter, UniformQualityWeighter

if TYPE_CHECKING:
    from modgen.registry import PluginRegistries

__all__ = [
    "FBD",
    "FDL",
    "TaskBatchNorm",
    "MLPGenerator",
    "AttributeModulation",
    "AttributeModulator",
    "NoModulator",
    "MLPCritic",
    "MLPAuxClassifier",
    "MLPAttributeDecoder",
    "CosineQualityWeighter",
    "UniformQualityWeighter",
    "register_components",
]


def register_components(registries: PluginRegistries) -> None:
    """Register this subpackage's built-in components (called by :mod:`modgen.builtin`)."""
    registries.generator.register("mlp", MLPGenerator)
    registries.modulator.register("attribute", AttributeModulator)
    registries.modulator.register("none", NoModulator)
    registries.critic.register("mlp", MLPCritic)
    registries.aux_classifier.register("mlp", MLPAuxClassifier)
    registries.attribute_decoder.register("mlp", MLPAttributeDecoder)
    registries.quality_weighter.register("cosine", CosineQualityWeighter)
    registries.quality_weighter.register("uniform", UniformQualityWeighter)
