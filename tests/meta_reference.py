"""Algorithm 1 of the paper written out on its own, the reference for :mod:`modgen.train.meta`.

Nothing here calls the meta trainer: the networks are called with
:func:`torch.func.functional_call` on parameter dicts, the inner gradients are taken with
:func:`torch.autograd.grad` (or :func:`torch.func.grad` under ``vmap``), and each line of the
algorithm is a line here, in the paper's order:

* lines 6-9: the task embedding and the modulation come from the support attribute set (they
  are part of G's forward pass here: ``G(z, a, AM(attrs))``);
* line 10: ``grad_theta_d L_D`` on the support set, the generated samples constants for D;
* line 11: ``grad_theta_am L_AD`` (Eq. 5), plus the real-feature anchor when configured; with
  ``modulator_loss = "gc"`` (Eq. 8) AP/AM/AD descend L_GC instead, the critic held fixed in it.
  Both lines use the same generated support samples (one forward pass of G, so that dropout
  draws what the trainer draws);
* lines 12-13: ``theta_d' = theta_d - alpha1 g_d`` (the critic loss is the negated L_D, so this
  descent is the paper's ascent) and ``theta_am' = theta_am - alpha2 g_am``, both from the
  gradients at the *un-adapted* parameters;
* lines 14-15: ``grad_theta_gc L_GC`` with D and AP/AM/AD *adapted* (``theta_d'``,
  ``theta_am'``), a partial derivative in ``theta_gc``; ``theta_gc' = theta_gc - alpha3 g_gc``;
* lines 17-19: L_D, L_AD and L_GC on the query set at the adapted parameters, each group
  differentiated through the adaptation (first order: the inner gradients are constants).

The losses themselves are those of :mod:`modgen.functional.losses` (Eqs. 5-7; they have their own
tests against the formulas). Episodes and noise are drawn from the same
:class:`~modgen.train.base.RandomStreams` in the same order as the trainer draws them, so both see
the same episode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.func import functional_call

from modgen.functional.losses import attribute_loss, critic_loss, generator_loss

Params = dict[str, Tensor]
#: ``(loss_fn, params, keys, create_graph) -> {key: d loss_fn(params) / d params[key]}``
Partial = Callable[[Callable[[Params], Tensor], Params, list[str], bool], Params]


def autograd_partial(
    loss_fn: Callable[[Params], Tensor], p: Params, keys: list[str], create_graph: bool
) -> Params:
    """The partial derivative of ``loss_fn`` in ``p[k]`` (``k`` in ``keys``) with torch.autograd.

    Other entries of ``p`` are held fixed even where they were computed from ``p[k]`` (an adapted
    critic whose inner gradient depended on G): the loss is differentiated with respect to new
    nodes ``p[k] * 1`` that only the loss uses.
    """
    alias = {k: p[k] * 1 for k in keys}
    loss = loss_fn({**p, **alias})
    grads = torch.autograd.grad(loss, [alias[k] for k in keys], create_graph=create_graph, allow_unused=True)
    out = {}
    for k, g in zip(keys, grads, strict=True):
        g = torch.zeros_like(p[k]) if g is None else g
        out[k] = g if create_graph else g.detach()
    return out


def func_partial(
    loss_fn: Callable[[Params], Tensor], p: Params, keys: list[str], create_graph: bool
) -> Params:
    """The same partial derivative with :func:`torch.func.grad` (usable under ``vmap``)."""
    g = torch.func.grad(lambda sub: loss_fn({**p, **sub}))({k: p[k] for k in keys})
    return {k: g[k] if create_graph else g[k].detach() for k in keys}


def groups_of(assembly: Any) -> dict[str, list[str]]:
    """The paper's parameter groups by network kind: D; AP/AM (modulator) and AD; G and C."""
    kinds = {
        "d": ("critic",),
        "am": ("modulator", "attribute_decoder"),
        "gc": ("generator", "aux_classifier"),
    }
    names = [name for name, _ in assembly.named_parameters()]
    return {g: [n for n in names if n.split(".", 1)[0] in ks] for g, ks in kinds.items()}


