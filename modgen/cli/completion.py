"""Shell completion that knows modgen: registered recipes, data sets, presets, loggers and
``--set`` keys with their component's parameters (``modgen --install-completion`` installs it)."""

from __future__ import annotations

from typing import Any

__all__ = ["complete_recipe", "complete_dataset", "complete_preset", "complete_logger", "complete_set"]

#: the xlsa17 data sets ``--dataset`` takes with ``--data``
_XLSA17 = ("AWA1", "AWA2", "CUB", "SUN", "APY")


def _registries() -> Any:
    import warnings

    from modgen.plugins import get_registries

    with warnings.catch_warnings():  # a broken plugin must not print into the shell's completion
        warnings.simplefilter("ignore")
        return get_registries()


def _starting(names: list[str], incomplete: str) -> list[str]:
    return [n for n in names if n.startswith(incomplete)]


def complete_recipe(incomplete: str) -> list[str]:
    """Registered recipes starting with ``incomplete``."""
    return _starting(_registries().recipe.names(), incomplete)


def complete_dataset(incomplete: str) -> list[str]:
    """Registered data sets and the xlsa17 names starting with ``incomplete``."""
    return _starting([*_registries().dataset.names(), *_XLSA17], incomplete)


def complete_preset(incomplete: str) -> list[str]:
    """Registered presets starting with ``incomplete``."""
    return _starting(_registries().preset.names(), incomplete)


def complete_logger(incomplete: str) -> list[str]:
    """Registered run loggers starting with ``incomplete``."""
    return _starting(_registries().logger.names(), incomplete)


def complete_set(incomplete: str) -> list[str]:
    """``--set`` keys: ``SECTION.`` first, then the section's fields or, for a component slot,
    ``SLOT.name=`` and ``SLOT.PARAM=`` for each parameter of the recipe's default component."""
    import attrs

    from modgen.config import COMPONENT_SLOTS, DataConfig, EvalConfig, RunConfig
    from modgen.recipes import FILLED_IN, accepted_params, amaz

    section, dot, _ = incomplete.partition(".")
    sections = ["data", "evaluation", "run", *COMPONENT_SLOTS]
    if not dot:
        return _starting([f"{s}." for s in sections], incomplete)
    keys: list[str] = []
    if section in COMPONENT_SLOTS:
        regs = _registries()
        name = getattr(amaz(), section).name
        accepted = accepted_params(regs, section, name) or set()
        keys = ["name", *sorted(accepted - FILLED_IN.get(section, frozenset()))]
    else:
        config = {"data": DataConfig, "evaluation": EvalConfig, "run": RunConfig}.get(section)
        keys = [f.name for f in attrs.fields(config)] if config is not None else []
    return _starting([f"{section}.{k}=" for k in keys], incomplete)
