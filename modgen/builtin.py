"""modgen's own plugin: registers the built-in components and recipes through the same hooks
third-party plugins use (see :mod:`modgen.hookspecs`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modgen.hookspecs import hookimpl

if TYPE_CHECKING:
    from modgen.plugins import Registries


@hookimpl
def modgen_register_components(registries: Registries) -> None:
    """Register every built-in component, one subpackage at a time."""
    from modgen import classify, data, nn, train

    for package in (nn, data, classify, train):
        package.register_components(registries)


@hookimpl
def modgen_register_recipes(registries: Registries) -> None:
    """Register ``amaz``, ``zsml``, ``clswgan`` and the Table IV variants."""
    from modgen.recipes import builtin_recipes

    for name, recipe in builtin_recipes().items():
        registries.recipe.register(name, recipe)
