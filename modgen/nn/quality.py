"""Quality weights of synthetic features (Section II-E, Eqs. 12 and 14).

The cosine weighter scores a synthetic feature by how well the attribute decoder recovers its
class attribute, ``Q = cos(a, AD(x_hat))`` (Eq. 12), and a class by the mean ``Q`` of its
samples (Eq. 14). The uniform weighter gives every sample and class weight 1 (the unweighted
ablation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from modgen.errors import ConfigError, DataError, ShapeError

__all__ = ["CosineQualityWeighter", "UniformQualityWeighter", "class_mean"]


def _check_pair(owner: str, attributes: Tensor, reconstructed: Tensor) -> None:
    if attributes.shape != reconstructed.shape or attributes.dim() < 1:
        raise ShapeError(
            f"{owner}.sample_weights: attributes have shape {tuple(attributes.shape)} and reconstructed "
            f"attributes {tuple(reconstructed.shape)}; expected the same (..., n, A)"
        )


def class_mean(values: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Mean of ``values`` per class label, with scatter-adds (no Python loop).

    A class without samples gets 0.

    Args:
        values: ``(n,)`` (or any shape; flattened together with ``labels``).
        labels: ``(n,)`` integer labels in ``[0, num_classes)``.
        num_classes: ``C``.

    Returns:
        ``(C,)`` in the dtype of ``values``.

    Raises:
        ShapeError: the shapes differ or ``labels`` is not an integer tensor.
        DataError: a label is outside ``[0, num_classes)``.
        ConfigError: ``num_classes`` is not a positive integer.

    Example:
        >>> class_mean(torch.tensor([1.0, 0.0, 0.5]), torch.tensor([0, 0, 2]), 3)
        tensor([0.5000, 0.0000, 0.5000])
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= 0:
        raise ConfigError(f"class_weights: num_classes must be a positive integer, got {num_classes!r}")
    if values.shape != labels.shape:
        raise ShapeError(
            f"class_weights: sample_weights have shape {tuple(values.shape)} but labels "
            f"{tuple(labels.shape)}; expected the same (n,)"
        )
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ShapeError(f"class_weights: labels must be integer class indices, got dtype {labels.dtype}")
    values, labels = values.reshape(-1), labels.reshape(-1).long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise DataError(
            f"class_weights: label {int(bad)} is outside [0, {num_classes}); labels must index the "
            f"num_classes={num_classes} classes"
        )
    sums = values.new_zeros(num_classes).scatter_add(0, labels, values)
    counts = values.new_zeros(num_classes).scatter_add(0, labels, torch.ones_like(values))
    return sums / counts.clamp_min(1)


class CosineQualityWeighter:
    """Per-sample ``Q = cos(a, AD(x_hat))`` (Eq. 12) and per-class mean ``Q`` (Eq. 14).

    Args:
        clamp_min: lower bound on the sample weights (default 0.0). A negative cosine would
            make a weighted classifier *maximise* its loss on that sample (flip the loss), so
            weights are clamped at 0 by default; ``None`` (or ``-1``, the cosine's minimum)
            keeps the raw cosine of the paper.
        eps: guards the cosine against zero vectors.

    Raises:
        ConfigError: ``clamp_min`` or ``eps`` is not a number.

    Example:
        >>> q = CosineQualityWeighter()
        >>> a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
        >>> q.sample_weights(a, torch.tensor([[1.0, 1.0], [-1.0, 0.0]]))
        tensor([0.7071, 0.0000])
        >>> q.class_weights(torch.tensor([0.5, 1.0, 0.2]), torch.tensor([1, 1, 0]), 2)
        tensor([0.2000, 0.7500])
    """

    def __init__(self, clamp_min: float | None = 0.0, eps: float = 1e-8) -> None:
        if clamp_min is not None and (isinstance(clamp_min, bool) or not isinstance(clamp_min, (int, float))):
            raise ConfigError(f"CosineQualityWeighter: clamp_min must be a number or None, got {clamp_min!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ConfigError(f"CosineQualityWeighter: eps must be a number > 0, got {eps!r}")
        self.clamp_min = None if clamp_min is None else float(clamp_min)
        self.eps = float(eps)

    def sample_weights(self, attributes: Tensor, reconstructed: Tensor) -> Tensor:
        """Eq. 12: ``(..., n, A)``, ``(..., n, A)`` -> ``(..., n)``.

        Raises:
            ShapeError: the shapes differ.
        """
        _check_pair("CosineQualityWeighter", attributes, reconstructed)
        q = F.cosine_similarity(attributes, reconstructed, dim=-1, eps=self.eps)
        return q if self.clamp_min is None else q.clamp_min(self.clamp_min)

    def class_weights(self, sample_weights: Tensor, labels: Tensor, num_classes: int) -> Tensor:
        """Eq. 14, the mean sample weight of each class: ``(n,)``, ``(n,)`` -> ``(num_classes,)``.

        A class without samples gets 0.
        """
        return class_mean(sample_weights, labels, num_classes)

    def __repr__(self) -> str:
        return f"CosineQualityWeighter(clamp_min={self.clamp_min}, eps={self.eps})"


class UniformQualityWeighter:
    """Every sample and class weighs 1: the unweighted classifiers' ablation.

    Example:
        >>> UniformQualityWeighter().sample_weights(torch.zeros(3, 2), torch.ones(3, 2))
        tensor([1., 1., 1.])
    """

    def sample_weights(self, attributes: Tensor, reconstructed: Tensor) -> Tensor:
        """``(..., n, A)``, ``(..., n, A)`` -> ones ``(..., n)``.

        Raises:
            ShapeError: the shapes differ.
        """
        _check_pair("UniformQualityWeighter", attributes, reconstructed)
        return torch.ones(attributes.shape[:-1], dtype=attributes.dtype, device=attributes.device)

    def class_weights(self, sample_weights: Tensor, labels: Tensor, num_classes: int) -> Tensor:
        """``(n,)``, ``(n,)`` -> ones ``(num_classes,)`` (inputs validated as for the cosine weighter)."""
        return torch.ones_like(class_mean(sample_weights, labels, num_classes))

    def __repr__(self) -> str:
        return "UniformQualityWeighter()"
