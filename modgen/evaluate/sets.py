"""The training sets final classifiers are fitted on: synthetic features with quality weights.

Every synthetic feature gets the quality weight
``assembly.quality_weighter.sample_weights(a, AD(x_hat))`` (Eq. 12), clipped below at
:data:`MIN_QUALITY` (a negative cosine would make a weighted loss reward misclassification, and a
class whose every sample had weight 0 could not be learned at all); real features get weight 1.

Example:
    >>> import torch
    >>> s = TrainingSet(torch.zeros(2, 3), torch.tensor([4, 5]), None)
    >>> concat([s, s]).X.shape
    torch.Size([4, 3])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import torch
from attrs import frozen

from modgen.errors import DataError
from modgen.evaluate.synthesis import nearest_seen_tasks, synthesize

if TYPE_CHECKING:
    from modgen.config import EvalConfig
    from modgen.data.zsldata import ZSLData

__all__ = [
    "TrainingSet",
    "synthetic_set",
    "configured_synthetic_set",
    "modulation_tasks",
    "concat",
    "zsl_set",
    "gzsl_set",
    "real_unseen_halves",
    "with_real_unseen",
    "REAL_UNSEEN_SEED",
    "DEFAULT_TASK_SIZE",
    "MIN_QUALITY",
]

#: Task size ``N`` at synthesis when neither the config nor a task sampler says (Section III-A).
DEFAULT_TASK_SIZE = 10

#: The smallest quality weight a synthetic feature gets (Eq. 12's cosine clipped from below).
MIN_QUALITY = 1e-3


@frozen
class TrainingSet:
    """Features ``X (n, D)``, global class ids ``y (n,)`` and sample weights ``w (n,)`` or ``None``."""

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor | None

    def class_means(self, classes: np.ndarray) -> torch.Tensor:
        """``(len(classes), D)``: the mean feature of each class, in the order of ``classes``."""
        return torch.stack([self.X[self.y == int(c)].mean(0) for c in classes])


def modulation_tasks(
    data: ZSLData, class_attrs: Any, modulation_task: str, task_size: int
) -> torch.Tensor | None:
    """The per-class synthesis tasks ``modulation_task`` asks for (``synthesize``'s
    ``task_attributes``): ``None`` for ``own``; for ``nearest_seen`` the ``task_size`` (0: the
    default) classes of ``data.seen_classes`` nearest to each class."""
    if modulation_task != "nearest_seen":
        return None
    seen_attrs = torch.as_tensor(data.semantics)[torch.as_tensor(np.asarray(data.seen_classes))]
    return nearest_seen_tasks(torch.as_tensor(class_attrs), seen_attrs, task_size or DEFAULT_TASK_SIZE)


def synthetic_set(
    assembly: Any,
    data: ZSLData,
    classes: np.ndarray,
    n: int,
    *,
    sigma: float,
    generator: torch.Generator,
    task_size: int = DEFAULT_TASK_SIZE,
    context_tasks: int = 0,
    batch_norm: str = "running",
    modulation_task: str = "own",
) -> TrainingSet:
    """``n`` synthetic features of each class of ``classes`` (global ids), with quality weights.

    ``task_size``, ``context_tasks`` and ``batch_norm``: see
    :func:`~modgen.evaluate.synthesis.synthesize`; ``modulation_task``: ``own`` or
    ``nearest_seen`` (the ``task_size`` classes of ``data.seen_classes`` nearest to each class:
    :func:`~modgen.evaluate.synthesis.nearest_seen_tasks`).
    """
    class_attrs = torch.as_tensor(data.semantics)[torch.as_tensor(np.asarray(classes))]
    tasks = modulation_tasks(data, class_attrs, modulation_task, task_size)
    out = synthesize(
        assembly,
        class_attrs,
        n,
        sigma=sigma,
        generator=generator,
        replicate=task_size or DEFAULT_TASK_SIZE,
        context_tasks=context_tasks,
        batch_norm=batch_norm,
        task_attributes=tasks,
    )
    labels = torch.as_tensor(np.asarray(classes), device=out.labels.device)[out.labels]
    weighter = getattr(assembly, "quality_weighter", None)
    weights = None
    if weighter is not None and out.reconstructed is not None:
        sample_attrs = class_attrs.to(out.reconstructed.device)[out.labels]
        weights = weighter.sample_weights(sample_attrs, out.reconstructed).reshape(-1).clamp_min(MIN_QUALITY)
    return TrainingSet(out.features, labels, weights)


def concat(parts: list[TrainingSet]) -> TrainingSet:
    """One training set of several (unweighted parts get weight 1 where others are weighted)."""
    X = torch.cat([p.X for p in parts])
    y = torch.cat([p.y for p in parts])
    if all(p.w is None for p in parts):
        return TrainingSet(X, y, None)
    w = torch.cat([p.w if p.w is not None else torch.ones(p.X.shape[0], device=p.X.device) for p in parts])
    return TrainingSet(X, y, w)


def configured_synthetic_set(
    assembly: Any, data: ZSLData, classes: np.ndarray, n: int, config: EvalConfig, generator: torch.Generator
) -> TrainingSet:
    """:func:`synthetic_set` with the synthesis settings of ``config`` (an ``EvalConfig``)."""
    return synthetic_set(
        assembly,
        data,
        classes,
        n,
        sigma=config.sigma_test,
        generator=generator,
        task_size=config.task_size,
        context_tasks=config.context_tasks,
        batch_norm=config.synthesis_bn,
        modulation_task=config.modulation_task,
    )


def zsl_set(assembly: Any, data: ZSLData, config: EvalConfig, generator: torch.Generator) -> TrainingSet:
    """ZSL's training set: ``zsl_samples`` synthetic features of every unseen class."""
    return configured_synthetic_set(
        assembly, data, data.unseen_classes, config.zsl_samples, config, generator
    )


