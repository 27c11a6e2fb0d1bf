"""The docstring examples of modgen's core (functional ops, baselines, task sampling, the meta
trainer) run as written, as tests/test_evaluate_docstring_examples.py runs those of evaluation."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "modgen.functional",
    "modgen.functional.losses",
    "modgen.functional.lowrank",
    "modgen.functional.maml",
    "modgen.functional.modulation",
    "modgen.functional.normalization",
    "modgen.classify._variant",
    "modgen.baselines",
    "modgen.data.sampler",
    "modgen.train.meta",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a relative path writes it here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (output above)"
    assert result.attempted > 0, f"{name} has no docstring example"
