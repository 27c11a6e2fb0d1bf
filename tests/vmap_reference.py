"""The materialised per-task adaptation, kept as the reference for the factored one.

Before :mod:`modgen.functional.lowrank`, ``trainer.adaptation=task`` ran every task's fast
adaptation under :func:`torch.func.vmap` with :func:`torch.func.grad`: every task got its own
adapted copy of every parameter. :class:`VmapTaskTrainer` is that trainer, written as a
subclass of :class:`~modgen.train.meta.MetaTrainer` whose fast adaptation is not the trainer's
own but Algorithm 1 written out independently (:class:`meta_reference.Algorithm1`, inner
gradients by ``torch.func.grad``), run under ``vmap`` over the tasks: a bug in
``MetaTrainer._adapt`` cannot hide in both sides of the comparison. The tests compare the
factored path with it; ``benchmarks/probes/per_task_speed.py`` times it.
"""

from __future__ import annotations

import torch
from meta_reference import Algorithm1, func_partial
from torch import Tensor

from modgen.train.meta import MetaTrainer

Params = dict[str, Tensor]


class VmapTaskTrainer(MetaTrainer):
    """``trainer.adaptation=task`` as it was: ``vmap`` over tasks, every parameter copied per task."""

    def _adapt(self, p: Params, sup: dict[str, Tensor]) -> Params:
        return Algorithm1(self.assembly, self.settings, partial=func_partial).adapt(p, sup)

    def _meta_losses(
        self, p: Params, sup: dict[str, Tensor], qry: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        if self.settings.adaptation != "task":
            return super()._meta_losses(p, sup, qry)

        def one_task(
            s: dict[str, Tensor], q: dict[str, Tensor]
        ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
            return self._query_losses(self._adapt(p, s), q)

        l_d, l_ad, l_gc, parts = torch.func.vmap(one_task, randomness="different")(sup, qry)
        return l_d.mean(), l_ad.mean(), l_gc.mean(), {k: v.mean() for k, v in parts.items()}
