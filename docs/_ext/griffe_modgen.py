"""A griffe extension for modgen's API pages: read modgen's house-style docstrings as intended.

* modgen heads its docstring examples ``Example:``; griffe's Google parser only knows
  ``Examples:`` and would render the singular as prose, turning ``>>>`` lines into nested
  block quotes. The heading is renamed before the docstring is parsed.
* modgen's docstrings use Sphinx roles (``:class:`~modgen.config.RecipeSpec` ``), which Markdown
  would show verbatim; each becomes a code span of the name (the last part with ``~``).
* hook specifications document their arguments as ``:param name: description`` (as pluggy and
  tox do); these become an ``Args:`` section.
* modgen documents related names together (``base, operator, gate, bias: the variant``), and a
  long list of names may wrap after a comma. The parser expects one name per entry, so such an
  entry becomes one entry per name, each with the shared description.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE_HEADING = re.compile(r"^(\s*)Example:\s*$", flags=re.M)
# a line holding only "name, name, ...," that the next line continues up to the ":"
_WRAPPED_NAMES = re.compile(r"^(\s+(?:\w+,\s*)+)\n\s+(?=(?:\w+,\s*)*\w+:)", flags=re.M)
_NAMES_ENTRY = re.compile(r"^(\s+)(\w+(?:,\s*\w+)+):(.*)$")
_ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj|const):`(~?)([^`]+)`")


def strip_roles(text: str) -> str:
    """Replace Sphinx roles by code spans.

    Example:
        >>> strip_roles("see :class:`~modgen.config.RecipeSpec` and :func:`train`")
        'see `RecipeSpec` and `train`'
    """
    return _ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_name_lists(text: str) -> str:
    """Turn each indented ``a, b, c: description`` entry (and its continuation) into one per name.

    Example:
        >>> print(split_name_lists("Args:\\n    a, b: the pair\\n        (wrapped).\\n    c: one"))
        Args:
            a: the pair
                (wrapped).
            b: the pair
                (wrapped).
            c: one
    """
    lines = _WRAPPED_NAMES.sub(lambda m: m.group(1).rstrip() + " ", text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _NAMES_ENTRY.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent, names, description = match.groups()
        end = i + 1
        while end < len(lines) and lines[end].strip() and _indent(lines[end]) > len(indent):
            end += 1
        for name in (n.strip() for n in names.split(",")):
            out.append(f"{indent}{name}:{description}")
            out.extend(lines[i + 1 : end])
        i = end
    return "\n".join(out)


_PARAM = re.compile(r"^(\s*):param (\w+):\s*(.*)$")


def params_to_args(text: str) -> str:
    """Turn ``:param name: description`` fields into a Google ``Args:`` section.

    Example:
        >>> print(params_to_args("Hook.\\n\\n:param app: the root\\n    application.\\n\\nMore."))
        Hook.
        <BLANKLINE>
        Args:
            app: the root
                application.
        <BLANKLINE>
        More.
    """
    lines = text.split("\n")
    out: list[str] = []
    in_args = False
    for line in lines:
        match = _PARAM.match(line)
        if match:
            indent, name, description = match.groups()
            if not in_args:
                out.append(f"{indent}Args:")
                in_args = True
            out.append(f"{indent}    {name}: {description}")
        elif in_args and line.strip():
            out.append("    " + line)  # continuation of the previous field, one level deeper
        else:
            in_args = False
            out.append(line)
    return "\n".join(out)


class ModgenDocstrings(griffe.Extension):
    """Rename ``Example:`` headings, strip Sphinx roles, give each listed name its own entry."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = split_name_lists(params_to_args(strip_roles(text)))
