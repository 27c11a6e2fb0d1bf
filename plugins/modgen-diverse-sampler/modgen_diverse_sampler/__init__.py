"""modgen-diverse-sampler: an attribute-diverse task sampler plugin (an example third-party plugin).

The plugin module :mod:`modgen_diverse_sampler.plugin` is found through the ``modgen`` entry point
``diverse``; it registers the task sampler ``diverse.attribute-diverse``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["METRICS", "AttributeDiverseTaskSampler", "farthest_point_classes"]


def __getattr__(name: str) -> Any:
    """Load the sampler on first use (importing the package does not import torch)."""
    if name not in __all__:
        raise AttributeError(f"module 'modgen_diverse_sampler' has no attribute {name!r}")
    return getattr(import_module("modgen_diverse_sampler.sampler"), name)
