"""The docstring examples of modgen.classify, modgen.evaluate and modgen.report run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "modgen.classify",
    "modgen.classify._base",
    "modgen.classify.softmax",
    "modgen.classify.svm",
    "modgen.evaluate",
    "modgen.evaluate.metrics",
    "modgen.evaluate.synthesis",
    "modgen.evaluate.protocols",
    "modgen.evaluate.sweep",
    "modgen.report",
    "modgen.report.tables",
    "modgen.report.plots",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (output above)"
    assert result.attempted > 0, f"{name} has no docstring example"
