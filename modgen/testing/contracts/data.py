"""Contract checks of the data kinds: ``dataset`` loaders and ``task_sampler`` classes.

* :func:`check_dataset` calls a loader as :func:`modgen.data.load_dataset` does,
  ``loader(root, **options)``, and checks the :class:`~modgen.data.zsldata.ZSLData` it returns
  can run a zero-shot evaluation (and, when it has validation classes, model selection).
* :func:`check_task_sampler` builds a sampler as the meta trainer does,
  ``cls(data, device=..., **params)``, on :func:`toy_data`, and checks the
  :class:`~modgen.data.zsldata.Episode` it draws: shapes, labels, disjoint support and query
  classes, and that randomness comes only from the generator it is given.

Example:
    >>> from modgen.data import EpisodicTaskSampler
    >>> sampler = check_task_sampler(EpisodicTaskSampler)
    >>> sampler.n_way, sampler.tasks
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from modgen.testing.contracts._common import (
    accepted,
    as_device,
    call,
    check_tensor,
    defaults_for,
    fail,
    name_of,
)

__all__ = ["toy_data", "check_task_sampler", "check_dataset", "SAMPLER_SIZES"]

#: The task sizes :func:`check_task_sampler` asks for (where the sampler accepts them).
SAMPLER_SIZES: dict[str, int] = {"n_way": 2, "k_support": 2, "k_query": 1, "tasks": 3}


def toy_data(
    *,
    seen: int = 6,
    unseen: int = 2,
    val: int = 2,
    per_class: int = 6,
    feature_dim: int = 7,
    attr_dim: int = 5,
    seed: int = 0,
) -> Any:
    """A small, valid :class:`~modgen.data.zsldata.ZSLData` for contract checks and tests.

    Class ids are ``0 .. seen + unseen - 1``; the first ``seen`` are seen (two thirds of each
    one's samples ``trainval``, the rest ``test_seen``), the others unseen (all ``test_unseen``);
    the last ``val`` seen classes are the validation classes. Features are class means plus
    noise, so classes are separable.

    Example:
        >>> d = toy_data()
        >>> d.features.shape, d.semantics.shape, d.unseen_classes.tolist(), d.val_classes.tolist()
        ((48, 7), (8, 5), [6, 7], [4, 5])
    """
    from modgen.data.zsldata import ZSLData

    rng = np.random.default_rng(seed)
    n_classes = seen + unseen
    semantics = rng.random((n_classes, attr_dim)) + 0.1
    semantics /= np.linalg.norm(semantics, axis=1, keepdims=True)
    means = 3.0 * rng.normal(size=(n_classes, feature_dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    features = means[labels] + rng.normal(size=(labels.size, feature_dim))
    shot = np.tile(np.arange(per_class), n_classes)
    is_seen = labels < seen
    fit = is_seen & (shot < max(1, (2 * per_class) // 3))
    val_classes = np.arange(seen - val, seen)
    is_val = np.isin(labels, val_classes)
    rows = np.arange(labels.size)
    return ZSLData(
        name="contract-toy",
        features=features,
        labels=labels,
        semantics=semantics,
        class_names=[f"class{c}" for c in range(n_classes)],
        trainval=rows[fit],
        test_seen=rows[is_seen & ~fit],
        test_unseen=rows[~is_seen],
        seen_classes=np.arange(seen),
        unseen_classes=np.arange(seen, n_classes),
        train=rows[fit & ~is_val],
        val=rows[fit & is_val],
        val_classes=val_classes,
        source="modgen.testing.contracts.toy_data",
    )


# ------------------------------------------------------------------------------------------------
# task samplers


def _same_episode(a: Any, b: Any) -> bool:
    import attrs

    return all(torch.equal(getattr(a, f.name), getattr(b, f.name)) for f in attrs.fields(type(a)))


def _check_part(
    who: str, ep: Any, part: str, data: Any, sizes: Mapping[str, int], device: torch.device
) -> None:
    """Shapes, dtypes, device and meaning of the support or query half of an episode."""
    t, n, k = ep.tasks, ep.n_way, ep.k_support if part == "support" else ep.k_query
    d, a = data.feature_dim, data.attr_dim
    x = check_tensor(who, f"episode.{part}_x", getattr(ep, f"{part}_x"), (t, n * k, d))
    attrs_each = check_tensor(who, f"episode.{part}_a", getattr(ep, f"{part}_a"), (t, n * k, a))
    y = check_tensor(who, f"episode.{part}_y", getattr(ep, f"{part}_y"), (t, n * k))
    classes = check_tensor(who, f"episode.{part}_classes", getattr(ep, f"{part}_classes"), (t, n))
    attrs = check_tensor(who, f"episode.{part}_attrs", getattr(ep, f"{part}_attrs"), (t, n, a))
    for name, tensor in (("x", x), ("a", attrs_each), ("y", y), ("classes", classes), ("attrs", attrs)):
        if tensor.device != device:
            fail(who, f"episode.{part}_{name} is on {tensor.device}, expected the sampler's device {device}")
    for name, tensor in (("y", y), ("classes", classes)):
        if tensor.dtype != torch.long:
            fail(who, f"episode.{part}_{name} has dtype {tensor.dtype}, expected torch.int64 (class indices)")
    for name, tensor in (("x", x), ("a", attrs_each), ("attrs", attrs)):
        if tensor.dtype != torch.float32:
            fail(who, f"episode.{part}_{name} has dtype {tensor.dtype}, expected torch.float32")
    s = int(data.seen_classes.size)
    if bool((classes < 0).any()) or bool((classes >= s).any()):
        fail(
            who, f"episode.{part}_classes must index data.seen_classes (0 <= c < {s}), got {classes.tolist()}"
        )
    for name, want in (("n_way", n), ("k_support" if part == "support" else "k_query", k)):
        if name in sizes and sizes[name] != want:
            fail(who, f"asked for {name}={sizes[name]}, the episode's {part} set has {want}")
    if part == "support" and "tasks" in sizes and sizes["tasks"] != t:
        fail(who, f"asked for tasks={sizes['tasks']}, the episode has {t}")
    # samples are ordered class by class: sample i*K + k is shot k of class i
    expected_y = classes[:, :, None].expand(t, n, k).reshape(t, n * k)
    if not torch.equal(y, expected_y):
        fail(
            who,
            f"episode.{part}_y must list each task's classes in order, K samples each ({part}_classes "
            "repeated K times); got labels that do not match the classes",
        )
    global_ids = data.seen_classes[classes.cpu().numpy()]  # (T, N) class ids of the data
    sem = torch.as_tensor(data.semantics[global_ids], device=device)
    if not torch.allclose(attrs, sem, atol=1e-6):
        fail(who, f"episode.{part}_attrs must be the class semantics of {part}_classes (data.semantics rows)")
    if not torch.allclose(attrs_each, sem[:, :, None, :].expand(t, n, k, a).reshape(t, n * k, a), atol=1e-6):
        fail(who, f"episode.{part}_a must be each sample's class semantics")
    feats = x.detach().cpu().numpy()
    for task in range(t):
        for i in range(n):
            own = data.features[data.labels == global_ids[task, i]]
            for shot in feats[task, i * k : (i + 1) * k]:
                if not np.isclose(own, shot, atol=1e-5).all(axis=1).any():
                    fail(
                        who,
                        f"episode.{part}_x of task {task}, class {int(global_ids[task, i])} holds a feature "
                        "that is no sample of that class in data.features",
                    )
    for task in range(t):
        row = classes[task].tolist()
        if len(set(row)) != n:
            fail(who, f"task {task}: the {part} classes {row} repeat a class")


def check_task_sampler(
    cls: Any,
    *,
    data: Any = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    **params: Any,
) -> Any:
    """Check a task sampler: built as ``cls(data, device=..., **params)`` (as the meta trainer does).

    ``params`` default to :data:`SAMPLER_SIZES` (2-way, 2-shot support, 1-shot query, 3 tasks)
    where the sampler accepts them. Checks that ``sample(generator)``:

    * returns an :class:`~modgen.data.zsldata.Episode` of the sizes asked for, with
      ``x (T, N*K, D)`` and ``a (T, N*K, A)`` float32, ``y (T, N*K)`` and ``classes (T, N)``
      int64 indices into ``data.seen_classes``, ``attrs (T, N, A)``, all on the sampler's device;
    * lists each task's samples class by class, with each sample's class semantics, and
      features that are samples of that class in ``data``;
    * gives each task ``N`` distinct support and ``N`` distinct query classes, disjoint;
    * gives the same episode for the same generator state, different episodes for different
      seeds, and leaves torch's global random state alone (randomness is passed in).

    Args:
        cls: the sampler class (or factory).
        data: the data to sample from (default :func:`toy_data`).
        device: where the sampler makes its episodes (default CPU).
        seed: the seed of the generators.
        **params: the sampler's parameters.

    Returns:
        The built sampler.

    Example:
        >>> from modgen.data import EpisodicTaskSampler
        >>> check_task_sampler(EpisodicTaskSampler, n_way=3, k_query=2).k_query
        2
    """
    from modgen.data.zsldata import Episode, ZSLData

    who = f"task_sampler {name_of(cls)}"
    dev = as_device(device)
    data = toy_data() if data is None else data
    if not isinstance(data, ZSLData):
        fail(who, f"the check needs a ZSLData to sample from, got {type(data).__name__}")
    sizes = {**defaults_for(cls, SAMPLER_SIZES, params), **params}
    sampler = call(who, cls, data, device=dev, **sizes)
    if not callable(getattr(sampler, "sample", None)):
        fail(who, "has no method sample(generator)")

    def draw(s: int) -> Any:
        gen = torch.Generator(device=dev).manual_seed(s)
        return call(who, sampler.sample, gen)

    before = torch.get_rng_state()
    ep = draw(seed)
    if not torch.equal(before, torch.get_rng_state()):
        fail(who, "sample() drew from torch's global random state; draw only from the generator it is given")
    if not isinstance(ep, Episode):
        fail(who, f"sample() must return a modgen.data.Episode, got {type(ep).__name__}")
    wanted = {k: int(v) for k, v in sizes.items() if k in SAMPLER_SIZES and isinstance(v, int)}
    for part in ("support", "query"):
        _check_part(who, ep, part, data, wanted, dev)
    for task in range(ep.tasks):
        both = set(ep.support_classes[task].tolist()) & set(ep.query_classes[task].tolist())
        if both:
            fail(who, f"task {task}: support and query classes must be disjoint, both hold {sorted(both)}")
    if not _same_episode(ep, draw(seed)):
        fail(who, "the same generator state gave a different episode; draw only from the generator given")
    if all(_same_episode(ep, draw(seed + s)) for s in range(1, 6)):
        fail(who, "five other seeds gave the very same episode; the episode must depend on the generator")
    return sampler


# ------------------------------------------------------------------------------------------------
# data set loaders


def _indices(data: Any, key: str) -> np.ndarray:
    return np.asarray(getattr(data, key))


def _check_zsl(who: str, data: Any, what: str) -> None:
    from modgen.data.zsldata import ZSLData

    if not isinstance(data, ZSLData):
        fail(who, f"{what} must be a modgen.data.ZSLData, got {type(data).__name__}")
    if data.feature_dim < 1 or data.attr_dim < 1:
        fail(who, f"{what} has features of width {data.feature_dim} and semantics of width {data.attr_dim}")
    if data.seen_classes.size < 1 or _indices(data, "trainval").size == 0:
        fail(who, f"{what} has no seen classes or no trainval samples to train on")
    if data.unseen_classes.size < 2:
        fail(
            who,
            f"{what} has {data.unseen_classes.size} unseen classes; zero-shot evaluation needs at least 2",
        )
    if _indices(data, "test_unseen").size == 0:
        fail(who, f"{what} has no test_unseen samples")
    if data.seen_classes.size and _indices(data, "test_seen").size == 0:
        fail(who, f"{what} has no test_seen samples (GZSL needs them)")
    missing = np.setdiff1d(data.unseen_classes, data.labels[_indices(data, "test_unseen")])
    if missing.size:
        fail(who, f"{what}: unseen class {int(missing[0])} has no test_unseen sample")


def check_dataset(
    loader: Any,
    *,
    root: str | None = None,
    validation: bool = True,
    **options: Any,
) -> Any:
    """Check a data-set loader: called as ``loader(root, **options)`` (as ``load_dataset`` does).

    Checks that the loader returns a :class:`~modgen.data.zsldata.ZSLData` (which validates its
    own fields when built: finite values, labels in range, disjoint splits) that can run an
    evaluation: seen classes with ``trainval`` samples, ``test_seen`` samples, at least 2
    unseen classes each with ``test_unseen`` samples. When the data has validation classes,
    :meth:`~modgen.data.zsldata.ZSLData.validation_view` must work and judge on exactly those
    classes, and — if the loader takes ``validation`` and ``validation`` is true here —
    ``loader(root, validation=True, **options)`` must return data whose classes are all seen
    classes of the full data (no test class is ever looked at) and whose unseen classes are
    the validation classes.

    Args:
        loader: the registered loader.
        root: the folder of its files (``None`` for embedded data).
        validation: also load the validation protocol (when the loader takes it).
        **options: the loader's options (``data.options``).

    Returns:
        The loaded :class:`~modgen.data.zsldata.ZSLData`.

    Example:
        >>> from modgen.data.digits import digits_loader
        >>> check_dataset(digits_loader, pca=8).feature_dim
        8
    """
    who = f"dataset {name_of(loader)}"
    data = call(who, loader, root, **options)
    _check_zsl(who, data, "loader(root, **options)")
    if data.val_classes.size:
        if not set(data.val_classes.tolist()) <= set(data.seen_classes.tolist()):
            fail(who, f"val_classes {data.val_classes.tolist()} must be seen classes")
        view = call(who, data.validation_view)
        if sorted(view.unseen_classes.tolist()) != sorted(data.val_classes.tolist()):
            fail(
                who,
                f"the validation view judges on {view.unseen_classes.tolist()}, expected the val_classes "
                f"{data.val_classes.tolist()}",
            )
        takes = accepted(loader)
        if validation and (takes is None or "validation" in takes) and "validation" not in options:
            val = call(who, loader, root, validation=True, **options)
            from modgen.data.zsldata import ZSLData

            if not isinstance(val, ZSLData):
                fail(who, f"loader(root, validation=True) must return a ZSLData, got {type(val).__name__}")
            used = set(val.seen_classes.tolist()) | set(val.unseen_classes.tolist())
            leaked = sorted(used - set(data.seen_classes.tolist()))
            if leaked:
                fail(
                    who,
                    f"loader(root, validation=True) uses test (unseen) classes {leaked}; the validation "
                    "protocol must use seen classes only",
                )
            if sorted(val.unseen_classes.tolist()) != sorted(data.val_classes.tolist()):
                fail(
                    who,
                    f"loader(root, validation=True) judges on {val.unseen_classes.tolist()}, expected the "
                    f"val_classes {data.val_classes.tolist()}",
                )
    return data
