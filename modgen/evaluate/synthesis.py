"""Synthesis of features for target classes, each class its own task (Section II-E).

For every target class, its attribute is replicated ``replicate`` times to form the task's
attribute set, the modulator turns it into a modulation of the generator, and the modulated
generator draws ``n`` features from ``z ~ N(0, sigma^2)``. All classes of a chunk run as one
batch with a leading class dim ``(C, n, .)``: the generator normalises per task over the
sample dim, so each class is exactly its own task. The attribute decoder reconstructs the
attribute of every synthetic feature in the same pass, for the quality weights of Eq. 12.

Example:
    >>> import torch
    >>> from modgen.assembly import build_assembly
    >>> from modgen.config import apply_overrides
    >>> from modgen.plugins import get_registries
    >>> from modgen.recipes import amaz
    >>> spec = apply_overrides(amaz(), ["generator.hidden=16", "modulator.hidden=8"])
    >>> asm = build_assembly(spec, get_registries(entry_points=False), attr_dim=4, feature_dim=6,
    ...                      num_classes=3, seed=0)
    >>> out = synthesize(asm, torch.eye(3, 4), 5, sigma=1.0, generator=torch.Generator().manual_seed(0))
    >>> out.features.shape, out.reconstructed.shape, out.labels.tolist()[:7]
    (torch.Size([15, 6]), torch.Size([15, 4]), [0, 0, 0, 0, 0, 1, 1])
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import Tensor

from modgen.config import SYNTHESIS_BN
from modgen.errors import ConfigError, ShapeError
from modgen.nn.blocks import pooled_batch_statistics

__all__ = ["SyntheticFeatures", "synthesize", "default_chunk_classes", "nearest_seen_tasks"]

# Elements of the widest activation ``(chunk, n, width)`` held at once by default.
_CHUNK_ELEMENTS = 1 << 24


class SyntheticFeatures(NamedTuple):
    """Features synthesised for ``C`` classes, ``n`` each, in class order.

    Attributes:
        features: ``(C * n, D)`` synthetic features ``x_hat``.
        labels: ``(C * n,)`` int64 class positions ``0..C-1`` (rows of the class attributes).
        reconstructed: ``(C * n, A)`` ``AD(x_hat)``, or ``None`` without an attribute decoder.

    Example:
        >>> s = SyntheticFeatures(torch.zeros(4, 3), torch.tensor([0, 0, 1, 1]), None)
        >>> features, labels, reconstructed = s
        >>> features.shape, reconstructed
        (torch.Size([4, 3]), None)
    """

    features: Tensor
    labels: Tensor
    reconstructed: Tensor | None


@contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Evaluation mode (no dropout) inside, each submodule's own mode restored after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.train(mode)


def _module_device(assembly: Any) -> torch.device:
    for p in assembly.parameters():
        return p.device
    return torch.device("cpu")


def default_chunk_classes(assembly: Any, n_per_class: int) -> int:
    """How many classes one batch holds so that its widest activation stays near 2**24 elements.

    Example:
        >>> from modgen.assembly import AWA2_SHAPES, build_assembly
        >>> from modgen.plugins import get_registries
        >>> from modgen.recipes import amaz
        >>> asm = build_assembly(amaz(), get_registries(entry_points=False), device="meta", **AWA2_SHAPES)
        >>> default_chunk_classes(asm, 300)  # 2**24 // (300 * 2048), G's widest layer is 2048
        27
    """
    dims = list(getattr(assembly.generator, "modulated_dims", []) or [])
    width = max([int(assembly.feature_dim), *dims])
    return max(1, _CHUNK_ELEMENTS // (n_per_class * width))


def _context_tasks(attrs: Tensor, size: int, count: int, generator: torch.Generator) -> list[Tensor]:
    """``count`` task attribute sets ``(C, N, A)``: class ``i`` plus ``N - 1`` other classes each."""
    C = attrs.shape[0]
    others = min(size, C) - 1
    out = []
    for _ in range(count):
        keys = torch.rand((C, C), generator=generator, device=generator.device).to(attrs.device)
        keys.fill_diagonal_(2.0)  # a class is never its own companion
        companions = keys.topk(others, dim=1, largest=False).indices if others > 0 else keys[:, :0].long()
        members = torch.cat([torch.arange(C, device=attrs.device)[:, None], companions], dim=1)
        out.append(attrs[members])
    return out


def nearest_seen_tasks(target: Any, seen: Any, size: int) -> Tensor:
    """``(C, N, A)``: for each target class, the task of the ``N`` seen classes whose attributes
    are nearest to its own (cosine), nearest first; ``N = min(size, number of seen classes)``.

    A modulator has only ever met tasks of seen classes; this keeps it on them and leaves the
    class's own attribute to the generator's input (``evaluation.modulation_task=nearest_seen``).

    Example:
        >>> seen = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> nearest_seen_tasks(torch.tensor([[0.9, 0.1]]), seen, 2).tolist()
        [[[1.0, 0.0], [1.0, 1.0]]]
    """
    target_t = torch.as_tensor(target, dtype=torch.float32)
    seen_t = torch.as_tensor(seen, dtype=torch.float32).to(target_t.device)
    if seen_t.ndim != 2 or seen_t.shape[0] < 1 or target_t.ndim != 2 or seen_t.shape[1] != target_t.shape[1]:
        raise ShapeError(
            f"nearest_seen_tasks: expected target (C, A) and seen (S >= 1, A), got "
            f"{tuple(target_t.shape)} and {tuple(seen_t.shape)}"
        )
    n = min(_positive_int("size", size), seen_t.shape[0])
    similarity = (
        torch.nn.functional.normalize(target_t, dim=1) @ torch.nn.functional.normalize(seen_t, dim=1).T
    )
    order = similarity.topk(n, dim=1).indices  # ties: topk's order, deterministic on one device
    return seen_t[order]


class _MeanModulation:
    """The mean of several modulations' outputs: ``(j, o) -> mean_k m_k(j, o)``."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    def __call__(self, j: int, o: Tensor) -> Tensor:
        return torch.stack([m(j, o) for m in self.parts]).mean(0)


