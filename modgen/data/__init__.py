"""modgen.data: data sets as :class:`ZSLData` values and episodic task sampling.

* :func:`load_xlsa17`: the standard benchmarks (AWA1, AWA2, CUB, SUN, APY) as distributed.
* ``digits`` (:func:`load_digits_zsl`): embedded, no download; the default data set.
* ``fashion-mnist`` (:func:`load_fashion_mnist`): from the Debian package's idx files.
* :func:`make_semisynthetic`: xlsa17-format stand-ins with the real shapes (never for accuracy).
* :class:`EpisodicTaskSampler`: the task sampler ``episodic`` (Algorithm 1, lines 3-4).

Registered loaders are called as ``loader(root=None, **options) -> ZSLData``;
:func:`load_dataset` calls the one a :class:`~modgen.config.DataConfig` names.

Example:
    >>> from modgen.config import DataConfig
    >>> from modgen.plugins import Registries
    >>> regs = Registries()
    >>> register_components(regs)
    >>> load_dataset(regs, DataConfig(dataset="digits")).name
    'digits'
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from modgen.data.digits import digits_loader, load_digits_zsl
from modgen.data.fashion import fashion_mnist_loader, load_fashion_mnist
from modgen.data.sampler import EpisodicTaskSampler
from modgen.data.semisynthetic import make_semisynthetic
from modgen.data.xlsa17 import load_xlsa17, xlsa17_loader
from modgen.data.zsldata import Episode, ZSLData
from modgen.errors import ConfigError, DataError

if TYPE_CHECKING:
    from modgen.config import DataConfig
    from modgen.plugins import Registries

__all__ = [
    "ZSLData",
    "Episode",
    "EpisodicTaskSampler",
    "load_xlsa17",
    "load_digits_zsl",
    "load_fashion_mnist",
    "make_semisynthetic",
    "load_dataset",
    "register_components",
]


def register_components(registries: Registries) -> None:
    """Register the built-in data sets and the ``episodic`` task sampler.

    Data sets: ``digits``, ``fashion-mnist``, ``xlsa17`` (options ``name`` and ``root``
    required). Called by :mod:`modgen.builtin`.
    """
    registries.dataset.register("digits", digits_loader)
    registries.dataset.register("fashion-mnist", fashion_mnist_loader)
    registries.dataset.register("xlsa17", xlsa17_loader)
    registries.task_sampler.register("episodic", EpisodicTaskSampler)


def load_dataset(registries: Registries, config: DataConfig) -> ZSLData:
    """Load the data set ``config`` describes with its registered loader.

    The loader is called as ``loader(root, name=..., semantics=..., validation=...,
    **config.options)``; ``root`` is ``None`` when ``config.root`` is empty, ``name`` is passed
    only when set, and ``semantics``/``validation`` are left out at their defaults for loaders
    that do not take them.

    Args:
        registries: the registries holding the ``dataset`` loaders.
        config: which data set and options (:class:`~modgen.config.DataConfig`).

    Returns:
        The loaded :class:`ZSLData`.

    Raises:
        UnknownComponentError: no loader of that name.
        ConfigError: an option the loader does not take, or one given twice.
        DataError: the loader did not return a ``ZSLData`` (or failed to read the data).

    Example:
        >>> from modgen.config import DataConfig
        >>> from modgen.plugins import Registries
        >>> regs = Registries()
        >>> register_components(regs)
        >>> load_dataset(regs, DataConfig(dataset="digits", options={"pca": 8})).feature_dim
        8
    """
    loader = registries.dataset.get(config.dataset)
    fixed: dict[str, Any] = {"semantics": config.semantics, "validation": config.validation}
    if config.name:
        fixed["name"] = config.name
    twice = sorted(set(fixed) & set(config.options))
    if twice:
        raise ConfigError(
            f"data.options.{twice[0]}: set data.{twice[0]} instead; it is a field of the data config"
        )
    kwargs = {**config.options, **fixed}
    try:
        params = inspect.signature(loader).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        params = None
    if params is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        defaults = {"semantics": "att", "validation": False}
        for key, default in defaults.items():
            if key not in params and kwargs.get(key) == default:
                del kwargs[key]
        unknown = sorted(k for k in kwargs if k not in params or k == "root")
        if unknown:
            accepted = [
                k for k in params if k != "root" and params[k].kind is not inspect.Parameter.VAR_POSITIONAL
            ]
            where = f"data.{unknown[0]}" if unknown[0] in fixed else f"data.options.{unknown[0]}"
            raise ConfigError(
                f"{where}: the {config.dataset!r} loader does not take option {unknown[0]!r}; "
                f"it takes: {', '.join(accepted)}"
            )
    data = loader(config.root or None, **kwargs)
    if not isinstance(data, ZSLData):
        raise DataError(
            f"dataset loader {config.dataset!r} returned {type(data).__name__}; loaders must return a ZSLData"
        )
    return data