class Algorithm1:
    """The inner and outer steps of Algorithm 1 for one assembly and one trainer configuration.

    Args:
        assembly: the networks (only called, never changed).
        cfg: the trainer settings (:class:`~modgen.train.settings.MetaSettings`): alphas, inner
            steps, first/second order, the loss weights, ``gp_lambda``, ``modulator_loss``,
            ``real_anchor``.
        partial: how inner gradients are taken (:func:`autograd_partial`, or
            :func:`func_partial` under ``vmap``).
    """

    def __init__(self, assembly: Any, cfg: Any, partial: Partial = autograd_partial) -> None:
        self.asm = assembly
        self.cfg = cfg
        self.partial = partial
        self.groups = groups_of(assembly)

    # -- the networks, called on parameter dicts --------------------------------------------------
    def net(self, kind: str, p: Params, *args: Tensor) -> Tensor:
        prefix = kind + "."
        return functional_call(
            getattr(self.asm, kind), {k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)}, args
        )

    def fake(self, p: Params, part: dict[str, Tensor]) -> Tensor:
        """``x_hat = G(z, a)`` modulated by the task's attribute set (lines 6-9)."""
        mod = self.net("modulator", p, part["attrs"])
        return self.net("generator", p, part["z"], part["a"], mod)

    def critic(self, p: Params) -> Callable[[Tensor, Tensor], Tensor]:
        return lambda x, a: self.net("critic", p, x, a)

    def l_d(self, p: Params, part: dict[str, Tensor], x_fake: Tensor) -> Tensor:
        cfg = self.cfg
        return critic_loss(
            self.critic(p), part["x"], x_fake.detach(), part["a"], cfg.gp_lambda, epsilon=part["eps"]
        )[0]

    def l_gc(self, p: Params, critic_p: Params, part: dict[str, Tensor], x_fake: Tensor) -> Tensor:
        """Eq. 7 (G and C's loss), the critic's parameters ``critic_p``."""
        cfg, a = self.cfg, part["a"]
        return generator_loss(
            self.critic(critic_p)(x_fake, a),
            a,
            self.net("attribute_decoder", p, x_fake),
            self.net("aux_classifier", p, x_fake),
            part["y"],
            cfg.attr_weight,
            cfg.cls_weight,
        )[0]

    def real_ad(self, p: Params, part: dict[str, Tensor]) -> Tensor:
        if not self.cfg.real_anchor:
            return part["x"].new_zeros(())
        return attribute_loss(part["a"], self.net("attribute_decoder", p, part["x"]))

    def real_cls(self, p: Params, part: dict[str, Tensor]) -> Tensor:
        if not self.cfg.real_anchor:
            return part["x"].new_zeros(())
        logits = self.net("aux_classifier", p, part["x"])
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), part["y"].reshape(-1))
        return self.cfg.cls_weight * ce

    # -- Algorithm 1 --------------------------------------------------------------------------------
    def adapt(self, theta: Params, sup: dict[str, Tensor]) -> Params:
        """Lines 6-15 (``inner_steps`` times): the fast parameters after adaptation on ``sup``."""
        cfg, g = self.cfg, self.groups
        second = not cfg.first_order
        d_set = set(g["d"])
        for _ in range(cfg.inner_steps):

            def loss_d_am(q: Params) -> Tensor:  # lines 10-11, on one draw of support samples
                x_fake = self.fake(q, sup)
                l_d = self.l_d(q, sup, x_fake)  # the samples are constants for D
                if cfg.modulator_loss == "gc":  # Eq. 8, the critic held fixed
                    fixed = {k: (v.detach() if k in d_set else v) for k, v in q.items()}
                    l_am = self.l_gc(q, fixed, sup, x_fake)
                else:  # Eq. 5
                    l_am = attribute_loss(sup["a"], self.net("attribute_decoder", q, x_fake))
                return l_d + l_am + self.real_ad(q, sup)

            # L_D does not involve AP/AM/AD, nor L_AD the critic: the partial derivative of the sum
            # in theta_d is L_D's (line 10), in theta_am L_AD's (line 11), both at theta.
            grads = self.partial(loss_d_am, theta, [*g["d"], *g["am"]], second) if g["d"] or g["am"] else {}
            fast = dict(theta)  # lines 12-13
            for k in g["d"]:
                fast[k] = theta[k] - cfg.alpha1 * grads[k]
            for k in g["am"]:
                fast[k] = theta[k] - cfg.alpha2 * grads[k]

            def loss_gc(q: Params) -> Tensor:  # line 14, at theta_d' and theta_am'
                return self.l_gc(q, q, sup, self.fake(q, sup)) + self.real_cls(q, sup)

            g_gc = self.partial(loss_gc, fast, g["gc"], second)
            for k in g["gc"]:  # line 15
                fast[k] = fast[k] - cfg.alpha3 * g_gc[k]
            theta = fast
        return theta

    def query_losses(self, fast: Params, qry: dict[str, Tensor]) -> dict[str, Tensor]:
        """L_D, L_AD and L_GC on the query set at the fast parameters (lines 17-19)."""
        x_fake = self.fake(fast, qry)
        l_ad = attribute_loss(qry["a"], self.net("attribute_decoder", fast, x_fake)) + self.real_ad(fast, qry)
        l_gc = self.l_gc(fast, fast, qry, x_fake) + self.real_cls(fast, qry)
        return {"d": self.l_d(fast, qry, x_fake), "am": l_ad, "gc": l_gc}

    def meta_grads(self, theta: Params, sup: dict[str, Tensor], qry: dict[str, Tensor]) -> Params:
        """Each group's gradient of its own query loss, through the adaptation (lines 17-19).

        ``theta`` must be leaves that require grad. With ``modulator_loss = "gc"`` the modulator
        takes L_GC's gradient, the attribute decoder L_AD's.
        """
        losses = self.query_losses(self.adapt(theta, sup), qry)
        jobs = dict(self.groups)
        if self.cfg.modulator_loss == "gc":
            jobs["am"] = [k for k in self.groups["am"] if not k.startswith("modulator.")]
            jobs["modulator"] = [k for k in self.groups["am"] if k.startswith("modulator.")]
        out: Params = {}
        for job, keys in jobs.items():
            loss = losses["gc" if job == "modulator" else job]
            grads = torch.autograd.grad(loss, [theta[k] for k in keys], retain_graph=True, allow_unused=True)
            out.update({k: gr.detach() for k, gr in zip(keys, grads, strict=True) if gr is not None})
        return out


def episode_tensors(
    sampler: Any, streams: Any, noise_dim: int, cfg: Any
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """One episode and its noise, drawn from ``streams`` in the trainer's order: the tasks, then
    the support set's ``z`` and ``eps``, then the query set's (``z ~ N(0, sigma_train^2)``,
    ``eps ~ U(0, 1)`` the gradient penalty's interpolation weights)."""
    ep = sampler.sample(streams.tasks)

    def part(x: Tensor, a: Tensor, y: Tensor, attrs: Tensor) -> dict[str, Tensor]:
        t, n = x.shape[:2]
        z = torch.randn(t, n, noise_dim, generator=streams.noise, dtype=x.dtype) * cfg.sigma_train
        eps = torch.rand(t, n, 1, generator=streams.noise, dtype=x.dtype)
        return {"x": x, "a": a, "y": y, "attrs": attrs, "z": z, "eps": eps}

    q_attrs = ep.query_attrs if cfg.query_modulation == "query" else ep.support_attrs
    return (
        part(ep.support_x, ep.support_a, ep.support_y, ep.support_attrs),
        part(ep.query_x, ep.query_a, ep.query_y, q_attrs),
    )
