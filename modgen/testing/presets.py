"""A preset that shrinks any recipe to a smoke-test size.

Used by modgen's own tests and benchmarks (``--quick``) and offered to plugin authors who want
to run a whole recipe in a second: registered as the preset ``tiny`` (``modgen train --preset
tiny``), or applied on top of another preset with :func:`tiny`. Not a measurement setting.

Example:
    >>> from modgen.pipeline import resolve_spec
    >>> from modgen.plugins import get_registries
    >>> regs = get_registries(entry_points=False)
    >>> spec = tiny(resolve_spec(regs, "zsml", dataset="digits"), regs)
    >>> spec.generator.params["hidden"], spec.modulator.params
    (16, {})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modgen.config import RecipeSpec
    from modgen.registry import Registries

__all__ = ["tiny", "TINY_SIZES"]

#: Widths 16/8 for every network and 2-way 2-shot tasks, 2 per episode.
TINY_SIZES: dict[str, dict[str, object]] = {
    "generator": {"hidden": 16},
    "modulator": {"hidden": 16},
    "critic": {"hidden": [16, 8]},
    "aux_classifier": {"hidden": [16, 8]},
    "attribute_decoder": {"hidden": [16, 8]},
    "task_sampler": {"n_way": 2, "k_support": 2, "k_query": 2, "tasks": 2},
}


def tiny(spec: RecipeSpec, registries: Registries) -> RecipeSpec:
    """Smoke-test sizes: every network 16/8 wide, 2-way 2-shot tasks, 2 per episode.

    Each size goes to a component only if it accepts it (see :func:`modgen.recipes.tune`).
    """
    from modgen.recipes import tune

    return tune(spec, registries, **TINY_SIZES)
