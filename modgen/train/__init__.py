"""modgen.train."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modgen.plugins import Registries


def register_components(registries: Registries) -> None:
    """Register this subpackage's built-in components (called by :mod:`modgen.builtin`)."""
