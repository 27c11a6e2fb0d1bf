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

if TYPE_CHECKING:
    from modgen.plugins import PluginRegistries

# The sampler (and torch) is imported inside the hook: modgen loads every plugin module to build
# its command line, and `modgen --help` should not pay for importing torch.


@hookimpl
def modgen_register_components(registries: PluginRegistries) -> None:
    """Register the task sampler ``diverse.attribute-diverse``."""
    from modgen_diverse_sampler.sampler import AttributeDiverseTaskSampler

    registries.task_sampler.register("diverse.attribute-diverse", AttributeDiverseTaskSampler)
