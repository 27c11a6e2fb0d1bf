"""modgen-diverse-sampler: an attribute-diverse task sampler plugin (an example third-party plugin).

The plugin module :mod:`modgen_diverse_sampler.plugin` is found through the ``modgen`` entry point
``diverse``; it registers the task sampler ``diverse.attribute-diverse``.
"""

from __future__ import annotations

from modgen_diverse_sampler.sampler import METRICS, AttributeDiverseTaskSampler, farthest_point_classes

__all__ = ["METRICS", "AttributeDiverseTaskSampler", "farthest_point_classes"]
