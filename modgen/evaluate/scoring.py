"""Fitting final classifiers and scoring them: the ZSL and GZSL measurements (percent).

* **ZSL** (III-B): a classifier fitted on the unseen classes' synthetic features (so its
  predictions are restricted to them), per-class mean top-1 on ``test_unseen``.
* **GZSL** (III-C): a classifier over all seen and unseen classes; ``U`` = per-class top-1 on
  ``test_unseen``, ``S`` = on ``test_seen``, and their harmonic mean ``H``.

Example:
    >>> from modgen.data.digits import load_digits_zsl
    >>> test = TestSplit.of(load_digits_zsl(), "cpu")
    >>> test.unseen_X.shape[1], sorted(set(test.unseen_y.tolist()))
    (64, [4, 5, 6])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from attrs import frozen

from modgen.errors import ConfigError
from modgen.evaluate.metrics import harmonic_mean, per_class_accuracies

if TYPE_CHECKING:
    from modgen.classify import WarmStarts
    from modgen.data.zsldata import ZSLData
    from modgen.evaluate.sets import TrainingSet
    from modgen.registry import Registries

__all__ = ["TestSplit", "zsl_score", "gzsl_score", "classifier_grid", "make_classifier", "fit_points"]


@frozen
class TestSplit:
    """The real test features of a split, converted once, on the classifiers' device."""

    unseen_X: torch.Tensor
    unseen_y: np.ndarray
    seen_X: torch.Tensor
    seen_y: np.ndarray

    @classmethod
    def of(cls, data: ZSLData, device: torch.device | str) -> TestSplit:
        """The ``test_unseen`` and ``test_seen`` samples of ``data``."""
        dev = torch.device(device)
        return cls(
            torch.as_tensor(data.features[data.test_unseen], device=dev),
            np.asarray(data.labels[data.test_unseen]),
            torch.as_tensor(data.features[data.test_seen], device=dev),
            np.asarray(data.labels[data.test_seen]),
        )


def zsl_score(est: Any, test: TestSplit) -> tuple[float, dict[int, float]]:
    """Per-class mean top-1 (%) of a fitted ZSL classifier on ``test_unseen``, and per class."""
    classes, accs = per_class_accuracies(test.unseen_y, np.asarray(est.predict(test.unseen_X)))
    return 100.0 * float(accs.mean()), {int(c): 100.0 * float(a) for c, a in zip(classes, accs, strict=True)}


def gzsl_score(est: Any, test: TestSplit) -> dict[str, float]:
    """``U``, ``S`` and ``H`` (%) of a fitted GZSL classifier."""
    u = float(per_class_accuracies(test.unseen_y, np.asarray(est.predict(test.unseen_X)))[1].mean())
    s = float(per_class_accuracies(test.seen_y, np.asarray(est.predict(test.seen_X)))[1].mean())
    return {"u": 100.0 * u, "s": 100.0 * s, "h": 100.0 * harmonic_mean(u, s)}


def classifier_grid(cls: Any, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fixed constructor params and the grid points model selection tries.

    Args:
        cls: a final-classifier class (its ``selection_grid`` attribute, if any, is the grid).
        params: ``classifier_params[name]``; its optional ``"grid"`` table replaces the
            class's grid; parameters set here are fixed and not searched.

    Returns:
        ``(fixed_params, points)``: ``points`` is a list of param dicts (``[{}]`` when nothing
        is selected).

    Raises:
        ConfigError: ``grid`` is not a table of non-empty lists.

    Example:
        >>> from modgen.classify import LinearSVMClassifier
        >>> classifier_grid(LinearSVMClassifier, {"max_iter": 50})[1][:2]
        [{'C': 0.01}, {'C': 0.1}]
        >>> classifier_grid(LinearSVMClassifier, {"C": 2.0})
        ({'C': 2.0}, [{}])
    """
    fixed = {k: v for k, v in params.items() if k != "grid"}
    grid = params.get("grid", getattr(cls, "selection_grid", {}) or {})
    if not isinstance(grid, Mapping):
        raise ConfigError(f"classifier_params grid: expected a table {{param: [values]}}, got {grid!r}")
    axes: list[tuple[str, list[Any]]] = []
    for k, values in grid.items():
        if k in fixed:
            continue
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if not values:
            raise ConfigError(f"classifier_params grid.{k}: expected a non-empty list of values, got []")
        axes.append((k, values))
    if not axes:
        return fixed, [{}]
    names = [a for a, _ in axes]
    return fixed, [dict(zip(names, combo, strict=True)) for combo in itertools.product(*[v for _, v in axes])]


def make_classifier(
    registries: Registries, name: str, params: Mapping[str, Any], *, device: torch.device, seed: int
) -> Any:
    """Build the final classifier ``name`` with ``params``; its ``device`` and ``random_state``
    (when it takes them and ``params`` does not set them) follow the evaluation."""
    registry = registries.final_classifier
    accepted = registry.accepts(name)
    extra: dict[str, Any] = {}
    if accepted is None or "device" in accepted:
        extra["device"] = str(device)
    if accepted is None or "random_state" in accepted:
        extra["random_state"] = int(seed) % (2**31)
    extra = {k: v for k, v in extra.items() if k not in params}
    return registry.build(name, {**params, **extra})


def fit_points(
    registries: Registries,
    name: str,
    fixed: Mapping[str, Any],
    points: Sequence[Mapping[str, Any]],
    train: TrainingSet,
    *,
    device: torch.device,
    seed: int,
    warm_starts: WarmStarts | None = None,
) -> list[Any]:
    """One fitted classifier per grid point, all on the same training set, through
    :func:`modgen.classify.fit_grid` (grid points fitted together where the classifier allows it:
    the softmax classifiers as one stacked model, the SVMs along a warm-started ``C`` path, from
    the solutions ``warm_starts`` holds of earlier fits)."""
    from modgen.classify import fit_grid

    base = make_classifier(registries, name, fixed, device=device, seed=seed)
    return list(
        fit_grid(
            base, [dict(p) for p in points], train.X, train.y, sample_weight=train.w, warm_starts=warm_starts
        )
    )
