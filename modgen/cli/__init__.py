"""The ``modgen`` command line: thin commands over :mod:`modgen.pipeline` (typer + rich).

This package is the only place that prints or parses strings into specs, and nothing else in
modgen imports it. :func:`main` answers ``--version`` before importing anything heavy; the
app is built by :func:`build_app` from the commands every plugin — modgen's own first —
registers through the ``modgen_register_commands`` hook. Every failure a user can cause ends
as one plain line on stderr and an exit code (:mod:`modgen.cli.errors`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

    from modgen.registry import Registries

__all__ = ["build_app", "main"]


def build_app(registries: Registries | None = None, *, plugin_commands: bool = True) -> typer.Typer:
    """The ``modgen`` typer application (see :func:`modgen.cli.app.build_app`)."""
    from modgen.cli.app import build_app as build

    return build(registries, plugin_commands=plugin_commands)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # answered without importing typer, torch or any plugin
        from modgen import __version__

        print(f"modgen {__version__}")
        return
    from modgen.cli.app import build_app
    from modgen.cli.errors import run_cli

    run_cli(args, build_app)


if __name__ == "__main__":  # pragma: no cover
    main()
