"""Accuracy against a synthesis setting: the hyper-parameter analysis of Section III-G (Figs. 7-8).

Example:
    >>> # points = sweep_synthesis(assembly, data, EvalConfig(), registries, param="sigma",
    >>> #                          values=[0.5, 1.0, 2.0], classifier="weighted-softmax")
    >>> # [(0.5, 0.61), (1.0, 0.66), (2.0, 0.64)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import torch

from modgen.errors import ConfigError
from modgen.evaluate.protocols import evaluation_seeds
from modgen.evaluate.scoring import TestSplit, classifier_grid, make_classifier, zsl_score
from modgen.evaluate.sets import zsl_set
from modgen.runtime import resolve_device

__all__ = ["SWEEP_PARAMS", "sweep_synthesis"]

#: What :func:`sweep_synthesis` can vary, and the :class:`~modgen.config.EvalConfig` field of each.
SWEEP_PARAMS: dict[str, str] = {"samples": "zsl_samples", "sigma": "sigma_test"}


def sweep_synthesis(
    assembly: Any,
    data: Any,
    config: Any,
    registries: Any,
    *,
    param: str,
    values: Sequence[float],
    classifier: str = "weighted-softmax",
    device: str | torch.device | None = None,
    seed: int = 0,
) -> list[tuple[float, float, float]]:
    """ZSL per-class top-1 of one classifier for each value of a synthesis setting.

    For each value, ``config`` with ``zsl_samples`` (``param="samples"``) or ``sigma_test``
    (``param="sigma"``) set to it: synthetic features for the unseen classes, the classifier
    trained on them (with quality weights) and scored on ``test_unseen``, as in
    :func:`~modgen.evaluate.protocols.evaluate`. No model selection: the classifier runs with
    its defaults updated by ``config.classifier_params[classifier]``. The same evaluation seeds
    (``config.seeds`` of them, averaged) are used at every value, so the curve varies only with
    the setting.

    Args:
        assembly: the trained assembly.
        data: the :class:`~modgen.data.zsldata.ZSLData`.
        config: the :class:`~modgen.config.EvalConfig` the values are substituted into.
        registries: where ``classifier`` is looked up.
        param: ``"samples"`` or ``"sigma"``.
        values: the settings to try (integers >= 1 for samples, numbers >= 0 for sigma).
        classifier: a registered final classifier (the paper uses weighted-softmax).
        device: where the classifier trains (``None``: the assembly's device).
        seed: the synthesis and classifier seed.

    Returns:
        ``[(value, mean, std), ...]``: ZSL top-1 (percent) over the evaluation seeds, in the
        order of ``values``.

    Raises:
        ConfigError: unknown ``param`` or an invalid value (the message names it).

    Example:
        >>> from modgen.assembly import build_assembly
        >>> from modgen.config import EvalConfig
        >>> from modgen.data.digits import load_digits_zsl
        >>> from modgen.plugins import get_registries
        >>> from modgen.recipes import zsml
        >>> regs, data = get_registries(entry_points=False), load_digits_zsl()
        >>> asm = build_assembly(zsml(), regs, attr_dim=data.attr_dim, feature_dim=data.feature_dim,
        ...                      num_classes=len(data.seen_classes), seed=0, device="cpu")
        >>> points = sweep_synthesis(asm, data, EvalConfig(), regs, param="sigma", values=[0.5, 1.0],
        ...                          classifier="svm")
        >>> [v for v, _, _ in points]
        [0.5, 1.0]
    """
    if param not in SWEEP_PARAMS:
        raise ConfigError(f"sweep: param must be one of {', '.join(SWEEP_PARAMS)}, got {param!r}")
    if not values:
        raise ConfigError("sweep: values is empty; give at least one value to try")
    synth_device = next((p.device for p in assembly.parameters()), torch.device("cpu"))
    clf_device = resolve_device(device, key="sweep device") if device is not None else synth_device
    fixed, _ = classifier_grid(
        registries.final_classifier.get(classifier), dict(config.classifier_params.get(classifier, {}) or {})
    )
    test = TestSplit.of(data, clf_device)
    out: list[tuple[float, float, float]] = []
    for value in values:
        if param == "samples" and (isinstance(value, bool) or int(value) != value or value < 1):
            raise ConfigError(f"sweep: samples must be integers >= 1, got {value!r}")
        if param == "sigma" and (isinstance(value, bool) or not value >= 0):
            raise ConfigError(f"sweep: sigma must be numbers >= 0, got {value!r}")
        cfg = attrs.evolve(
            config, **{SWEEP_PARAMS[param]: int(value) if param == "samples" else float(value)}
        )
        scores = []
        for eval_seed in evaluation_seeds(seed, config.seeds):
            gen = torch.Generator(device=synth_device).manual_seed(eval_seed)
            train = zsl_set(assembly, data, cfg, gen)
            est = make_classifier(registries, classifier, fixed, device=clf_device, seed=eval_seed)
            scores.append(zsl_score(est.fit(train.X, train.y, sample_weight=train.w), test)[0])
        out.append(
            (float(value), float(np.mean(scores)), float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0)
        )
    return out
