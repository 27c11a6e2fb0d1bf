"""The hooks a modgen plugin can implement.

A plugin is a module (or object) with functions decorated by :data:`hookimpl` whose names are
the hook names below. It is found through the ``modgen`` entry-point group::

    [project.entry-points.modgen]
    myplugin = "myplugin.plugin"

modgen's own components register through these very hooks (``modgen.builtin``), so a plugin
is on equal footing with the built-ins. Hook implementations whose names are not listed here
are rejected when the plugin loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import typer

    from modgen.config import RecipeSpec
    from modgen.registry import PluginRegistries

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

#: The pluggy project name; also the entry-point group.
PROJECT_NAME = "modgen"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorator for a plugin's hook implementations: ``@hookimpl def modgen_register_components(...)``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def modgen_register_components(registries: PluginRegistries) -> None:
    """Register components (generators, modulators, samplers, classifiers, ...).

    Called once per plugin when the registries are built, in pluggy's order: modgen's built-ins
    first (their hooks are ``tryfirst``), then the plugins (``tryfirst`` ones, then plain ones,
    each group in the reverse of the order they were loaded), then ``trylast`` ones, which
    therefore see every other plugin's components. Wrappers (``wrapper=True``,
    ``hookwrapper=True``) are refused when the plugin loads.

    ``registries`` is a :class:`~modgen.registry.PluginRegistries`: one
    :class:`~modgen.registry.ScopedRegistry` per kind of :data:`~modgen.registry.KINDS` as
    attributes (``generator``, ``modulator``, ``critic``, ``aux_classifier``,
    ``attribute_decoder``, ``quality_weighter``, ``task_sampler``, ``final_classifier``,
    ``trainer``, ``dataset``, ``backbone``, ``recipe``, ``preset``, ``logger``). Registrations made here are recorded with
    the plugin's name as their origin. Third-party names must start with ``"<plugin>."``.

    :param registries: the registries to add to and look up in, scoped to the calling plugin.

    Example::

        @hookimpl
        def modgen_register_components(registries):
            registries.modulator.register("myplugin.film", FiLMModulator)
    """


@hookspec
def modgen_register_recipes(registries: PluginRegistries) -> None:
    """Register recipes: named functions returning a :class:`~modgen.config.RecipeSpec`.

    Called after every plugin's :func:`modgen_register_components` (so a recipe may name
    components of any plugin), in the same order. Recipe names of third-party plugins start
    with ``"<plugin>."``.

    :param registries: the registries, scoped to the calling plugin; add to
        ``registries.recipe``.

    Example::

        @hookimpl
        def modgen_register_recipes(registries):
            registries.recipe.register("myplugin.amaz-film", lambda: evolve(amaz(), ...))
    """


@hookspec
def modgen_register_commands(app: typer.Typer) -> None:
    """Add commands to the ``modgen`` command line.

    Called when the CLI starts. Add a command with ``@app.command("name")`` or a group with
    ``app.add_typer(sub, name="name")``. A command name already taken is an error for the plugin.

    :param app: the root ``typer.Typer`` application of ``modgen``.
    """


@hookspec
def modgen_train_record(spec: RecipeSpec, folder: Path, episode: int, record: dict[str, Any]) -> str | None:
    """See each training record as it is logged, and ask the run to stop early.

    Called on the main process after every record of ``metrics.jsonl`` is written (every
    ``run.log_every`` episodes and at the last one), for every plugin that implements it, in
    pluggy's order. Returning a non-empty string asks the loop to stop: the episode is finished
    and checkpointed, the run is evaluated as usual, and ``provenance.json`` records
    ``stopped_early = {"episode": ..., "reason": ..., "by": ...}``. Returning ``None`` lets the
    run go on. An exception raised here fails the run (it is a callback the user chose).
    The return value is the reason to stop, or ``None``.

    :param spec: the run's resolved spec.
    :param folder: the run folder.
    :param episode: the episode of the record.
    :param record: the record as written to ``metrics.jsonl`` (``loss/...`` means and timings).

    Example::

        @hookimpl
        def modgen_train_record(spec, folder, episode, record):
            if record["loss/critic"] < -50:
                return f"critic loss {record['loss/critic']:.1f} below -50"
            return None
    """
