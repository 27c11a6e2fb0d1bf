"""Training: the meta-trainer (Algorithm 1), the plain trainer, run folders and checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modgen.registry import PluginRegistries

__all__ = ["register_components"]


def register_components(registries: PluginRegistries) -> None:
    """Register the ``meta`` and ``plain`` trainers (called by :mod:`modgen.builtin`)."""
    from modgen.train.meta import MetaTrainer
    from modgen.train.plain import PlainTrainer

    registries.trainer.register("meta", MetaTrainer)
    registries.trainer.register("plain", PlainTrainer)
