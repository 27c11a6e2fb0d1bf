"""What the commands share: the group that turns failures into one line, the app's state (the
registries, built when first needed) and the two consoles. Every command module imports this,
never :mod:`modgen.cli.app`."""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer
from typer.core import TyperGroup

from modgen.cli.errors import handle

__all__ = ["ModgenGroup", "State", "get_state", "console", "err_console", "first_sentence"]

#: A sentence ends at ``.``, ``!`` or ``?`` followed by a capital letter: ``(Fig. 9)`` and
#: ``e.g. x`` do not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def first_sentence(text: str | None) -> str:
    """The whole first sentence of ``text``'s first paragraph, on one line (a command's summary).

    click's own summary stops at the first word ending in ``.`` and cuts at 45 characters, so
    ``Every loss part against the episode (Fig. 9).`` became ``... (Fig.``.

    Example:
        >>> first_sentence("Every loss part against the episode (Fig. 9). Reads metrics.jsonl.")
        'Every loss part against the episode (Fig. 9).'
    """
    paragraph = inspect.cleandoc(text or "").split("\n\n", 1)[0]
    return _SENTENCE_END.split(" ".join(paragraph.split()), 1)[0]


def _plain_help(command: Any) -> None:
    """Strip reST markup (``:class:`X```, double backquotes) from the help of ``command``, its
    options and, for a group, every command below it: ``--help`` prints plain text."""
    from modgen.registry import plain_text

    for obj in (command, *getattr(command, "params", ())):
        for attr in ("help", "short_help"):
            text = getattr(obj, attr, None)
            if isinstance(text, str):
                setattr(obj, attr, plain_text(text))
    for sub in getattr(command, "commands", {}).values():
        _plain_help(sub)


class ModgenGroup(TyperGroup):
    """A click group whose failures become one plain line and an exit code, whose help is plain
    text, and whose command list shows each command's whole first sentence."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_help(self)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, first_sentence(command.short_help or command.help)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
