"""Where every failure becomes one line: the CLI's error boundary.

* a :class:`~modgen.errors.ModgenError` -> its message and exit code;
* an ``OSError`` (permission, full disk, a file in the way) -> a one-line
  :func:`~modgen.rundir.os_error` message, exit 1;
* Ctrl-C -> "interrupted", with the command that resumes the run when there is one, exit 130;
  SIGTERM (a cluster scheduler stopping the job) the same, exit 143;
* a plugin's warning -> one line naming the plugin (no file and line of modgen's source).

Messages are printed as plain text (never through rich markup), so a user's ``[bold]`` or
``[/x]`` in a value is printed as written.
"""

from __future__ import annotations

import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any

from modgen.errors import ModgenError, Terminated

__all__ = ["print_error", "handle", "run_cli", "INTERRUPTED_EXIT", "set_resume_hint"]

#: Exit status after Ctrl-C (128 + SIGINT), as shells use.
INTERRUPTED_EXIT = 130

_hint: dict[str, str] = {}


def set_resume_hint(command: str | None, checkpoint: Any = None) -> None:
    """The command that resumes the current work, printed if it is interrupted once
    ``checkpoint`` (a path) exists (``None``: no hint)."""
    _hint.clear()
    if command:
        _hint["resume"] = command
        _hint["checkpoint"] = str(checkpoint) if checkpoint is not None else ""


def print_error(message: str, *, prefix: str = "Error: ") -> None:
    """``message`` on stderr as one plain line."""
    text = " ".join(str(message).split())
    sys.stderr.write(f"{prefix}{text}\n")
    sys.stderr.flush()


def _warning_line(
    message: Any, category: Any, filename: Any, lineno: Any, file: Any = None, line: Any = None
) -> None:
    print_error(str(message), prefix="Warning: ")


def handle(err: BaseException) -> int:
    """Print ``err`` as one line; return the exit code."""
    from modgen.rundir import os_error

    if isinstance(err, ModgenError):
        print_error(str(err))
        return err.exit_code
    if isinstance(err, KeyboardInterrupt):
        from pathlib import Path

        what = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        hint, ckpt = _hint.get("resume"), _hint.get("checkpoint")
        if hint and (not ckpt or Path(ckpt).is_file()):
            print_error(f"{what}; the last checkpoint is kept, resume with: {hint}", prefix="")
        elif hint:
            print_error(f"{what} before the first checkpoint; continue with: {hint}", prefix="")
        else:
            print_error(what, prefix="")
        return Terminated.exit_code if isinstance(err, Terminated) else INTERRUPTED_EXIT
    if isinstance(err, OSError):
        path = err.filename or "a file"
        print_error(str(os_error(err, path, "use")))
        return 1
    if isinstance(err, MemoryError) or _allocation_failure(err):
        detail = f" ({_first_line(err)})" if str(err) else ""
        print_error(f"out of memory{detail}; use smaller networks or batches, or a machine with more memory")
        return 1
    raise err


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated("terminated")


def _allocation_failure(err: BaseException) -> bool:
    """Whether ``err`` is torch failing to allocate memory (a RuntimeError, not a MemoryError)."""
    text = str(err).lower()
    return isinstance(err, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text or "not enough memory" in text
    )


def _first_line(err: BaseException) -> str:
    """The gist of a long torch message: the allocation it tried, else its first line."""
    import re

    tried = re.search(r"tried to allocate [^.(]*", str(err))
    if tried:
        return tried.group(0).strip()
    return str(err).strip().splitlines()[0][:200]


def run_cli(args: list[str], build_app: Callable[[], Any]) -> None:
    """Build the app with ``build_app`` and run it with ``args`` (the app's group turns failures
    into one line; a failure to build it, too)."""
    warnings.showwarning = _warning_line
    signal.signal(signal.SIGTERM, _terminate)  # training defers it to the end of the episode
    try:
        app = build_app()
    except (ModgenError, OSError, KeyboardInterrupt) as err:  # strict plugin mode, a broken built-in, Ctrl-C
        sys.exit(handle(err))
    app(args=args, prog_name="modgen")
