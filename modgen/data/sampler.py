"""Episodic task sampling (Algorithm 1, lines 3-4), registered as task sampler ``episodic``.

How Algorithm 1's line 3 ("split D_S into disjoint subsets D_S^sup and D_S^qry") is realised:
the paper samples "from the whole training set" and "only ensures the training and validation
classes in each task are disjoint" (Section II-D). So the split is drawn afresh for every task:
each task takes a uniformly random ordering of all training classes, its first ``N`` classes
form the support set and its next ``N`` the query set (line 4), and each of these ``2N``
classes contributes ``K`` distinct samples drawn uniformly without replacement (``Ks`` for
support classes, ``Kq`` for query classes). Support and query classes are therefore disjoint
within a task, while any class may appear in either role across tasks and episodes.

Everything runs on the device without per-task host round trips: the constructor moves the
training features, the class semantics and a padded ``(S, max_count)`` table of each class's
sample rows to the device once; :meth:`EpisodicTaskSampler.sample` draws one
``(T, S)`` tensor of class keys and one ``(T, 2N, max_count)`` tensor of sample keys with the
given ``torch.Generator`` and takes ``argsort``/``topk`` of them for all tasks at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from modgen.data.zsldata import Episode, ZSLData
from modgen.errors import ConfigError, DataError

__all__ = ["EpisodicTaskSampler", "FEATURE_SPLITS"]

#: The index sets a sampler may draw training samples from.
FEATURE_SPLITS: tuple[str, ...] = ("trainval", "train")


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"task_sampler.{name}: expected a positive integer, got {value!r}")
    return int(value)


class EpisodicTaskSampler:
    """Draws episodes of ``T`` tasks, each ``N``-way support and query sets of disjoint classes.

    Args:
        data: the data set; training samples come from ``data.<features_split>``.
        n_way: ``N``, classes per support set (and per query set).
        k_support: ``Ks``, samples per support class.
        k_query: ``Kq``, samples per query class.
        tasks: ``T``, tasks per episode (the paper's "batch size", 10).
        device: where the episode tensors are made (``"cpu"``, ``"cuda"``, a ``torch.device``).
        features_split: ``"trainval"`` (the default) or ``"train"``.

    Attributes:
        class_ids: ``(S',)`` int64 global ids of the classes tasks are drawn from.
        num_classes: ``S``, the number of seen classes (the range of episode labels).

    Raises:
        ConfigError: a parameter is not a positive integer or ``features_split`` is unknown.
        DataError: fewer than ``2 * n_way`` training classes, or a class with fewer than
            ``max(k_support, k_query)`` samples (the message names the class and its count).

    Example:
        >>> import torch
        >>> from modgen.data.digits import load_digits_zsl
        >>> sampler = EpisodicTaskSampler(load_digits_zsl(), n_way=3, k_support=5, k_query=3, tasks=4)
        >>> ep = sampler.sample(torch.Generator().manual_seed(0))
        >>> tuple(ep.support_x.shape), tuple(ep.query_y.shape), tuple(ep.support_attrs.shape)
        ((4, 15, 64), (4, 9), (4, 3, 18))
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
    ) -> None:
        if not isinstance(data, ZSLData):
            raise ConfigError(f"task_sampler: expected a ZSLData, got {type(data).__name__}")
        self.n_way = _positive("n_way", n_way)
        self.k_support = _positive("k_support", k_support)
        self.k_query = _positive("k_query", k_query)
        self.tasks = _positive("tasks", tasks)
        if features_split not in FEATURE_SPLITS:
            raise ConfigError(
                f"task_sampler.features_split: unknown value {features_split!r}; expected one of "
                f"{', '.join(FEATURE_SPLITS)}"
            )
        self.features_split = features_split
        self.device = torch.device(device)
        self.data_name = data.name

        rows = getattr(data, features_split)
        labels = data.labels[rows]
        order = np.argsort(labels, kind="stable")
        rows, labels = rows[order], labels[order]
        classes, starts, counts = np.unique(labels, return_index=True, return_counts=True)
        need = 2 * self.n_way
        if classes.size < need:
            raise DataError(
                f"{data.name}: the episodic task sampler needs at least 2 * n_way = {need} training classes "
                f"in {features_split!r} ({self.n_way} support + {self.n_way} query classes, disjoint), but "
                f"there are {classes.size}. Lower task_sampler.n_way to at most {classes.size // 2}."
            )
        shots = max(self.k_support, self.k_query)
        short = np.flatnonzero(counts < shots)
        if short.size:
            c = short[np.argmin(counts[short])]
            raise DataError(
                f"{data.name}: class {classes[c]} ({data.class_names[classes[c]]!r}) has only {counts[c]} samples in "
                f"{features_split!r}, fewer than max(k_support, k_query) = {shots} ({short.size} classes are "
                f"short). Lower task_sampler.k_support/k_query to at most {counts.min()}."
            )
        self.class_ids = classes
        self.num_classes = int(data.seen_classes.size)
        width = int(counts.max())
        rank = np.arange(rows.size) - np.repeat(starts, counts)
        table = np.zeros((classes.size, width), dtype=np.int64)
        table[np.repeat(np.arange(classes.size), counts), rank] = np.arange(rows.size)
        dev = self.device
        # Copied to the device once; every episode indexes into these.
        self._features = torch.from_numpy(np.ascontiguousarray(data.features[rows])).to(dev)
        self._table = torch.from_numpy(table).to(dev)
        self._valid = torch.arange(width, device=dev)[None, :] < torch.from_numpy(counts).to(dev)[:, None]
        self._attrs = torch.from_numpy(np.ascontiguousarray(data.semantics[classes])).to(dev)
        self._label = torch.from_numpy(np.searchsorted(data.seen_classes, classes)).to(dev)

    def __repr__(self) -> str:
        return (
            f"EpisodicTaskSampler({self.data_name!r}, n_way={self.n_way}, k_support={self.k_support}, "
            f"k_query={self.k_query}, tasks={self.tasks}, device={str(self.device)!r}, "
            f"features_split={self.features_split!r}, classes={self.class_ids.size})"
        )

    def choose_classes(self, generator: torch.Generator) -> torch.Tensor:
        """Each task's classes: ``(T, 2N)`` rows of the class table (``class_ids``), on the device.

        The first ``N`` of a row are the support classes, the next ``N`` the query classes; they
        must be distinct. This sampler draws them uniformly; a subclass overrides this method to
        choose classes differently and inherits the rest (sample drawing, the Episode).
        """
        keys = torch.rand((self.tasks, self.class_ids.size), generator=generator, device=generator.device)
        return keys.argsort(dim=1)[:, : 2 * self.n_way].to(self.device)

    def sample(self, generator: torch.Generator) -> Episode:
        """Draw one episode: ``T`` tasks of ``N``-way support and query sets, disjoint classes.

        Args:
            generator: the source of randomness; the same generator state gives the same
                episode. Give one on the sampler's device to avoid a small copy of the keys.

        Returns:
            An :class:`~modgen.data.zsldata.Episode` on the sampler's device: support
            ``(T, N*Ks, ·)``, query ``(T, N*Kq, ·)``, labels indexing ``data.seen_classes``.
        """
        t, n, ks, kq = self.tasks, self.n_way, self.k_support, self.k_query
        gen_device = generator.device
        dev = self.device
        picked = self.choose_classes(generator)  # (T, 2N) rows of the class table
        width = self._table.shape[1]
        sample_keys = torch.rand((t, 2 * n, width), generator=generator, device=gen_device).to(dev)
        # Padding slots get a key above every real one (keys are in [0, 1)), so topk never picks them.
        sample_keys = sample_keys.masked_fill(~self._valid[picked], 2.0)
        shots = sample_keys.topk(max(ks, kq), dim=-1, largest=False).indices  # (T, 2N, K)
        rows = self._table[picked].gather(-1, shots)
        x = self._features[rows]  # (T, 2N, K, D)
        attrs = self._attrs[picked]  # (T, 2N, A)
        label = self._label[picked]  # (T, 2N)

        def part(lo: int, k: int) -> dict[str, torch.Tensor]:
            a = attrs[:, lo : lo + n]
            y = label[:, lo : lo + n]
            return {
                "x": x[:, lo : lo + n, :k].reshape(t, n * k, -1),
                "a": a[:, :, None, :].expand(t, n, k, a.shape[-1]).reshape(t, n * k, -1),
                "y": y[:, :, None].expand(t, n, k).reshape(t, n * k),
                "classes": y,
                "attrs": a,
            }

        sup, qry = part(0, ks), part(n, kq)
        return Episode(
            **{f"support_{k}": v for k, v in sup.items()},
            **{f"query_{k}": v for k, v in qry.items()},
        )
