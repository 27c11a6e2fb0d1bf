"""The non-meta baseline: a conditional WGAN-GP with an auxiliary classifier (f-CLSWGAN style).

Each :meth:`PlainTrainer.step` makes ``critic_iters`` critic updates on random mini-batches
of real training features, then one update of G and C (Eq. 7: adversarial + attribute +
classification loss) and one of AP/AM/AD (Eq. 5), with the same losses as the meta-trainer, so
that comparing the recipes isolates meta-learning and modulation. When the recipe has a
modulator, each mini-batch is one task: the modulation comes from the attribute set of the
classes in the batch.

Under torchrun every rank draws the same full mini-batch (and noise) and trains on its
contiguous share of ``batch_size / K`` samples, with gradients averaged across ranks
(:mod:`modgen.distributed`); BatchNorm statistics and the batch's modulation are then per rank.
"""

from __future__ import annotations

import torch
from torch import Tensor

from modgen.functional.losses import attribute_loss, critic_loss, generator_loss
from modgen.train.base import BaseTrainer, RandomStreams, loss_parts, real_attribute_loss, real_class_loss
from modgen.train.settings import PlainSettings

__all__ = ["PlainTrainer"]


class PlainTrainer(BaseTrainer):
    """Conditional WGAN-GP training without meta-learning (the ``clswgan`` recipe)."""

    settings_class = PlainSettings

    def _setup(self) -> None:
        d = self.data
        self.x = torch.as_tensor(d.features[d.trainval], device=self.device)
        labels = torch.as_tensor(d.labels[d.trainval], dtype=torch.long)
        seen = torch.as_tensor(d.seen_classes, dtype=torch.long)
        to_local = torch.full((int(d.num_classes),), -1, dtype=torch.long)
        to_local[seen] = torch.arange(len(seen))
        self.y = to_local[labels].to(self.device)
        self.class_attrs = torch.as_tensor(d.semantics[d.seen_classes], device=self.device)
        self._share = self.dist.task_slice(self.settings.batch_size, "trainer.batch_size")

    def _batch(self, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        i = torch.randint(0, self.x.shape[0], (self.settings.batch_size,), generator=gen, device=self.device)
        i = i[self._share]
        y = self.y[i]
        return self.x[i], self.class_attrs[y], y

    def _noise(self, gen: torch.Generator, cols: int, scale: float = 1.0, uniform: bool = False) -> Tensor:
        # drawn for the full batch on every rank, so ranks stay in step and get distinct samples
        shape = (self.settings.batch_size, cols)
        draw = torch.rand if uniform else torch.randn
        return draw(shape, generator=gen, device=self.device)[self._share] * scale

    def _fake(self, z: Tensor, a: Tensor) -> Tensor:
        asm = self.assembly
        mod = asm.modulator(a.unsqueeze(0))  # the batch's attribute set as one task
        if mod is None:
            return asm.generator(z, a)
        # one task: modulation (1, d_j) broadcast over the batch as (1, n, d_j)
        return asm.generator(z.unsqueeze(0), a.unsqueeze(0), mod).squeeze(0)

    def calibration_pass(self, streams: RandomStreams) -> None:
        """The generator on one full mini-batch, as in training."""
        i = torch.randint(
            0, self.x.shape[0], (self.settings.batch_size,), generator=streams.tasks, device=self.device
        )
        a = self.class_attrs[self.y[i]]
        z = torch.randn(len(i), self.assembly.noise_dim, generator=streams.noise, device=self.device)
        self._fake(z * self.settings.sigma_train, a)

    def compute_grads(self, streams: RandomStreams) -> dict[str, Tensor]:
        cfg = self.settings
        asm = self.assembly
        z_dim = asm.noise_dim
        critic_keys = [self.params[k] for k in self.groups["d"]]
        for _ in range(cfg.critic_iters):
            x, a, _ = self._batch(streams.tasks)
            z = self._noise(streams.noise, z_dim, cfg.sigma_train)
            with torch.no_grad():
                x_fake = self._fake(z, a)
            eps = self._noise(streams.noise, 1, uniform=True) if cfg.gp_lambda > 0 else None
            l_d, parts_d = critic_loss(asm.critic, x, x_fake, a, cfg.gp_lambda, epsilon=eps)
            grads = torch.autograd.grad(l_d, critic_keys)
            for p, g in zip(critic_keys, grads, strict=True):
                p.grad = g
            self.dist.average_grads(critic_keys)
            self.optimizers["d"].step()
            for p in critic_keys:
                p.grad = None
        x, a, y = self._batch(streams.tasks)
        z = self._noise(streams.noise, z_dim, cfg.sigma_train)
        x_fake = self._fake(z, a)
        a_rec = asm.attribute_decoder(x_fake)
        l_ad = attribute_loss(a, a_rec)
        l_gc, parts_g = generator_loss(
            asm.critic(x_fake, a), a, a_rec, asm.aux_classifier(x_fake), y, cfg.attr_weight, cfg.cls_weight
        )
        real_ad = real_attribute_loss(cfg, asm.attribute_decoder, x, a)
        real_cls = real_class_loss(cfg, asm.aux_classifier, x, y)
        l_ad, l_gc = l_ad + real_ad, l_gc + real_cls
        losses = {"am": l_ad, "gc": l_gc}
        if cfg.modulator_loss == "gc":
            losses["modulator"] = l_gc
        self._backward_groups(losses)
        # the critic was already stepped above; keep its optimiser out of the shared step
        for p in critic_keys:
            p.grad = None
        return loss_parts(l_d, parts_d, l_ad, l_gc, parts_g, real_ad, real_cls)
