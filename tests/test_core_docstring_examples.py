"""The docstring examples of modgen's core (functional ops, baselines, task sampling, the meta
trainer) run as written, as tests/test_evaluate_docstring_examples.py runs those of evaluation."""

from __future__ import annotations

import pytest
from docstring_examples import check_docstring_examples

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
    "modgen.recipes",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a relative path writes it here
    check_docstring_examples(name)
