"""Reports of a run: Markdown/CSV tables, ``results.json`` / ``results.md``, and PNG plots.

Example:
    >>> from modgen.evaluate import EvaluationResult
    >>> "| svm | 50.0 |" in results_markdown(EvaluationResult("digits", zsl={"svm": 50.0}))
    True
"""

from __future__ import annotations

from modgen.report.plots import LOSS_LABELS, plot_losses, plot_sweep, plot_tsne, read_metrics
from modgen.report.tables import (
    METRICS,
    TEST_SELECTION_MARK,
    assembly_table,
    comparison_rows,
    csv_table,
    format_stat,
    markdown_table,
    results_markdown,
    warning_counts,
)
from modgen.rundir import read_results, write_results  # the files are the run folder's; kept importable here

__all__ = [
    "LOSS_LABELS",
    "METRICS",
    "TEST_SELECTION_MARK",
    "assembly_table",
    "comparison_rows",
    "warning_counts",
    "csv_table",
    "format_stat",
    "markdown_table",
    "plot_losses",
    "plot_sweep",
    "plot_tsne",
    "read_metrics",
    "read_results",
    "results_markdown",
    "write_results",
]
