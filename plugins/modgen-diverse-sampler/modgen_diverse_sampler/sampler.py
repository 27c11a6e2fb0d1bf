"""A task sampler whose tasks' classes are spread out in attribute space.

The built-in ``episodic`` sampler draws each task's ``2N`` classes uniformly, so a task often
holds near-duplicate classes (two similar birds, two similar scenes). This sampler chooses them
by *farthest-point sampling* on the class semantics: a uniformly random first class, then
repeatedly the class whose distance to the nearest already-chosen class is largest. The ``2N``
chosen classes are split at random into ``N`` support and ``N`` query classes (disjoint, as
Algorithm 1, line 3 asks), and each class contributes ``K`` distinct samples drawn uniformly
without replacement.

It uses only modgen's public data types (:class:`~modgen.data.zsldata.ZSLData` in,
:class:`~modgen.data.zsldata.Episode` out) and draws all tasks of an episode at once on the
sampler's device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from modgen.data.zsldata import Episode, ZSLData
from modgen.errors import ConfigError, DataError, ShapeError

__all__ = ["METRICS", "AttributeDiverseTaskSampler", "farthest_point_classes"]

#: Distances between class semantics understood by :class:`AttributeDiverseTaskSampler`.
METRICS: tuple[str, ...] = ("euclidean", "cosine")

_SPLITS = ("trainval", "train")


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


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"task_sampler.{name}: expected a positive integer, got {value!r}")
    return int(value)


class AttributeDiverseTaskSampler:
    """Draws episodes of ``T`` tasks whose ``2N`` classes are spread out in attribute space.

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
        if not isinstance(data, ZSLData):
            raise ConfigError(f"task_sampler: expected a ZSLData, got {type(data).__name__}")
        self.n_way = _positive("n_way", n_way)
        self.k_support = _positive("k_support", k_support)
        self.k_query = _positive("k_query", k_query)
        self.tasks = _positive("tasks", tasks)
        for name, value, choices in (
            ("features_split", features_split, _SPLITS),
            ("metric", metric, METRICS),
        ):
            if value not in choices:
                raise ConfigError(
                    f"task_sampler.{name}: unknown value {value!r}; expected one of {', '.join(choices)}"
                )
        self.features_split, self.metric = features_split, metric
        self.device = torch.device(device)

        rows = getattr(data, features_split)
        labels = data.labels[rows]
        order = np.argsort(labels, kind="stable")
        rows, labels = rows[order], labels[order]
        classes, starts, counts = np.unique(labels, return_index=True, return_counts=True)
        if classes.size < 2 * self.n_way:
            raise DataError(
                f"{data.name}: diverse.attribute-diverse needs at least 2 * n_way = {2 * self.n_way} training "
                f"classes in {features_split!r} (support and query classes are disjoint), but there are "
                f"{classes.size}. Lower task_sampler.n_way to at most {classes.size // 2}."
            )
        shots = max(self.k_support, self.k_query)
        if counts.min() < shots:
            c = int(np.argmin(counts))
            raise DataError(
                f"{data.name}: class {classes[c]} ({data.class_names[classes[c]]!r}) has only {counts[c]} "
                f"samples in {features_split!r}, fewer than max(k_support, k_query) = {shots}. Lower "
                f"task_sampler.k_support/k_query to at most {counts.min()}."
            )
        self.class_ids = classes
        self.num_classes = int(data.seen_classes.size)

        dev = self.device
        width = int(counts.max())
        rank = np.arange(rows.size) - np.repeat(starts, counts)
        table = np.zeros((classes.size, width), dtype=np.int64)
        table[np.repeat(np.arange(classes.size), counts), rank] = np.arange(rows.size)
        # Copied to the device once; every episode indexes into these.
        self._features = torch.from_numpy(np.ascontiguousarray(data.features[rows])).to(dev)
        self._table = torch.from_numpy(table).to(dev)
        self._valid = torch.arange(width, device=dev)[None, :] < torch.from_numpy(counts).to(dev)[:, None]
        self._attrs = torch.from_numpy(np.ascontiguousarray(data.semantics[classes])).to(dev)
        self._label = torch.from_numpy(np.searchsorted(data.seen_classes, classes)).to(dev)
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

    def sample(self, generator: torch.Generator) -> Episode:
        """Draw one episode of ``T`` tasks with attribute-diverse, disjoint support and query classes.

        Args:
            generator: the source of randomness; the same generator state gives the same episode.

        Returns:
            An :class:`~modgen.data.zsldata.Episode` on the sampler's device: support
            ``(T, N*Ks, ·)``, query ``(T, N*Kq, ·)``, labels indexing ``data.seen_classes``.
        """
        t, n, ks, kq = self.tasks, self.n_way, self.k_support, self.k_query
        dev, gdev = self.device, generator.device
        start = torch.randint(self.class_ids.size, (t,), generator=generator, device=gdev).to(dev)
        picked = farthest_point_classes(self._distances, start, 2 * n)  # (T, 2N) rows of the class table
        # A random support/query split keeps both halves spread out (FPS order is not random).
        halves = torch.rand((t, 2 * n), generator=generator, device=gdev).to(dev).argsort(dim=1)
        picked = picked.gather(1, halves)
        width = self._table.shape[1]
        keys = torch.rand((t, 2 * n, width), generator=generator, device=gdev).to(dev)
        keys = keys.masked_fill(~self._valid[picked], 2.0)  # padding slots sort after every real sample
        shots = keys.topk(max(ks, kq), dim=-1, largest=False).indices  # (T, 2N, K)
        x = self._features[self._table[picked].gather(-1, shots)]  # (T, 2N, K, D)
        attrs, label = self._attrs[picked], self._label[picked]  # (T, 2N, A), (T, 2N)

        def part(lo: int, k: int) -> dict[str, Tensor]:
            a, y = attrs[:, lo : lo + n], label[:, lo : lo + n]
            return {
                "x": x[:, lo : lo + n, :k].reshape(t, n * k, -1),
                "a": a[:, :, None, :].expand(t, n, k, a.shape[-1]).reshape(t, n * k, -1),
                "y": y[:, :, None].expand(t, n, k).reshape(t, n * k),
                "classes": y,
                "attrs": a,
            }

        sup, qry = part(0, ks), part(n, kq)
        return Episode(
            **{f"support_{k}": v for k, v in sup.items()}, **{f"query_{k}": v for k, v in qry.items()}
        )
