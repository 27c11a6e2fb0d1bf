"""The contracts every component kind fulfils.

These are :class:`typing.Protocol` classes: a component need not inherit from them, it only
needs the methods (``isinstance`` works on them for a structural check). Shapes use these
letters throughout modgen:

* ``T`` tasks in an episode (leading task dimension; absent when a single task is given),
* ``n`` samples, ``N`` classes in a task (N-way), ``K`` shots,
* ``A`` attribute (class-semantics) dimension, ``D`` visual-feature dimension,
* ``Z`` noise dimension, ``E`` task-embedding dimension, ``C`` number of classes.

Every network takes inputs with any number of leading batch dimensions ``(..., n, ·)``; the
sample dimension is the one before the last. Per-task batch statistics (BatchNorm) are taken
over the sample dimension, so ``(T, n, ·)`` trains T tasks at once and ``torch.func.vmap``
over tasks gives the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from modgen.registry import COMPONENT_KINDS  # the one list of kinds, re-exported here

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import Tensor

    from modgen.data.zsldata import Episode, ZSLData

__all__ = [
    "Modulation",
    "Generator",
    "Modulator",
    "Critic",
    "AuxClassifier",
    "AttributeDecoder",
    "QualityWeighter",
    "TaskSampler",
    "FinalClassifier",
    "DatasetLoader",
    "Backbone",
    "COMPONENT_KINDS",
]


@runtime_checkable
class Modulation(Protocol):
    """Task-specific modulation of a generator's layers, produced by a :class:`Modulator`.

    ``modulation(j, o)`` returns the modulated ``j``-th intermediate output ``o_hat_j``
    (Eq. 3 of the paper): ``o`` has shape ``(..., n, d_j)`` and the result the same shape.
    ``j = 0`` is the generator's input ``[z, a]``.
    """

    def __call__(self, j: int, o: Tensor) -> Tensor: ...


@runtime_checkable
class Generator(Protocol):
    """Conditional feature generator ``G(z, a) -> x_hat`` (``torch.nn.Module``).

    Constructed as ``cls(attr_dim=A, feature_dim=D, noise_dim=Z, **params)``.

    Attributes:
        modulated_dims: the widths ``d_0, ..., d_k`` of the outputs that can be modulated,
            in order (``d_0 = Z + A`` is the input); a Modulator is built against them.

    ``forward(z, a, modulation=None)``: ``z`` ``(..., n, Z)``, ``a`` ``(..., n, A)``, an optional
    :class:`Modulation` -> ``x_hat`` ``(..., n, D)``.
    """

    modulated_dims: Sequence[int]

    def __call__(self, z: Tensor, a: Tensor, modulation: Modulation | None = None) -> Tensor: ...


@runtime_checkable
class Modulator(Protocol):
    """Task encoder AP plus per-layer modulators AM (``torch.nn.Module``).

    Constructed as ``cls(attr_dim=A, target_dims=generator.modulated_dims, **params)``.

    ``forward(task_attributes)``: the attribute set of a task, ``(..., N, A)`` ->
    a :class:`Modulation` for a generator, or ``None`` when the variant modulates nothing.
    """

    def __call__(self, task_attributes: Tensor) -> Modulation | None: ...


@runtime_checkable
class Critic(Protocol):
    """Conditional WGAN critic ``D(x, a)`` (``torch.nn.Module``).

    Constructed as ``cls(feature_dim=D, attr_dim=A, **params)``.
    ``forward(x, a)``: ``(..., n, D)``, ``(..., n, A)`` -> scores ``(..., n)``.
    """

    def __call__(self, x: Tensor, a: Tensor) -> Tensor: ...


@runtime_checkable
class AuxClassifier(Protocol):
    """Auxiliary classifier ``C(x)`` over the training classes (``torch.nn.Module``).

    Constructed as ``cls(feature_dim=D, num_classes=C, **params)``.
    ``forward(x)``: ``(..., n, D)`` -> logits ``(..., n, C)``.
    """

    def __call__(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class AttributeDecoder(Protocol):
    """Attribute decoder AD (the paper's "attribute discriminator") (``torch.nn.Module``).

    Constructed as ``cls(feature_dim=D, attr_dim=A, **params)``.
    ``forward(x)``: ``(..., n, D)`` -> reconstructed attributes ``a'`` ``(..., n, A)``.
    """

    def __call__(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class QualityWeighter(Protocol):
    """Scores the quality of synthetic features (Eqs. 12 and 14).

    Constructed as ``cls(**params)``.
    """

    def sample_weights(self, attributes: Tensor, reconstructed: Tensor) -> Tensor:
        """Per-sample quality: ``(n, A)``, ``(n, A)`` -> ``(n,)``."""
        ...

    def class_weights(self, sample_weights: Tensor, labels: Tensor, num_classes: int) -> Tensor:
        """Per-class weights: ``(n,)``, ``(n,)`` int labels -> ``(num_classes,)``."""
        ...


@runtime_checkable
class TaskSampler(Protocol):
    """Draws episodes of meta-learning tasks from the training classes.

    Constructed as ``cls(data, n_way=..., k_support=..., k_query=..., tasks=..., device=...,
    **params)`` with ``data`` a :class:`~modgen.data.zsldata.ZSLData`.
    ``sample(generator)``: a ``torch.Generator`` -> an :class:`~modgen.data.zsldata.Episode`
    whose tensors lie on the sampler's device.
    """

    def sample(self, generator: torch.Generator) -> Episode: ...


@runtime_checkable
class FinalClassifier(Protocol):
    """A classifier trained on synthetic features, with scikit-learn's estimator API.

    Constructed as ``cls(**params)``; ``sklearn.base.clone`` must work on it.
    ``fit(X (n, D), y (n,), sample_weight (n,) | None)`` -> self; ``predict(X)`` -> ``(n,)``;
    ``decision_function(X)`` -> ``(n, C)``, or ``(n,)`` (the score of ``classes_[1]``) for two
    classes, as scikit-learn's classifiers. Arrays are numpy arrays or torch tensors. It should
    be a scikit-learn classifier (``ClassifierMixin`` before ``BaseEstimator`` in its bases) and
    ``fit_grid`` may fit several hyper-parameter values at once through ``_fit_grid``
    (:func:`modgen.classify.fit_grid`).
    """

    def fit(self, X: Any, y: Any, sample_weight: Any | None = None) -> FinalClassifier: ...

    def predict(self, X: Any) -> np.ndarray: ...

    def decision_function(self, X: Any) -> np.ndarray: ...


@runtime_checkable
class DatasetLoader(Protocol):
    """Loads a data set: ``loader(root=None, **options) -> ZSLData``."""

    def __call__(self, root: str | None = None, **options: Any) -> ZSLData: ...


@runtime_checkable
class Backbone(Protocol):
    """An image feature extractor (``torch.nn.Module``, frozen): images -> pooled features.

    Constructed as ``factory(**params)``; by convention ``weights=`` (a local weights file) and
    ``sha256=`` (its checksum). See :class:`modgen.backbones.ImageBackbone`.

    Attributes:
        feature_dim: ``D``.
        input_size: the square resolution it was trained at (the default image size).
        mean: per-channel (RGB) mean of the input normalisation, for pixels in ``[0, 1]``.
        std: per-channel (RGB) standard deviation of that normalisation.
        info: provenance (``name``, ``weights`` with their ``sha256``) for build records.

    ``forward(images)``: ``(B, 3, H, W)`` normalised with ``mean``/``std`` -> ``(B, D)``.
    """

    feature_dim: int
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    info: dict[str, Any]

    def __call__(self, images: Tensor) -> Tensor: ...
