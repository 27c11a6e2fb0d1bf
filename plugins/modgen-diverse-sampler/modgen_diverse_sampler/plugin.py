"""The plugin module of modgen-diverse-sampler: the hook modgen calls (entry point ``diverse``).

Example:
    >>> from modgen.plugins import get_registries
    >>> import modgen_diverse_sampler.plugin
    >>> regs = get_registries(extra=[("diverse", modgen_diverse_sampler.plugin)], entry_points=False)
    >>> regs.task_sampler.entry("diverse.attribute-diverse").origin
    'diverse'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modgen import hookimpl
from modgen_diverse_sampler.sampler import AttributeDiverseTaskSampler

if TYPE_CHECKING:
    from modgen.plugins import PluginRegistries


@hookimpl
def modgen_register_components(registries: PluginRegistries) -> None:
    """Register the task sampler ``diverse.attribute-diverse``."""
    registries.task_sampler.register("diverse.attribute-diverse", AttributeDiverseTaskSampler)
