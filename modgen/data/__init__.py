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
    >>> from modgen.registry import Registries
    >>> regs = Registries()
    >>> register_components(regs.scoped("builtin"))
    >>> load_dataset(regs, DataConfig(dataset="digits")).name
    'digits'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from modgen.data.digits import digits_loader, load_digits_zsl
from modgen.data.fashion import fashion_mnist_loader, load_fashion_mnist
from modgen.data.sampler import EpisodicTaskSampler
from modgen.data.semisynthetic import make_semisynthetic
from modgen.data.xlsa17 import load_xlsa17, xlsa17_loader
from modgen.data.zsldata import Episode, ZSLData
from modgen.errors import ConfigError, DataError

if TYPE_CHECKING:
    from modgen.config import DataConfig
    from modgen.registry import PluginRegistries, Registries

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


def register_components(registries: PluginRegistries) -> None:
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

    The loader is built through :meth:`Registry.build <modgen.registry.Registry.build>` as
    ``loader(root=..., name=..., semantics=..., validation=..., **config.options)``: ``root`` is
    ``None`` when ``config.root`` is empty; ``name`` is passed when set and the loader takes it
    (otherwise the loaded data is relabelled with it); ``semantics`` and ``validation`` are left
    out for loaders that do not take them while they are at their defaults.

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
        >>> from modgen.registry import Registries
        >>> regs = Registries()
        >>> register_components(regs.scoped("builtin"))
        >>> load_dataset(regs, DataConfig(dataset="digits", options={"pca": 8})).feature_dim
        8
    """
    registry = registries.dataset
    accepted = registry.accepts(config.dataset)  # None: the loader takes **options

    def takes(key: str) -> bool:
        return accepted is None or key in accepted

    twice = sorted({"semantics", "validation", "name"} & set(config.options))
    if twice:
        raise ConfigError(
            f"data.options.{twice[0]}: set data.{twice[0]} instead; it is a field of the data config"
        )
    fixed: dict[str, Any] = {"root": config.root or None}
    for key, value, default in (
        ("semantics", config.semantics, "att"),
        ("validation", config.validation, False),
    ):
        if takes(key):
            fixed[key] = value
        elif value != default:
            raise ConfigError(
                f"data.{key}: the {config.dataset!r} loader does not take option {key!r}; leave it at {default!r}"
            )
    if config.name and takes("name"):
        fixed["name"] = config.name
    if accepted is not None:
        for key in config.options:
            if key not in accepted or key in fixed:
                options = ", ".join(sorted(accepted - {"root", "name", "semantics", "validation"}))
                raise ConfigError(
                    f"data.options.{key}: the {config.dataset!r} loader does not take option {key!r}; "
                    f"it takes: {options or '(none)'}"
                )
    data = registry.build(config.dataset, config.options, fixed=fixed)
    if not isinstance(data, ZSLData):
        raise DataError(
            f"dataset loader {config.dataset!r} returned {type(data).__name__}; loaders must return a ZSLData"
        )
    if config.name and not takes("name"):  # a loader without a name parameter: --name relabels it
        data = attrs.evolve(data, name=config.name)
    return data
