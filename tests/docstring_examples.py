"""Running a module's docstring examples as a test (shared by the docstring-example test files)."""

from __future__ import annotations

import doctest
import importlib


def check_docstring_examples(name: str) -> None:
    """Every docstring example of module ``name`` passes, and it has at least one."""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (output above)"
    assert result.attempted > 0, f"{name} has no docstring example"
