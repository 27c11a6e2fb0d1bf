"""``modgen plugin new``: scaffold a third-party plugin package."""

from __future__ import annotations

from pathlib import Path

import typer

from modgen.cli.toolkit import ModgenGroup, err_console

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Mount ``modgen plugin`` on ``app``."""
    plugin_app = typer.Typer(cls=ModgenGroup, help="Write modgen plugins.", no_args_is_help=True)

    @plugin_app.command("new")
    def new(
        name: str = typer.Argument(..., help="Plugin name: lowercase letters, digits, '_'."),
        dest: Path = typer.Option(
            Path("."), "--dest", metavar="DIR", help="Folder to create the package in."
        ),
    ) -> None:
        """Create a plugin package NAME/ that registers the example modulator NAME.scale."""
        from modgen.scaffold import new_plugin

        root = new_plugin(name, dest)
        err_console().print(f"Created plugin package {root}")
        err_console().print(f"Next: pip install -e {root} && modgen list modulator && (cd {root} && pytest)")

    app.add_typer(plugin_app, name="plugin")
