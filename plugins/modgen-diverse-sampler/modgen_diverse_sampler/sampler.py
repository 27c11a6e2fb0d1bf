"""A task sampler whose tasks' classes are spread out in attribute space.

The built-in ``episodic`` sampler draws each task's ``2N`` classes uniformly, so a task often
holds near-duplicate classes (two similar birds, two similar scenes). This sampler chooses them
by *farthest-point sampling* on the class semantics: a uniformly random first class, then
repeatedly the class whose distance to the nearest already-chosen class is largest. The ``2N``
chosen classes are split at random into ``N`` support and ``N`` query classes (disjoint, as
Algorithm 1, line 3 asks), and each class contributes ``K`` distinct samples drawn uniformly
without replacement.

It subclasses the built-in :class:`~modgen.data.sampler.EpisodicTaskSampler` and overrides only
how classes are chosen, so it returns the same :class:`~modgen.data.zsldata.Episode` and draws
all tasks of an episode at once on the sampler's device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from modgen.data.sampler import EpisodicTaskSampler
from modgen.data.zsldata import ZSLData
from modgen.errors import ConfigError, ShapeError

__all__ = ["METRICS", "AttributeDiverseTaskSampler", "farthest_point_classes"]

#: Distances between class semantics understood by :class:`AttributeDiverseTaskSampler`.
METRICS: tuple[str, ...] = ("euclidean", "cosine")


def farthest_point_classes(distances: Tensor, start: Tensor, count: int) -> Tensor:
    """Farthest-point sampling of ``count`` classes per task from their pairwise distances.

    Args:
        distances: ``(S, S)`` symmetric distances between classes, zero on the diagonal.
        start: ``(T,)`` long, the first class of each task.
        count: how many classes to choose per task, ``1 <= count <= S``.

    Returns:
        ``(T, count)`` long, distinct classes per task in the order chosen; each after the first
        maximises the distance to the nearest class chosen before it (ties go to the lowest index).

    Raises:
        ShapeError: ``distances`` is not square or ``count`` is outside ``[1, S]``.

    Example:
        >>> points = torch.tensor([[0.0], [1.0], [10.0], [4.0]])
        >>> farthest_point_classes(torch.cdist(points, points), torch.tensor([0]), 3).tolist()
        [[0, 2, 3]]
    """
    if distances.dim() != 2 or distances.shape[0] != distances.shape[1]:
        raise ShapeError(f"farthest_point_classes: distances must be (S, S), got {tuple(distances.shape)}")
    s = distances.shape[0]
    if not 1 <= count <= s:
        raise ShapeError(f"farthest_point_classes: count must be in [1, {s}] (the classes), got {count}")
    rows = torch.arange(start.shape[0], device=distances.device)
    nearest = distances[start].clone()  # (T, S) distance of each class to the nearest chosen one
    taken = torch.zeros_like(nearest, dtype=torch.bool)
    taken[rows, start] = True
    chosen = [start]
    for _ in range(count - 1):
        # Masking the chosen classes keeps the picks distinct even when classes share semantics.
        nxt = nearest.masked_fill(taken, -torch.inf).argmax(dim=1)
        taken[rows, nxt] = True
        nearest = torch.minimum(nearest, distances[nxt])
        chosen.append(nxt)
    return torch.stack(chosen, dim=1)


class AttributeDiverseTaskSampler(EpisodicTaskSampler):
    """Draws episodes of ``T`` tasks whose ``2N`` classes are spread out in attribute space.

    A subclass of the built-in sampler that overrides only
    :meth:`~modgen.data.sampler.EpisodicTaskSampler.choose_classes`; validation, the device-side
    sample table and the :class:`~modgen.data.zsldata.Episode` come from the built-in one.

    Args:
        data: the data set; training samples come from ``data.<features_split>``.
        n_way: ``N``, classes per support set (and per query set).
        k_support: ``Ks``, samples per support class.
        k_query: ``Kq``, samples per query class.
        tasks: ``T``, tasks per episode.
        device: where the episode tensors are made (``"cpu"``, ``"cuda"``, a ``torch.device``).
        features_split: ``"trainval"`` (the default) or ``"train"``.
        metric: ``"euclidean"`` or ``"cosine"`` (``1 - cos``) distance between class semantics.

    Attributes:
        class_ids: ``(S',)`` int64 global ids of the classes tasks are drawn from.
        num_classes: ``S``, the number of seen classes (the range of episode labels).

    Raises:
        ConfigError: a parameter is not a positive integer, or ``features_split`` or ``metric``
            is unknown.
        DataError: fewer than ``2 * n_way`` training classes, or a class with fewer than
            ``max(k_support, k_query)`` samples.

    Example:
        >>> from modgen.data.digits import load_digits_zsl
        >>> sampler = AttributeDiverseTaskSampler(load_digits_zsl(), n_way=3, k_support=5, k_query=3, tasks=4)
        >>> ep = sampler.sample(torch.Generator().manual_seed(0))
        >>> tuple(ep.support_x.shape), tuple(ep.query_attrs.shape)
        ((4, 15, 64), (4, 3, 18))
    """

    def __init__(
        self,
        data: ZSLData,
        n_way: int = 10,
        k_support: int = 5,
        k_query: int = 3,
        tasks: int = 10,
        device: str | torch.device = "cpu",
        features_split: str = "trainval",
        metric: str = "euclidean",
    ) -> None:
        if metric not in METRICS:
            raise ConfigError(
                f"task_sampler.metric: unknown value {metric!r}; expected one of {', '.join(METRICS)}"
            )
        super().__init__(data, n_way, k_support, k_query, tasks, device, features_split)
        self.metric = metric
        self._distances = self._class_distances(self._attrs.double()).to(self._attrs.dtype)

    def _class_distances(self, sem: Tensor) -> Tensor:
        if self.metric == "cosine":
            unit = sem / sem.norm(dim=1, keepdim=True).clamp_min(1e-12)
            return (1.0 - unit @ unit.T).clamp_min(0.0).fill_diagonal_(0.0)
        return torch.cdist(sem, sem)

    def __repr__(self) -> str:
        return (
            f"AttributeDiverseTaskSampler(n_way={self.n_way}, k_support={self.k_support}, "
            f"k_query={self.k_query}, tasks={self.tasks}, device={str(self.device)!r}, "
            f"features_split={self.features_split!r}, metric={self.metric!r}, classes={self.class_ids.size})"
        )

    def choose_classes(self, generator: torch.Generator) -> Tensor:
        """Farthest-point classes from a random start, split at random into support and query."""
        t, n, dev, gdev = self.tasks, self.n_way, self.device, generator.device
        start = torch.randint(self.class_ids.size, (t,), generator=generator, device=gdev).to(dev)
        picked = farthest_point_classes(self._distances, start, 2 * n)  # (T, 2N) rows of the class table
        # A random support/query split keeps both halves spread out (FPS order is not random).
        halves = torch.rand((t, 2 * n), generator=generator, device=gdev).to(dev).argsort(dim=1)
        return picked.gather(1, halves)
