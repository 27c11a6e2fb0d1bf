"""modgen: an extensible plug-in library for modulated generators in zero-shot learning.

It implements AMAZ (Li, Liu, Yao, Chang, "Attribute-Modulated Generative Meta Learning for
Zero-Shot Learning", arXiv 2104.10857) as the recipe ``amaz``, one assembly among swappable
components. Nothing happens at import time beyond definitions: registries come from
:func:`get_registries`.
"""

from __future__ import annotations

from modgen._version import __version__
from modgen.config import ComponentSpec, DataConfig, EvalConfig, RecipeSpec, TrainConfig
from modgen.errors import ModgenError
from modgen.hookspecs import hookimpl
from modgen.plugins import Registries, get_registries
from modgen.registry import Registry

__all__ = [
    "__version__",
    "ComponentSpec",
    "DataConfig",
    "EvalConfig",
    "ModgenError",
    "RecipeSpec",
    "Registries",
    "Registry",
    "TrainConfig",
    "get_registries",
    "hookimpl",
]
