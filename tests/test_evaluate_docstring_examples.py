"""The docstring examples of modgen's evaluation, reporting and front-door modules run as written.

Examples are documentation (the API pages show them); a changed signature or default that breaks
one fails here rather than on a reader's screen.
"""

from __future__ import annotations

import pytest
from docstring_examples import check_docstring_examples

MODULES = [
    "modgen.classify",
    "modgen.classify._base",
    "modgen.classify.softmax",
    "modgen.classify.svm",
    "modgen.evaluate",
    "modgen.evaluate.metrics",
    "modgen.evaluate.synthesis",
    "modgen.evaluate.sets",
    "modgen.evaluate.scoring",
    "modgen.evaluate.quality",
    "modgen.evaluate.protocols",
    "modgen.evaluate.curves",
    "modgen.report",
    "modgen.report.tables",
    "modgen.report.plots",
    "modgen.report.stats",
    # the modules of the pipeline refactoring: spec in, results out
    "modgen.config",
    "modgen.recipes",
    "modgen.pipeline",
    "modgen.pipeline._spec",
    "modgen.rundir",
    "modgen.runtime",
    "modgen.train.settings",
    "modgen.train.checkpoint",
    "modgen.testing.presets",
    "modgen.sweeps",
    "modgen.sweeps.grid",
    "modgen.sweeps.collect",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a relative path writes it here
    check_docstring_examples(name)
