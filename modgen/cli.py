"""The ``modgen`` command line (typer + rich).

This is the only module that prints or parses strings into specs. Every
:class:`~modgen.errors.ModgenError` raised below a command becomes one line on stderr and the
error's exit code; other commands come from plugins through the ``modgen_register_commands``
hook.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from modgen import __version__
from modgen.errors import ModgenError, PluginError
from modgen.plugins import KINDS, Registries, _fail, get_plugin_manager, load_plugins

__all__ = ["build_app", "main"]


class _ModgenGroup(TyperGroup):
    """A click group that turns ModgenError into one clear line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ModgenError as err:
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                f"[bold red]Error:[/] {err}", markup=True
            )
            raise typer.Exit(err.exit_code) from None


class _State:
    """Lazily built registries shared by the commands of one app."""

    def __init__(self, registries: Registries | None) -> None:
        self._registries = registries
        self.loaded: Any = None

    @property
    def registries(self) -> Registries:
        if self._registries is None:
            self._registries = load_plugins(self.loaded)
        return self._registries


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"modgen {__version__}")
        raise typer.Exit()


def build_app(registries: Registries | None = None, *, plugin_commands: bool = True) -> typer.Typer:
    """The ``modgen`` typer application.

    Args:
        registries: use these registries instead of discovering plugins (tests).
        plugin_commands: let plugins add commands through ``modgen_register_commands``.
    """
    app = typer.Typer(
        cls=_ModgenGroup,
        name="modgen",
        help="Attribute-modulated generative meta-learning for zero-shot learning.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    state = _State(registries)
    console = Console(highlight=False, soft_wrap=True)

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """modgen: modulated generators for zero-shot learning."""

    # -- list ---------------------------------------------------------------------------------
    @app.command("list")
    def list_cmd(
        kind: str | None = typer.Argument(None, help=f"One kind: {', '.join(KINDS)}."),
    ) -> None:
        """List component kinds, their components and the recipes, with their origin."""
        regs = state.registries
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            reg = regs.kind(k)
            table = Table(title=f"{k} ({len(reg)})", title_justify="left", show_edge=False)
            table.add_column("name")
            table.add_column("origin")
            table.add_column("description")
            for entry in reg.entries():
                table.add_row(entry.name, entry.origin, entry.summary)
            console.print(table)
        if regs.failures:
            console.print(f"[yellow]{len(regs.failures)} plugin(s) failed to load; see `modgen plugins`.[/]")

    # -- plugins ------------------------------------------------------------------------------
    @app.command("plugins")
    def plugins_cmd() -> None:
        """Show loaded plugins and those that failed, with the reason."""
        regs = state.registries
        table = Table(show_edge=False)
        table.add_column("plugin")
        table.add_column("status")
        table.add_column("components")
        counts: dict[str, int] = {}
        for k in KINDS:
            for e in regs.kind(k).entries():
                counts[e.origin] = counts.get(e.origin, 0) + 1
        for name in regs.plugins:
            table.add_row(name, "[green]loaded[/]", str(counts.get(name, 0)))
        for f in regs.failures:
            table.add_row(f.name, f"[red]failed[/] ({f.stage})", f.error)
        console.print(table)

    # -- recipe -------------------------------------------------------------------------------
    recipe_app = typer.Typer(cls=_ModgenGroup, help="Inspect recipes.", no_args_is_help=True)

    @recipe_app.command("show")
    def recipe_show(
        name: str = typer.Argument(..., help="A registered recipe."),
        dataset: str | None = typer.Option(None, help="Apply this data set's preset (AWA2, digits, ...)."),
        set_: list[str] = typer.Option([], "--set", help="Override a key: --set trainer.episodes=200."),
        params: bool = typer.Option(False, "--params", help="Build the assembly and count parameters."),
        attr_dim: int = typer.Option(85, help="Attribute dimension A for --params (AWA2: 85)."),
        feature_dim: int = typer.Option(2048, help="Feature dimension D for --params (ResNet-101: 2048)."),
        num_classes: int = typer.Option(40, help="Training classes for --params (AWA2: 40)."),
    ) -> None:
        """Print the fully resolved TOML of a recipe (and, with --params, its assembly)."""
        from modgen.config import spec_to_toml

        spec = resolve_recipe(state.registries, name, dataset=dataset, overrides=set_)
        if params:
            from modgen.assembly import build_assembly

            assembly = build_assembly(
                spec,
                state.registries,
                attr_dim=attr_dim,
                feature_dim=feature_dim,
                num_classes=num_classes,
                device="meta",
            )
            console.print(assembly.describe())
        else:
            typer.echo(spec_to_toml(spec), nl=False)

    app.add_typer(recipe_app, name="recipe")

    _add_optional_commands(app, state)

    if plugin_commands:
        loaded = get_plugin_manager()
        state.loaded = loaded
        _add_plugin_commands(app, loaded)
    return app


def resolve_recipe(
    registries: Registries, name: str, *, dataset: str | None = None, overrides: list[str] | None = None
) -> Any:
    """The recipe ``name`` with the data-set preset and ``--set`` overrides applied."""
    from attrs import evolve

    from modgen.config import RecipeSpec, apply_overrides
    from modgen.recipes import with_dataset_preset

    factory = registries.recipe.get(name)
    spec = factory()
    if not isinstance(spec, RecipeSpec):
        raise PluginError(f"recipe {name!r} returned {type(spec).__name__}, expected a RecipeSpec")
    if dataset:
        spec = with_dataset_preset(spec, dataset)
        xlsa = dataset.upper() in {"AWA1", "AWA2", "CUB", "SUN", "APY"}
        data = (
            evolve(spec.data, dataset="xlsa17", name=dataset.upper())
            if xlsa
            else evolve(spec.data, dataset=dataset)
        )
        spec = evolve(spec, data=data)
    return apply_overrides(spec, overrides or [])


def _add_optional_commands(app: typer.Typer, state: _State) -> None:
    """Mount the command groups of subpackages (data, plugin scaffold, training, evaluation)."""
    try:
        from modgen.data.cli import data_app
    except ImportError:
        data_app = None
    if data_app is not None:
        app.add_typer(data_app, name="data", help="Inspect and make data sets.")
    try:
        from modgen.scaffold import plugin_app
    except ImportError:
        plugin_app = None
    if plugin_app is not None:
        app.add_typer(plugin_app, name="plugin", help="Write a new plugin package.")
    try:
        from modgen.train.cli import register_commands
    except ImportError:
        register_commands = None
    if register_commands is not None:
        register_commands(app, lambda: state.registries)


def _command_names(commands: list[Any], groups: list[Any]) -> list[str]:
    """Names of typer commands and groups as the CLI exposes them."""
    names = [c.name or (c.callback.__name__.replace("_", "-") if c.callback else "") for c in commands]
    return names + [g.name or "" for g in groups]


def _add_plugin_commands(app: typer.Typer, loaded: Any) -> None:
    """Let each plugin add commands; a plugin that raises or reuses a taken name is skipped."""
    caller = loaded.manager.hook.modgen_register_commands
    for impl in caller.get_hookimpls():
        n_cmd, n_grp = len(app.registered_commands), len(app.registered_groups)
        taken = set(_command_names(app.registered_commands, app.registered_groups))
        try:
            impl.function(app=app)
            new = _command_names(app.registered_commands[n_cmd:], app.registered_groups[n_grp:])
            clash = sorted(set(new) & taken)
            if clash:
                raise PluginError(f"command name {clash[0]!r} is already taken; choose another name")
        except Exception as err:  # noqa: BLE001 - a broken plugin must not break the CLI
            del app.registered_commands[n_cmd:]
            del app.registered_groups[n_grp:]
            _fail(loaded.failures, impl.plugin_name, "modgen_register_commands", err)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app = build_app()
    except ModgenError as err:  # strict plugin mode, or a broken built-in
        Console(stderr=True, highlight=False).print(f"[bold red]Error:[/] {err}")
        raise SystemExit(err.exit_code) from None
    app(args=argv if argv is not None else sys.argv[1:], prog_name="modgen")


if __name__ == "__main__":  # pragma: no cover
    main()
