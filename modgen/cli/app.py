"""The root of the ``modgen`` app: global options, ``list``, ``plugins``, ``recipe show``.

What every command shares (the error-handling group, the state, the consoles) is in
:mod:`modgen.cli.toolkit`, so command modules never import this one.

Every other command comes from a plugin through ``modgen_register_commands`` — modgen's own
(:mod:`modgen.cli.commands`: ``train``, ``evaluate``, ``data``, ``sweep``, ...) exactly as a third
party's. A plugin whose commands fail to register, or reuse a taken name, is reported and
skipped; a failure of modgen's own commands is an error, never a silently missing command.
"""

from __future__ import annotations

import logging
from typing import Any

import typer

from modgen.cli.toolkit import ModgenGroup, State, console, err_console, get_state

__all__ = ["build_app"]


def _version(value: bool) -> None:
    if value:
        from modgen import __version__

        typer.echo(f"modgen {__version__}")
        raise typer.Exit()


def build_app(registries: Any = None, *, plugin_commands: bool = True) -> typer.Typer:
    """The ``modgen`` application.

    Args:
        registries: use these registries instead of discovering plugins (tests).
        plugin_commands: let third-party plugins add commands (modgen's own are always added).

    Raises:
        PluginError: modgen's own commands failed to register (a bug, never hidden).
    """
    state = State(registries)
    app = typer.Typer(
        cls=ModgenGroup,
        name="modgen",
        help="Attribute-modulated generative meta-learning for zero-shot learning.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"obj": state},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
        verbose: int = typer.Option(
            0,
            "--verbose",
            "-v",
            count=True,
            help="More detail: the resolved sizes, device, thread policy, each classifier's grid and "
            "where time went (-vv: every library's debugging too).",
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only results and errors; no progress."),
    ) -> None:
        """modgen: modulated generators for zero-shot learning."""
        ctx.obj = state
        _log_levels(quiet, verbose)
        state.quiet = quiet  # type: ignore[attr-defined]
        state.verbose = verbose  # type: ignore[attr-defined]

    _root_commands(app)
    from modgen.cli import commands
    from modgen.plugins import add_commands, get_plugin_manager

    loaded = get_plugin_manager(entry_points=plugin_commands)
    loaded.manager.register(commands, name=commands.NAME)
    state.loaded = loaded
    add_commands(app, loaded, first=commands.NAME)
    return app


def _log_levels(quiet: bool, verbose: int) -> None:
    """Steps (logger ``modgen`` at INFO) by default; ``-q``: warnings only; ``-v``: modgen's detail
    lines (DEBUG of ``modgen.*``: sizes, device, threads, grids, seconds); ``-vv``: every library's
    DEBUG too."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(format="%(message)s", level=level, force=True)
    # set on every call: the level outlives one invocation of the app (tests run many)
    logging.getLogger("modgen").setLevel(logging.DEBUG if verbose and not quiet else logging.NOTSET)


def _root_commands(app: typer.Typer) -> None:
    """Add ``list``, ``plugins`` and ``recipe show`` to ``app``."""
    app.command("list")(list_cmd)
    app.command("plugins")(plugins_cmd)
    recipe_app = typer.Typer(cls=ModgenGroup, help="Inspect recipes.", no_args_is_help=True)
    recipe_app.command("show")(recipe_show)
    app.add_typer(recipe_app, name="recipe")


def list_cmd(
    ctx: typer.Context,
    kind: str | None = typer.Argument(None, help="One kind (generator, modulator, ..., recipe, preset)."),
) -> None:
    """List component kinds, their components, recipes and presets, with their origin."""
    from rich.table import Table

    from modgen.plugins import KINDS

    regs = get_state(ctx).registries
    out = console()
    for k in [kind] if kind else list(KINDS):
        reg = regs.kind(k)
        table = Table(title=f"{k} ({len(reg)})", title_justify="left", show_edge=False)
        for col in ("name", "origin", "description"):
            table.add_column(col)
        for entry in reg.entries():
            table.add_row(entry.name, entry.origin, entry.summary)
        out.print(table)
    if regs.failures:
        err_console().print(f"{len(regs.failures)} plugin(s) failed to load; see `modgen plugins`.")


def plugins_cmd(ctx: typer.Context) -> None:
    """Show loaded plugins (components and recipes each registered) and those that failed."""
    from rich.table import Table

    from modgen.plugins import plugin_summary

    regs = get_state(ctx).registries
    table = Table(show_edge=False)
    for col in ("plugin", "version", "status", "components", "recipes", "presets"):
        table.add_column(col)
    for row in plugin_summary(regs):
        table.add_row(
            row["name"],
            row["version"],
            "loaded",
            str(row["components"]),
            str(row["recipes"]),
            str(row["presets"]),
        )
    for f in regs.failures:
        table.add_row(f.name, "", f"failed ({f.stage}): {f.error}", "", "", "")
    console().print(table)


def recipe_show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A registered recipe (modgen list recipe)."),
    dataset: str | None = typer.Option(
        None, "--dataset", metavar="NAME", help="Apply this data set and its preset."
    ),
    data: str | None = typer.Option(None, "--data", metavar="DIR", help="An xlsa17-layout data folder."),
    preset: str | None = typer.Option(
        None, "--preset", metavar="NAME", help="A registered preset (modgen list preset)."
    ),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Override a key (repeatable)."),
    params: bool = typer.Option(False, "--params", help="Build the assembly and count its parameters."),
    attr_dim: int = typer.Option(85, metavar="A", help="Attribute dimension A for --params (AWA2: 85)."),
    feature_dim: int = typer.Option(
        2048, metavar="D", help="Feature dimension D for --params (ResNet-101: 2048)."
    ),
    num_classes: int = typer.Option(40, metavar="C", help="Training classes for --params (AWA2: 40)."),
) -> None:
    """Print the fully resolved recipe as TOML: exactly what `modgen train` with the same options runs."""
    from modgen.config import spec_to_toml
    from modgen.pipeline import resolve_spec

    regs = get_state(ctx).registries
    spec = resolve_spec(regs, name, dataset=dataset, data=data, preset=preset, overrides=set_)
    if params:
        from modgen.assembly import build_assembly
        from modgen.report import assembly_table

        assembly = build_assembly(
            spec, regs, attr_dim=attr_dim, feature_dim=feature_dim, num_classes=num_classes, device="meta"
        )
        console().print(assembly_table(assembly))
    else:
        typer.echo(spec_to_toml(spec), nl=False)
