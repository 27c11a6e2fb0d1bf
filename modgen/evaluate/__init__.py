"""Synthesis, metrics and the ZSL / GZSL / retrieval protocols of Section III.

Example:
    >>> per_class_top1([0, 0, 1], [0, 1, 1])
    0.75
"""

from __future__ import annotations

from modgen.evaluate.metrics import (
    RETRIEVAL_METRICS,
    harmonic_mean,
    per_class_accuracies,
    per_class_top1,
    retrieval_average_precision,
    retrieval_precision,
)
from modgen.evaluate.protocols import SELECTION_MODES, EvaluationResult, aggregate, classifier_grid, evaluate
from modgen.evaluate.sweep import SWEEP_PARAMS, sweep_synthesis
from modgen.evaluate.synthesis import Synthesizer, SyntheticFeatures, default_chunk_classes, synthesize

__all__ = [
    "RETRIEVAL_METRICS",
    "SELECTION_MODES",
    "SWEEP_PARAMS",
    "EvaluationResult",
    "SyntheticFeatures",
    "Synthesizer",
    "aggregate",
    "classifier_grid",
    "default_chunk_classes",
    "evaluate",
    "harmonic_mean",
    "per_class_accuracies",
    "per_class_top1",
    "retrieval_average_precision",
    "retrieval_precision",
    "sweep_synthesis",
    "synthesize",
]
