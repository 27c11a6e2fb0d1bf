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

if TYPE_CHECKING:
    from modgen.plugins import PluginRegistries

# The components (and torch) are imported inside the hooks: modgen loads every plugin module to
# build its command line, and `modgen --help` should not pay for importing torch.


def amaz_film() -> RecipeSpec:
    """AMAZ with the FiLM modulator ``film.film`` in place of the attribute modulator of Eq. 3."""
    from modgen.recipes import amaz

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
    from modgen_film.modulator import FiLMModulator

    registries.modulator.register("film.film", FiLMModulator)


@hookimpl
def modgen_register_recipes(registries: PluginRegistries) -> None:
    """Register the recipe ``film.amaz-film``."""
    registries.recipe.register("film.amaz-film", amaz_film)
