"""modgen: an extensible plug-in library for modulated generators in zero-shot learning.

It implements AMAZ (Li, Liu, Yao, Chang, "Attribute-Modulated Generative Meta Learning for
Zero-Shot Learning", arXiv 2104.10857) as the recipe ``amaz``, one assembly among swappable
components. Nothing happens at import time beyond definitions, and nothing heavy is imported
until it is used: the names below and the component packages (``modgen.nn``,
``modgen.classify``, ``modgen.evaluate``, ...) are loaded on first access (PEP 562), so
``import modgen`` and ``modgen --version`` do not import torch.

The embedding API: :func:`resolve_spec` and :func:`run` (spec in, results out),
:func:`load_run` (a run folder's spec, data and networks) and :func:`synthesize` (a run and
class semantics -> features).

Example:
    >>> import modgen
    >>> spec = modgen.resolve_spec(modgen.get_registries(entry_points=False), "amaz", dataset="digits")
    >>> spec.data.dataset, spec.trainer.name
    ('digits', 'meta')
    >>> modgen.nn.AttributeModulator.__name__
    'AttributeModulator'
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from modgen._version import __version__

if TYPE_CHECKING:
    from modgen import classify, data, evaluate, functional, nn, pipeline, report, train
    from modgen.config import ComponentSpec, DataConfig, EvalConfig, RecipeSpec, RunConfig
    from modgen.errors import ModgenError
    from modgen.hookspecs import hookimpl
    from modgen.pipeline import RunResult, load_run, resolve_spec, run
    from modgen.pipeline import synthesize_features as synthesize
    from modgen.plugins import get_registries
    from modgen.registry import Registries, Registry

#: Public name -> the module that defines it (``module:name`` where the name differs there).
_EXPORTS: dict[str, str] = {
    "ComponentSpec": "modgen.config",
    "DataConfig": "modgen.config",
    "EvalConfig": "modgen.config",
    "RecipeSpec": "modgen.config",
    "RunConfig": "modgen.config",
    "ModgenError": "modgen.errors",
    "hookimpl": "modgen.hookspecs",
    "RunResult": "modgen.pipeline",
    "resolve_spec": "modgen.pipeline",
    "run": "modgen.pipeline",
    "load_run": "modgen.pipeline",
    "synthesize": "modgen.pipeline:synthesize_features",
    "Registries": "modgen.registry",
    "get_registries": "modgen.plugins",
    "Registry": "modgen.registry",
}

#: The component packages, imported on first access (``modgen.nn.AttributeModulator``).
_PACKAGES = ("classify", "data", "evaluate", "functional", "nn", "pipeline", "report", "train")

__all__ = [
    "__version__",
    "ComponentSpec",
    "DataConfig",
    "EvalConfig",
    "ModgenError",
    "RecipeSpec",
    "Registries",
    "Registry",
    "RunConfig",
    "RunResult",
    "get_registries",
    "hookimpl",
    "load_run",
    "resolve_spec",
    "run",
    "synthesize",
    # the component packages
    "classify",
    "data",
    "evaluate",
    "functional",
    "nn",
    "pipeline",
    "report",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _PACKAGES:
        return import_module(f"modgen.{name}")  # importing a submodule sets it on this module
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'modgen' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_PACKAGES))
