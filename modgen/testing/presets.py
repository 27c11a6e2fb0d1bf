"""Overrides that shrink any built-in recipe to a smoke-test size.

Used by modgen's own tests and benchmarks (``--quick``) and offered to plugin authors who want
to run a whole recipe in a second. Not a measurement setting.

Example:
    >>> from modgen.config import apply_overrides
    >>> from modgen.recipes import amaz
    >>> apply_overrides(amaz(), TINY_NETWORKS).generator.params["hidden"]
    16
"""

from __future__ import annotations

__all__ = ["TINY_NETWORKS"]

#: Widths 16/8 for every network and 2-way 2-shot tasks, 2 per episode.
TINY_NETWORKS: list[str] = [
    "generator.hidden=16",
    "modulator.hidden=16",
    "critic.hidden=[16, 8]",
    "aux_classifier.hidden=[16, 8]",
    "attribute_decoder.hidden=[16, 8]",
    "task_sampler.n_way=2",
    "task_sampler.k_support=2",
    "task_sampler.k_query=2",
    "task_sampler.tasks=2",
]
