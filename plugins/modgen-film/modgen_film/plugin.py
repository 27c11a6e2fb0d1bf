"""The plugin module of modgen-film: the hooks modgen calls (entry point ``film``).

Example:
    >>> from modgen.plugins import get_registries
    >>> import modgen_film.plugin
    >>> regs = get_registries(extra=[("film", modgen_film.plugin)], entry_points=False)
    >>> regs.modulator.entry("film.film").origin
    'film'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import evolve

from modgen import hookimpl
from modgen.config import ComponentSpec, RecipeSpec
from modgen.recipes import amaz
from modgen_film.modulator import FiLMModulator

if TYPE_CHECKING:
    from modgen.plugins import PluginRegistries


def amaz_film() -> RecipeSpec:
    """AMAZ with the FiLM modulator ``film.film`` in place of the attribute modulator of Eq. 3."""
    return evolve(
        amaz(),
        name="film.amaz-film",
        description="AMAZ with a FiLM modulator (o_hat = gamma * o + beta, no gates)",
        paper="Sections II-B (modulation swapped for FiLM), Algorithm 1, Section III-A",
        modulator=ComponentSpec("film.film"),
    )


@hookimpl
def modgen_register_components(registries: PluginRegistries) -> None:
    """Register the modulator ``film.film``."""
    registries.modulator.register("film.film", FiLMModulator)


@hookimpl
def modgen_register_recipes(registries: PluginRegistries) -> None:
    """Register the recipe ``film.amaz-film``."""
    registries.recipe.register("film.amaz-film", amaz_film)
