"""The command line's own plugin: modgen's commands, registered through ``modgen_register_commands``
exactly as a third-party plugin's are (the CLI registers it first; see :func:`modgen.cli.app.build_app`)."""

from __future__ import annotations

import typer

from modgen.hookspecs import hookimpl

#: The name this plugin is registered under (its failures are errors, never a silently missing command).
NAME = "builtin-commands"


@hookimpl
def modgen_register_commands(app: typer.Typer) -> None:
    """Add train, evaluate, synthesize, retrieve, compare, plot, data, sweep and plugin."""
    from modgen.cli import data, plugin, report, runs, sweep

    for module in (runs, report, data, sweep, plugin):
        module.register(app)
