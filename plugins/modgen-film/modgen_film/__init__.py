"""modgen-film: a FiLM-style modulator plugin for modgen (an example third-party plugin).

The plugin module :mod:`modgen_film.plugin` is found through the ``modgen`` entry point
``film``; it registers the modulator ``film.film`` and the recipe ``film.amaz-film``.
"""

from __future__ import annotations

from modgen_film.modulator import FiLMModulation, FiLMModulator
from modgen_film.plugin import amaz_film

__all__ = ["FiLMModulation", "FiLMModulator", "amaz_film"]
