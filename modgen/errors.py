"""Errors raised by modgen.

Every error a user can meet is a :class:`ModgenError`. The CLI turns them into one clear
line and a non-zero exit code; library users can catch the whole family with one ``except``.
Messages name the file, field or key, the bad value, what was expected, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ModgenError",
    "ConfigError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginError",
    "DataError",
    "ShapeError",
    "CheckpointError",
    "TrainingDivergedError",
    "Terminated",
]


class ModgenError(Exception):
    """Base class of every error modgen raises on purpose.

    Attributes:
        exit_code: the process exit status the CLI uses for this error.
    """

    exit_code: int = 1


class ConfigError(ModgenError, ValueError):
    """A configuration value, key or override is invalid."""

    exit_code = 2


class UnknownComponentError(ModgenError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateComponentError(ModgenError, ValueError):
    """A name was registered twice in the same registry."""


class PluginError(ModgenError):
    """A plugin failed to load or raised inside a hook (strict mode), or is malformed."""


class DataError(ModgenError, ValueError):
    """A data file or array is missing, malformed or inconsistent."""


class ShapeError(ModgenError, ValueError):
    """Tensors given to a component have the wrong shape."""


class CheckpointError(ModgenError):
    """A checkpoint is missing, corrupt, or does not match the run it is loaded into."""


class TrainingDivergedError(ModgenError, FloatingPointError):
    """A loss became NaN or infinite; the message names the loss and the episode."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, as cluster schedulers send before they kill).

    Handled like Ctrl-C (the episode is finished and saved, the resume command printed), with the
    exit status of a process ended by SIGTERM.
    """

    exit_code = 143
