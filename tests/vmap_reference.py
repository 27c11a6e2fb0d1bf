"""The materialised per-task adaptation, kept as the reference for the factored one.

Before :mod:`modgen.functional.lowrank`, ``trainer.adaptation=task`` ran every task's fast
adaptation under :func:`torch.func.vmap` with :func:`torch.func.grad`: every task got its own
adapted copy of every parameter. :class:`VmapTaskTrainer` is that trainer, written as a
subclass of :class:`~modgen.train.meta.MetaTrainer` that swaps the three pieces it changed: the
inner gradients (``torch.func.grad`` of the task's loss), the update (no multi-tensor kernel,
which has no vmap batching rule) and the episode (``vmap`` over the tasks). The tests compare the
factored path with it; ``benchmarks/probes/per_task_speed.py`` times it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from modgen.functional.maml import sgd_update
from modgen.train.meta import MetaTrainer

Params = dict[str, Tensor]


class VmapTaskTrainer(MetaTrainer):
    """``trainer.adaptation=task`` as it was: ``vmap`` over tasks, every parameter copied per task."""

    def _inner_grads(self, loss_fn: Callable[[Params], Tensor], p: Params, keys: list[str]) -> list[Tensor]:
        def sub_loss(sub: Params) -> Tensor:
            return loss_fn({**p, **sub})

        g = torch.func.grad(sub_loss)({k: p[k] for k in keys})
        return [g[k].detach() if self.settings.first_order else g[k] for k in keys]

    @staticmethod
    def _sgd(params: Params, keys: list[str], grads: list[Tensor], lr: float) -> Params:  # type: ignore[override]
        return sgd_update(params, keys, grads, lr, foreach=False)

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
