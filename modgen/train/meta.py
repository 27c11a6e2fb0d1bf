"""Meta-training (Algorithm 1 of the paper) with functional parameters.

One :meth:`MetaTrainer.step` is one episode:

1. sample a batch of T tasks, each a support set and a query set of disjoint training classes
   (line 3-4);
2. on the support sets, fast adaptation (lines 6-15): the task embedding and modulation from the
   support attribute set; ``theta_d' = theta_d - alpha1 * grad L_D`` (our critic loss is the
   negated L_D of Eq. 6 plus the gradient penalty, so this descent is the paper's ascent);
   ``theta_am' = theta_am - alpha2 * grad L_AD`` (Eq. 5); then, with D and AP/AM/AD adapted,
   ``theta_gc' = theta_gc - alpha3 * grad L_GC`` (Eq. 7);
3. on the query sets, at the adapted parameters, the meta-gradients of L_D (for theta_d), L_AD
   (for theta_am) and L_GC (for theta_gc) (lines 17-19), applied with Adam (beta1..3).

Parameters are a dict of tensors and every network is called through
:func:`torch.func.functional_call`; no module is patched in place. First-order meta-gradients
treat the inner gradients as constants; second-order ones differentiate through them.

"Parameters are updated per batch-of-tasks instead of per task" (Section II-D, after ZSML [7]):
with ``adaptation="batch"`` (the default) one fast adaptation is made from the mean support
loss of all T tasks (each task still has its own modulation and its own BatchNorm statistics),
and the meta-gradient is that of the mean query loss at those adapted parameters; with
``adaptation="task"`` each task is adapted on its own, as MAML. Both run the same code on the
stacked ``(T, n, .)`` tensors; per-task adaptation only changes the parameters it starts from:
:func:`~modgen.functional.lowrank.per_task` parameters, whose inner steps are each task's own
(the linear layers' updates kept as low-rank factors of the support rows, never a copy of a
weight per task; see :mod:`modgen.functional.lowrank`). The paper's sums over query tasks are
means here (Adam is invariant to that scale).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor
from torch.func import functional_call

from modgen.errors import ConfigError
from modgen.functional.losses import attribute_loss, critic_loss, generator_loss
from modgen.functional.lowrank import TaskGrad, per_task
from modgen.functional.maml import inner_grads, is_per_task, sgd_update
from modgen.train.base import BaseTrainer, RandomStreams, loss_parts, real_attribute_loss, real_class_loss
from modgen.train.settings import MetaSettings

if TYPE_CHECKING:
    from modgen.data.zsldata import Episode

__all__ = ["MetaTrainer"]

Params = dict[str, Tensor]


class MetaTrainer(BaseTrainer):
    """Algorithm 1: episodic meta-training of the (modulated) conditional WGAN.

    With ``trainer.compile`` the generator (with its modulator), C and AD run through
    :func:`torch.compile` (first-order meta-gradients and batch adaptation only; see
    :meth:`_compile_networks`).

    Args:
        assembly: the networks (:class:`~modgen.assembly.Assembly`) on the training device.
        data: the training data (:class:`~modgen.data.zsldata.ZSLData`).
        spec: the resolved :class:`~modgen.config.RecipeSpec` (trainer and task sampler).
        dist: the distributed context (default: one process).
        registries: where the task sampler is looked up.
        device: the training device.

    Example (one episode of tiny AMAZ networks on the embedded digits):
        >>> import modgen, torch
        >>> from modgen.assembly import build_assembly
        >>> from modgen.data.digits import load_digits_zsl
        >>> from modgen.testing.presets import tiny
        >>> from modgen.train.base import RandomStreams
        >>> regs = modgen.get_registries(entry_points=False)
        >>> data = load_digits_zsl()
        >>> spec = tiny(modgen.resolve_spec(regs, "amaz", dataset="digits"), regs)
        >>> asm = build_assembly(spec, regs, attr_dim=data.attr_dim, feature_dim=data.feature_dim,
        ...                      num_classes=len(data.seen_classes), seed=0)
        >>> trainer = MetaTrainer(assembly=asm, data=data, spec=spec, registries=regs, device="cpu")
        >>> sorted(trainer.groups)  # theta_am, theta_d, theta_gc
        ['am', 'd', 'gc']
        >>> before = {k: v.detach().clone() for k, v in trainer.params.items()}
        >>> parts = trainer.step(RandomStreams.from_seed(0, "cpu"))  # adapt, meta-gradients, Adam
        >>> sorted(parts)[:3], all(not torch.equal(before[k], v) for k, v in trainer.params.items())
        (['loss/ad', 'loss/ad_real', 'loss/adv'], True)
    """

    settings_class = MetaSettings
    supports_compile = True

    def _setup(self) -> None:
        s = self.spec.task_sampler
        sampler_cls = self.registries.task_sampler.get(s.name)
        self.sampler = sampler_cls(self.data, device=self.device, **s.params)
        if isinstance(getattr(self.sampler, "tasks", None), int):
            self.dist.task_slice(self.sampler.tasks, "task_sampler.tasks")  # fail before episode 1
        cfg = self.settings
        self.alphas = {"d": cfg.alpha1, "am": cfg.alpha2, "gc": cfg.alpha3}
        self._compiled: dict[str, Callable[..., Tensor]] = {}
        if cfg.compile:
            self._compile_networks()

    def _compile_networks(self) -> None:
        """``trainer.compile``: run G (with the modulator), C and AD through :func:`torch.compile`.

        Each is compiled as a pure function of its parameter dict (``functional_call`` inside the
        compiled region), so adapted parameters are ordinary inputs and the compiled backward
        serves every first-order gradient. The critic stays eager: the gradient penalty
        differentiates D's input gradient again, and a compiled backward cannot be differentiated.
        For the same reason compilation needs first-order meta-gradients, and it needs batch
        adaptation (per-task parameters are a tensor subclass the compiled functions do not take).

        Raises:
            ConfigError: ``first_order`` is false or ``adaptation`` is not ``batch``.
        """
        cfg = self.settings
        if not cfg.first_order:
            raise ConfigError(
                "trainer.compile=true needs trainer.first_order=true: second-order meta-gradients "
                "differentiate through the inner gradients, and the backward that torch.compile builds "
                "cannot be differentiated again. Set trainer.compile=false or trainer.first_order=true."
            )
        if cfg.adaptation != "batch":
            raise ConfigError(
                f"trainer.compile=true needs trainer.adaptation=batch, got {cfg.adaptation!r}: per-task "
                "adaptation passes per-task parameters (a tensor subclass) that the compiled networks do not "
                "take. Set trainer.compile=false or trainer.adaptation=batch."
            )
        asm = self.assembly

        def fake(p_gen: Params, p_mod: Params, z: Tensor, a: Tensor, attrs: Tensor) -> Tensor:
            return functional_call(
                asm.generator, p_gen, (z, a, functional_call(asm.modulator, p_mod, (attrs,)))
            )

        # One function (code object) per network: compiled code is cached per code object, and
        # a shared one would make the networks' guards evict each other and recompile.
        def aux_classifier(p: Params, x: Tensor) -> Tensor:
            return functional_call(asm.aux_classifier, p, (x,))

        def attribute_decoder(p: Params, x: Tensor) -> Tensor:
            return functional_call(asm.attribute_decoder, p, (x,))

        self._compiled = {
            name: torch.compile(fn, dynamic=False)
            for name, fn in (
                ("fake", fake),
                ("aux_classifier", aux_classifier),
                ("attribute_decoder", attribute_decoder),
            )
        }

    # -- functional network calls ---------------------------------------------------------------
    def _modulation(self, p: Params, attrs: Tensor) -> Any:
        return functional_call(self.assembly.modulator, self._view(p, "modulator"), (attrs,))

    def _G(self, p: Params, z: Tensor, a: Tensor, mod: Any) -> Tensor:
        return functional_call(self.assembly.generator, self._view(p, "generator"), (z, a, mod))

    def _D(self, p: Params) -> Callable[[Tensor, Tensor], Tensor]:
        view = self._view(p, "critic")
        return lambda x, a: functional_call(self.assembly.critic, view, (x, a))

    def _fake(self, p: Params, z: Tensor, a: Tensor, attrs: Tensor) -> Tensor:
        """``G(z, a)`` modulated by the task attribute sets ``attrs`` ``(..., N, A)``."""
        compiled = self._compiled.get("fake")
        if compiled is not None:
            return compiled(self._view(p, "generator"), self._view(p, "modulator"), z, a, attrs)
        return self._G(p, z, a, self._modulation(p, attrs))

    def _C(self, p: Params, x: Tensor) -> Tensor:
        compiled = self._compiled.get("aux_classifier")
        if compiled is not None:
            return compiled(self._view(p, "aux_classifier"), x)
        return functional_call(self.assembly.aux_classifier, self._view(p, "aux_classifier"), (x,))

    def _AD(self, p: Params, x: Tensor) -> Tensor:
        compiled = self._compiled.get("attribute_decoder")
        if compiled is not None:
            return compiled(self._view(p, "attribute_decoder"), x)
        return functional_call(self.assembly.attribute_decoder, self._view(p, "attribute_decoder"), (x,))

    def _real_ad(self, p: Params, x: Tensor, a: Tensor) -> Tensor:
        return real_attribute_loss(self.settings, lambda v: self._AD(p, v), x, a)

    def _real_cls(self, p: Params, x: Tensor, y: Tensor) -> Tensor:
        return real_class_loss(self.settings, lambda v: self._C(p, v), x, y)

    # -- Algorithm 1 ------------------------------------------------------------------------------
    def _adapt(self, p: Params, sup: dict[str, Tensor]) -> Params:
        """Fast adaptation on the support sets (lines 6-15); returns the adapted parameters.

        Shared parameters give one adaptation for the batch of tasks, per-task ones
        (:func:`~modgen.functional.lowrank.per_task`) one per task; the code is the same.
        """
        cfg = self.settings
        x, a, y, attrs, z, eps = sup["x"], sup["a"], sup["y"], sup["attrs"], sup["z"], sup["eps"]
        d_keys, am_keys = self.groups["d"], self.groups["am"]
        d_set = set(d_keys)
        for _ in range(cfg.inner_steps):
            # lines 10-13: D and AP/AM/AD on the support set, G as it is. Both losses use the same
            # support samples x_hat = G(z, a), so G runs once: L_D sees x_hat detached and depends
            # on theta_d alone, L_AD does not involve D, so the gradient of L_D + L_AD with respect
            # to theta_d is that of L_D and with respect to theta_am that of L_AD, in one backward.
            def loss_d_am(q: Params) -> Tensor:
                x_fake = self._fake(q, z, a, attrs)
                l_d = critic_loss(self._D(q), x, x_fake.detach(), a, cfg.gp_lambda, epsilon=eps)[0]
                if cfg.modulator_loss == "gc":  # Eq. 8: AP/AM minimise L_GC, the critic held fixed in it
                    fixed_d = {k: (q[k].detach() if k in d_set else q[k]) for k in q}
                    l_am = generator_loss(
                        self._D(fixed_d)(x_fake, a),
                        a,
                        self._AD(q, x_fake),
                        self._C(q, x_fake),
                        y,
                        cfg.attr_weight,
                        cfg.cls_weight,
                    )[0]
                else:  # Algorithm 1, line 13: L_AD
                    l_am = attribute_loss(a, self._AD(q, x_fake))
                return l_d + l_am + self._real_ad(q, x, a)

            new = dict(p)
            if d_keys or am_keys:
                grads = self._inner_grads(loss_d_am, p, [*d_keys, *am_keys])
                new = self._sgd(new, d_keys, grads[: len(d_keys)], self.alphas["d"])
                new = self._sgd(new, am_keys, grads[len(d_keys) :], self.alphas["am"])

            # lines 14-15: G and C with D and AP/AM/AD adapted.
            def loss_gc(q: Params) -> Tensor:
                x_fake = self._fake(q, z, a, attrs)
                return generator_loss(
                    self._D(q)(x_fake, a),
                    a,
                    self._AD(q, x_fake),
                    self._C(q, x_fake),
                    y,
                    cfg.attr_weight,
                    cfg.cls_weight,
                )[0] + self._real_cls(q, x, y)

            keys = self.groups["gc"]
            grads = self._inner_grads(loss_gc, new, keys)
            p = self._sgd(new, keys, grads, self.alphas["gc"])
        return p

    def _inner_grads(self, loss_fn: Callable[[Params], Tensor], p: Params, keys: list[str]) -> list[TaskGrad]:
        grads = inner_grads(loss_fn, p, keys, first_order=self.settings.first_order)
        if is_per_task(p, keys):  # each task adapts on its own support set: nothing is shared
            return grads
        # One adaptation for the batch of tasks: its gradient is of the mean support loss over
        # every rank's tasks (modgen.distributed).
        shared = cast(list[Tensor], grads)
        return list(self.dist.all_reduce_inner(shared, differentiable=not self.settings.first_order))

    @staticmethod
    def _sgd(params: Params, keys: list[str], grads: list[TaskGrad], lr: float) -> Params:
        return sgd_update(params, keys, grads, lr, foreach=True)

    def _per_task(self, p: Params, tasks: int) -> Params:
        """``p`` as per-task parameters: linear-layer weights factored, the rest dense.

        A factored weight's update is built from the output gradients of the layer, which cover
        its uses in forward passes. The critic's gradient penalty differentiates the critic's
        input gradient, a backward pass that uses its weights too, so with ``gp_lambda > 0`` the
        critic is dense (4.3M of AMAZ's 64M parameters at AWA2 shapes).
        """
        dense_kinds = {"critic"} if self.settings.gp_lambda > 0 else set()
        factored = [k for k, v in p.items() if v.dim() == 2 and k.split(".", 1)[0] not in dense_kinds]
        return per_task(p, tasks=tasks, factored=factored)

    def _meta_losses(
        self, p: Params, sup: dict[str, Tensor], qry: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """L_D, L_AD, L_GC (means over the tasks) and the loss parts at the adapted parameters."""
        if self.settings.adaptation == "task":
            p = self._per_task(p, tasks=int(sup["x"].shape[0]))
        return self._query_losses(self._adapt(p, sup), qry)

    def _query_losses(
        self, p: Params, qry: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """L_D, L_AD and L_GC on a query set at the adapted parameters (lines 17-19)."""
        cfg = self.settings
        x, a, y, attrs, z, eps = qry["x"], qry["a"], qry["y"], qry["attrs"], qry["z"], qry["eps"]
        x_fake = self._fake(p, z, a, attrs)
        l_d, parts_d = critic_loss(self._D(p), x, x_fake.detach(), a, cfg.gp_lambda, epsilon=eps)
        a_rec = self._AD(p, x_fake)
        real_ad, real_cls = self._real_ad(p, x, a), self._real_cls(p, x, y)
        l_ad = attribute_loss(a, a_rec) + real_ad
        l_gc, parts_g = generator_loss(
            self._D(p)(x_fake, a), a, a_rec, self._C(p, x_fake), y, cfg.attr_weight, cfg.cls_weight
        )
        l_gc = l_gc + real_cls
        parts = loss_parts(l_d, parts_d, l_ad, l_gc, parts_g, real_ad, real_cls)
        return l_d, l_ad, l_gc, parts

    def _episode_tensors(
        self, ep: Episode, noise: torch.Generator
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        cfg = self.settings
        z_dim = self.assembly.noise_dim

        def part(x: Tensor, a: Tensor, y: Tensor, attrs: Tensor) -> dict[str, Tensor]:
            t, n = x.shape[:2]
            z = torch.randn(t, n, z_dim, generator=noise, device=x.device, dtype=x.dtype) * cfg.sigma_train
            eps = torch.rand(t, n, 1, generator=noise, device=x.device, dtype=x.dtype)
            return {"x": x, "a": a, "y": y, "attrs": attrs, "z": z, "eps": eps}

        sup = part(ep.support_x, ep.support_a, ep.support_y, ep.support_attrs)
        q_attrs = ep.query_attrs if cfg.query_modulation == "query" else ep.support_attrs
        qry = part(ep.query_x, ep.query_a, ep.query_y, q_attrs)
        return sup, qry

    def calibration_pass(self, streams: RandomStreams) -> None:
        """The generator on a whole episode's support and query tasks, as in training."""
        ep = self.sampler.sample(streams.tasks)
        asm = self.assembly
        for part in self._episode_tensors(ep, streams.noise):
            asm.generator(part["z"], part["a"], asm.modulator(part["attrs"]))

    def compute_grads(self, streams: RandomStreams) -> dict[str, Tensor]:
        """One episode's meta-gradients, written into each parameter's ``.grad``.

        Returns:
            The query loss parts (device tensors; no host synchronisation).
        """
        ep = self.sampler.sample(streams.tasks)
        sup, qry = self._episode_tensors(ep, streams.noise)
        # every rank drew the same full episode; each keeps its contiguous share of the tasks
        sup, qry = self.dist.shard_tasks(sup), self.dist.shard_tasks(qry)
        p: Params = dict(self.params)
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if self.settings.bf16
            else contextlib.nullcontext()
        )
        with autocast:
            l_d, l_ad, l_gc, parts = self._meta_losses(p, sup, qry)
        losses = {"d": l_d, "am": l_ad, "gc": l_gc}
        if self.settings.modulator_loss == "gc":  # Eq. 8 (line 18 with L_GC for AP/AM)
            losses["modulator"] = l_gc
        self._backward_groups(losses)
        return parts