def gzsl_set(assembly: Any, data: ZSLData, config: EvalConfig, generator: torch.Generator) -> TrainingSet:
    """GZSL's training set: ``gzsl_samples`` synthetic features per unseen class plus, per
    ``gzsl_seen``, as many synthetic features per seen class (synthesised together with the
    unseen ones, so context tasks mix both) or the real ``trainval`` features."""
    if config.gzsl_seen == "synthetic":
        classes = np.concatenate([data.unseen_classes, data.seen_classes])
        return configured_synthetic_set(assembly, data, classes, config.gzsl_samples, config, generator)
    unseen = configured_synthetic_set(
        assembly, data, data.unseen_classes, config.gzsl_samples, config, generator
    )
    dev = unseen.X.device
    seen = TrainingSet(
        torch.as_tensor(data.features[data.trainval], device=dev),
        torch.as_tensor(data.labels[data.trainval], device=dev),
        None,
    )
    return concat([unseen, seen])


# ----------------------------------------------------------------------------------------------
# the positive control: real unseen features in place of some synthetic ones

#: The seed of the fixed donor/measured halves of ``test_unseen`` (:func:`real_unseen_halves`).
REAL_UNSEEN_SEED = 0


def real_unseen_halves(data: ZSLData) -> tuple[ZSLData, np.ndarray]:
    """Split each unseen class's ``test_unseen`` samples in two fixed halves: donors and measured.

    A seeded permutation (:data:`REAL_UNSEEN_SEED`) of each class's test samples gives its first
    ``floor(n / 2)`` to the donors and the rest to the measured half, so the real features a
    positive control puts into a training set are never among the samples it is scored on.

    Returns:
        ``(measured, donors)``: the data with ``test_unseen`` cut to the measured half (its
        ``preprocessing`` says so) and the donors' sorted sample indices.

    Raises:
        DataError: an unseen class has fewer than 2 test samples (one for each half).

    Example:
        >>> from modgen.data.digits import load_digits_zsl
        >>> data = load_digits_zsl()
        >>> measured, donors = real_unseen_halves(data)
        >>> measured.test_unseen.size + donors.size == data.test_unseen.size
        True
    """
    test = np.asarray(data.test_unseen)
    labels = np.asarray(data.labels)[test]
    rng = np.random.default_rng(REAL_UNSEEN_SEED)
    donors, measured = [], []
    for c in np.asarray(data.unseen_classes):
        rows = test[labels == c]
        if rows.size < 2:
            raise DataError(
                f"{data.name}: unseen class {data.class_names[int(c)]!r} has {rows.size} test sample(s); "
                "evaluation.real_unseen_fraction needs at least 2 (a donor half and a measured half)"
            )
        rows = rows[rng.permutation(rows.size)]
        donors.append(rows[: rows.size // 2])
        measured.append(rows[rows.size // 2 :])
    prep = dict(
        data.preprocessing,
        real_unseen="test_unseen halved per class: donors of real features, and the half measured",
    )
    kept = np.sort(np.concatenate(measured)).astype(np.int64)
    return attrs.evolve(data, test_unseen=kept, preprocessing=prep), np.sort(np.concatenate(donors))


def with_real_unseen(
    part: TrainingSet,
    data: ZSLData,
    donors: np.ndarray,
    fraction: float,
    rng: np.random.Generator,
) -> TrainingSet:
    """``part`` with ``round(fraction * n_c)`` of the ``n_c`` synthetic features of each unseen
    class ``c`` replaced by real features of ``c`` drawn from ``donors`` (without replacement
    while the class's donors last), with weight 1 like every real feature. Synthetic features
    of a class are exchangeable, so the first ones are replaced; the synthesis stream is not
    touched, so the other features are those of ``fraction = 0``.

    Example:
        >>> from modgen.data.digits import load_digits_zsl
        >>> data = load_digits_zsl()
        >>> measured, donors = real_unseen_halves(data)
        >>> y = torch.as_tensor(np.repeat(data.unseen_classes, 10))
        >>> part = TrainingSet(torch.zeros(30, data.feature_dim), y, None)
        >>> out = with_real_unseen(part, data, donors, 0.2, np.random.default_rng(0))
        >>> int((out.X.abs().sum(1) > 0).sum())  # 2 of the 10 features of each of 3 classes
        6
    """
    X, w = part.X.clone(), None if part.w is None else part.w.clone()
    y = part.y.cpu().numpy()
    donor_labels = np.asarray(data.labels)[donors]
    for c in np.asarray(data.unseen_classes):
        rows = np.flatnonzero(y == c)
        k = int(round(fraction * rows.size))
        if k == 0:
            continue
        pool = donors[donor_labels == c]
        picked = rng.choice(pool, size=k, replace=k > pool.size)
        index = torch.as_tensor(rows[:k], device=X.device)
        X[index] = torch.as_tensor(data.features[picked], device=X.device, dtype=X.dtype)
        if w is not None:
            w[index] = 1.0
    return TrainingSet(X, part.y, w)