def _mean_modulation(parts: list[Any]) -> Any:
    return None if all(m is None for m in parts) else _MeanModulation(parts)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"synthesize: {name} must be an integer >= 1, got {value!r}")
    return value


def synthesize(
    assembly: Any,
    class_attributes: Any,
    n_per_class: int,
    *,
    sigma: float = 1.0,
    generator: torch.Generator,
    replicate: int = 10,
    chunk_classes: int | None = None,
    context_tasks: int = 0,
    batch_norm: str = "running",
    task_attributes: Any = None,
) -> SyntheticFeatures:
    """Synthesise ``n_per_class`` features for each class.

    ``(C, A) -> features (C * n, D), labels (C * n,), reconstructed (C * n, A)``, on the
    assembly's device. The noise ``z`` is drawn on ``generator``'s device, class by class in
    order, so the same seed gives the same features whatever ``chunk_classes`` is.

    How each class's generator is modulated:

    * ``context_tasks=0`` (the paper, Section II-E): the class is its own task, its attribute
      replicated ``replicate`` times (with a mean-pooling task encoder such as AMAZ's AP the
      number of copies does not change the embedding).
    * ``context_tasks=K``: the expected modulation over ``K`` training-like tasks — the class
      with ``replicate - 1`` other classes of ``class_attributes`` drawn at random for each
      task — applied as the mean of the ``K`` modulated outputs of each layer. In training the
      task encoder only ever saw tasks of ``N`` distinct classes; a lone class is outside that
      distribution.
    * ``task_attributes``: a task of your choosing for each class, ``(C, N, A)`` (for example
      the ``N`` seen classes nearest to it: :func:`nearest_seen_tasks`). The modulator sees only
      these attributes; the generator's own input still carries the class's attribute.

    Where the generator's BatchNorm takes its statistics (``batch_norm``):

    * ``"running"`` (default): the running statistics calibrated over training-like episodes
      (:func:`~modgen.nn.blocks.calibrate_batch_norm`).
    * ``"batch"``: the statistics of this call's synthetic samples, all target classes together
      (:func:`~modgen.nn.blocks.pooled_batch_statistics`); every class then runs in one batch
      (``chunk_classes`` is ignored). Never per class: a class normalised by its own statistics
      loses exactly what sets it apart from the others. The features of a class then depend on
      which other classes are synthesised with it.

    Args:
        assembly: an :class:`~modgen.assembly.Assembly` (``generator``, ``modulator``,
            ``attribute_decoder``, ``attr_dim``, ``feature_dim``, ``noise_dim``).
        class_attributes: ``(C, A)`` attributes of the target classes (tensor or array).
        n_per_class: features per class.
        sigma: standard deviation of ``z`` (the paper tests with 1).
        generator: the source of ``z``.
        replicate: size ``N`` of each class's task (the training tasks' ``n_way``).
        chunk_classes: classes per batch (default: :func:`default_chunk_classes`).
        context_tasks: ``K`` tasks of the expected modulation (0: each class alone).
        batch_norm: ``"running"`` or ``"batch"`` (above).
        task_attributes: ``(C, N, A)``: the task whose modulation each class gets (above);
            not together with ``context_tasks``.

    Returns:
        A :class:`SyntheticFeatures`.

    Raises:
        ShapeError: ``class_attributes`` is not ``(C, attr_dim)``.
        ConfigError: a count is not a positive integer, ``sigma`` is negative or ``batch_norm``
            is not ``running`` or ``batch``, or ``task_attributes`` is given with
            ``context_tasks``.

    Example:
        >>> from modgen.assembly import build_assembly
        >>> from modgen.plugins import get_registries
        >>> from modgen.recipes import zsml
        >>> asm = build_assembly(zsml(), get_registries(entry_points=False), attr_dim=4, feature_dim=6,
        ...                      num_classes=3, seed=0)
        >>> out = synthesize(asm, torch.eye(2, 4), 3, generator=torch.Generator().manual_seed(0))
        >>> out.features.shape, out.labels.tolist()
        (torch.Size([6, 6]), [0, 0, 0, 1, 1, 1])
    """
    n = _positive_int("n_per_class", n_per_class)
    replicate = _positive_int("replicate", replicate)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma >= 0:
        raise ConfigError(f"synthesize: sigma must be a number >= 0, got {sigma!r}")
    device = _module_device(assembly)
    attrs_t = torch.as_tensor(class_attributes).detach().to(device=device, dtype=torch.float32)
    A, Z = int(assembly.attr_dim), int(assembly.noise_dim)
    if attrs_t.ndim != 2 or attrs_t.shape[1] != A:
        raise ShapeError(
            f"synthesize: class_attributes must be (C, {A}) (one attribute row per class), "
            f"got shape {tuple(attrs_t.shape)}"
        )
    C = attrs_t.shape[0]
    if batch_norm not in SYNTHESIS_BN:
        raise ConfigError(
            f"synthesize: batch_norm must be one of {', '.join(map(repr, SYNTHESIS_BN))}, got {batch_norm!r}"
        )
    chunk = _positive_int("chunk_classes", chunk_classes) if chunk_classes is not None else None
    chunk = chunk or default_chunk_classes(assembly, n)
    statistics: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if batch_norm == "batch":  # one batch of every class: the statistics span the classes
        chunk = max(C, 1)
        statistics = pooled_batch_statistics(assembly.generator)
    if isinstance(context_tasks, bool) or not isinstance(context_tasks, int) or context_tasks < 0:
        raise ConfigError(f"synthesize: context_tasks must be an integer >= 0, got {context_tasks!r}")
    tasks = _context_tasks(attrs_t, replicate, context_tasks, generator) if context_tasks else None
    own = None
    if task_attributes is not None:
        if context_tasks:
            raise ConfigError("synthesize: give task_attributes or context_tasks, not both")
        own = torch.as_tensor(task_attributes).detach().to(device=device, dtype=torch.float32)
        if own.ndim != 3 or own.shape[0] != C or own.shape[2] != A:
            raise ShapeError(
                f"synthesize: task_attributes must be ({C}, N, {A}) (one task per class), "
                f"got shape {tuple(own.shape)}"
            )
    decoder = getattr(assembly, "attribute_decoder", None)
    feats: list[Tensor] = []
    recs: list[Tensor] = []
    with torch.no_grad(), _eval_mode(assembly), statistics:
        for start in range(0, C, chunk):
            a = attrs_t[start : start + chunk]
            c = a.shape[0]
            if own is not None:
                modulation = assembly.modulator(own[start : start + chunk])
            elif tasks is None:
                modulation = assembly.modulator(a[:, None, :].expand(c, replicate, A))
            else:
                modulation = _mean_modulation([assembly.modulator(t[start : start + chunk]) for t in tasks])
            # One draw per class: the same seed gives the same features whatever the chunking.
            z = torch.stack(
                [torch.randn((n, Z), generator=generator, device=generator.device) for _ in range(c)]
            )
            z = z.to(device) * sigma
            x = assembly.generator(z, a[:, None, :].expand(c, n, A), modulation)
            feats.append(x.reshape(c * n, -1))
            if decoder is not None:
                recs.append(decoder(x).reshape(c * n, A))
    labels = torch.arange(C, device=device).repeat_interleave(n)
    features = torch.cat(feats) if feats else torch.empty(0, int(assembly.feature_dim), device=device)
    reconstructed = (
        (torch.cat(recs) if recs else torch.empty(0, A, device=device)) if decoder is not None else None
    )
    return SyntheticFeatures(features, labels, reconstructed)
