"""modgen-film: a FiLM-style modulator plugin for modgen (an example third-party plugin).

The plugin module :mod:`modgen_film.plugin` is found through the ``modgen`` entry point
``film``; it registers the modulator ``film.film`` and the recipe ``film.amaz-film``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["FiLMModulation", "FiLMModulator", "amaz_film"]

_WHERE = {"FiLMModulation": "modulator", "FiLMModulator": "modulator", "amaz_film": "plugin"}


def __getattr__(name: str) -> Any:
    """Load the components on first use (importing the package does not import torch)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'modgen_film' has no attribute {name!r}")
    return getattr(import_module(f"modgen_film.{_WHERE[name]}"), name)
