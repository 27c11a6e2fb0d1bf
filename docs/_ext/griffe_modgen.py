"""A griffe extension for modgen's API pages: read ``Example:`` sections as examples.

modgen's house style heads its docstring examples ``Example:``; griffe's Google parser only
knows ``Examples:`` and would render the singular as prose, turning ``>>>`` lines into nested
block quotes. This extension renames the heading before the docstring is parsed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^(\s*)Example:\s*$", flags=re.M)


class ExampleSections(griffe.Extension):
    """Rewrite ``Example:`` headings of every docstring to ``Examples:``."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\1Examples:", obj.docstring.value)
