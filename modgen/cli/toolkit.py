"""What the commands share: the group that turns failures into one line, the app's state (the
registries, built when first needed) and the two consoles. Every command module imports this,
never :mod:`modgen.cli.app`."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from modgen.cli.errors import handle

__all__ = ["ModgenGroup", "State", "get_state", "console", "err_console"]


class ModgenGroup(TyperGroup):
    """A click group whose failures become one plain line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as err:  # noqa: BLE001 - the CLI's error boundary (see modgen.cli.errors)
            if _is_click(err):
                raise
            raise typer.Exit(handle(err)) from None
        except KeyboardInterrupt as err:
            raise typer.Exit(handle(err)) from None


def _is_click(err: BaseException) -> bool:
    """Whether ``err`` is click's own (usage errors, exits): typer handles those itself."""
    return type(err).__module__.split(".")[0] in ("click", "typer")


class State:
    """What the commands of one app share: the registries, built when first needed."""

    def __init__(self, registries: Any = None) -> None:
        self._registries = registries
        self.loaded: Any = None

    @property
    def registries(self) -> Any:
        if self._registries is None:
            from modgen.plugins import load_plugins

            self._registries = load_plugins(self.loaded)
        return self._registries


def get_state(ctx: typer.Context) -> State:
    """The :class:`State` of the running app."""
    root = ctx.find_root()
    return root.obj  # type: ignore[no-any-return]


def console() -> Any:
    """The console for results (stdout), without markup or highlighting of user text."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, markup=False)


def err_console() -> Any:
    """The console for progress and notes (stderr)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
