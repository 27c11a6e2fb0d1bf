"""modgen's own plugin: registers the built-in components, recipes and presets through the same
hooks third-party plugins use (see :mod:`modgen.hookspecs`). modgen's own commands come from the
command line's plugin, :mod:`modgen.cli.commands`, through the same hook as a plugin's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modgen.hookspecs import hookimpl

if TYPE_CHECKING:
    from modgen.registry import PluginRegistries


@hookimpl(tryfirst=True)  # built-ins first: every plugin can build on them
def modgen_register_components(registries: PluginRegistries) -> None:
    """Register every built-in component, one subpackage at a time."""
    from modgen import backbones, classify, data, loggers, nn, train

    for package in (nn, data, classify, train, backbones, loggers):
        package.register_components(registries)


@hookimpl(tryfirst=True)
def modgen_register_recipes(registries: PluginRegistries) -> None:
    """Register ``amaz``, ``zsml``, ``clswgan``, the Table IV variants and the presets."""
    from modgen.recipes import builtin_presets, builtin_recipes
    from modgen.testing.presets import tiny

    for name, recipe in builtin_recipes().items():
        registries.recipe.register(name, recipe)
    for name, preset in builtin_presets().items():
        registries.preset.register(name, preset)
    registries.preset.register("tiny", tiny)
