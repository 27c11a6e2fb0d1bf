"""Synthesis, metrics and the ZSL / GZSL / retrieval protocols of Section III.

The functional core — :mod:`~modgen.evaluate.sets` (synthetic training sets),
:mod:`~modgen.evaluate.scoring` (fit and score a classifier), :mod:`~modgen.evaluate.quality`
(classifier-free measures) — is composed by :func:`evaluate`, :func:`select` and
:func:`sweep_synthesis`.

Example:
    >>> per_class_top1([0, 0, 1], [0, 1, 1])
    0.75
"""

from __future__ import annotations

from modgen.evaluate.curves import SWEEP_PARAMS, sweep_synthesis
from modgen.evaluate.metrics import (
    RETRIEVAL_METRICS,
    harmonic_mean,
    per_class_accuracies,
    per_class_top1,
    retrieval_average_precision,
    retrieval_precision,
)
from modgen.evaluate.protocols import (
    EvaluationResult,
    Selection,
    aggregate,
    evaluate,
    evaluation_seeds,
    select,
)
from modgen.evaluate.quality import (
    QUALITY_MEASURES,
    collapse_warnings,
    feature_quality,
    mean_gap,
    ncm_accuracy,
    real_class_means,
)
from modgen.evaluate.scoring import TestSplit, classifier_grid, gzsl_score, make_classifier, zsl_score
from modgen.evaluate.sets import TrainingSet, gzsl_set, synthetic_set, zsl_set
from modgen.evaluate.synthesis import SyntheticFeatures, default_chunk_classes, synthesize

__all__ = [
    "QUALITY_MEASURES",
    "RETRIEVAL_METRICS",
    "SWEEP_PARAMS",
    "EvaluationResult",
    "Selection",
    "SyntheticFeatures",
    "TestSplit",
    "TrainingSet",
    "aggregate",
    "classifier_grid",
    "default_chunk_classes",
    "evaluate",
    "evaluation_seeds",
    "feature_quality",
    "collapse_warnings",
    "real_class_means",
    "gzsl_score",
    "gzsl_set",
    "harmonic_mean",
    "make_classifier",
    "mean_gap",
    "ncm_accuracy",
    "per_class_accuracies",
    "per_class_top1",
    "retrieval_average_precision",
    "retrieval_precision",
    "select",
    "sweep_synthesis",
    "synthesize",
    "synthetic_set",
    "zsl_score",
    "zsl_set",
]
