"""Reports of a run: Markdown tables, ``results.json`` / ``results.md``, and PNG plots.

Example:
    >>> from modgen.evaluate import EvaluationResult
    >>> "| svm | 50.0 |" in results_markdown(EvaluationResult("digits", zsl={"svm": 0.5}))
    True
"""

from __future__ import annotations

from modgen.report.plots import LOSS_LABELS, plot_losses, plot_sweep, plot_tsne, read_metrics
from modgen.report.tables import (
    TEST_SELECTION_MARK,
    comparison_markdown,
    read_results,
    results_markdown,
    write_results,
)

__all__ = [
    "LOSS_LABELS",
    "TEST_SELECTION_MARK",
    "comparison_markdown",
    "plot_losses",
    "plot_sweep",
    "plot_tsne",
    "read_metrics",
    "read_results",
    "results_markdown",
    "write_results",
]
