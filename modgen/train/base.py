"""What the meta and plain trainers share: parameter groups, functional views, optimisers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from modgen.distributed import DistContext
from modgen.errors import ConfigError
from modgen.functional.losses import attribute_loss
from modgen.train.settings import TrainSettings, settings_of

if TYPE_CHECKING:
    from modgen.assembly import Assembly
    from modgen.config import RecipeSpec
    from modgen.data.zsldata import ZSLData
    from modgen.registry import Registries

__all__ = [
    "BaseTrainer",
    "RandomStreams",
    "stream_seeds",
    "GROUP_LR",
    "loss_parts",
    "real_attribute_loss",
    "real_class_loss",
]

#: The meta learning rate of each parameter group: theta_d, theta_am, theta_gc (Algorithm 1).
GROUP_LR = {"d": "beta1", "am": "beta2", "gc": "beta3"}


def _adam(
    params: list[Any], *, lr: float, betas: tuple[float, float], device: torch.device
) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch has one for ``device`` (CUDA; CPU since 2.4).

    The fused step reads and writes each parameter and its two moments once instead of once per
    elementwise op (8x faster than the per-tensor loop for the 64M parameters of AMAZ at AWA2
    shapes on a CPU); the update rule is the same.
    """
    if device.type in ("cuda", "cpu"):
        try:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        except RuntimeError:  # an older torch without a fused CPU kernel
            pass
    return torch.optim.Adam(params, lr=lr, betas=betas)


def loss_parts(
    l_d: Tensor,
    parts_d: dict[str, Tensor],
    l_ad: Tensor,
    l_gc: Tensor,
    parts_g: dict[str, Tensor],
    real_ad: Tensor,
    real_cls: Tensor,
) -> dict[str, Tensor]:
    """The logged loss parts of a step (metrics.jsonl keys), the same for every trainer."""
    return {
        "loss/ad_real": real_ad,
        "loss/cls_real": real_cls,
        "loss/d": l_d,
        "loss/wasserstein": parts_d["wasserstein"],
        "loss/gp": parts_d["gp"],
        "loss/ad": l_ad,
        "loss/gc": l_gc,
        "loss/adv": parts_g["adv"],
        "loss/attr": parts_g["attr"],
        "loss/cls": parts_g["cls"],
    }


def stream_seeds(seed: int) -> dict[str, int]:
    """Independent seeds derived from a run's seed: ``init`` (network weights), ``tasks``
    (episode and batch sampling), ``noise`` (z and the gradient-penalty mix) and ``dropout``.

    Because each stream has its own seed, two recipes with the same seed see the same tasks and
    the same noise, whatever their networks consume (paired comparisons).

    Example:
        >>> sorted(stream_seeds(0)) , stream_seeds(0) == stream_seeds(0)
        (['dropout', 'init', 'noise', 'tasks'], True)
    """
    import numpy as np

    kids = np.random.SeedSequence(seed).spawn(4)
    values = [int(k.generate_state(1, dtype=np.uint64)[0]) & (2**63 - 1) for k in kids]
    return dict(zip(("init", "tasks", "noise", "dropout"), values, strict=True))


class RandomStreams:
    """The generators a training step draws from: ``tasks`` (which classes and samples) and
    ``noise`` (z, the gradient-penalty mix), seeded by :func:`stream_seeds`.

    Example:
        >>> s = RandomStreams.from_seed(0, torch.device("cpu"))
        >>> sorted(s.named())
        ['noise', 'tasks']
    """

    def __init__(self, tasks: torch.Generator, noise: torch.Generator) -> None:
        self.tasks, self.noise = tasks, noise

    @classmethod
    def from_seed(cls, seed: int, device: torch.device | str) -> RandomStreams:
        seeds = stream_seeds(seed)
        gens = {k: torch.Generator(device=device).manual_seed(seeds[k]) for k in ("tasks", "noise")}
        return cls(gens["tasks"], gens["noise"])

    def named(self) -> dict[str, torch.Generator]:
        """The generators by name (what checkpoints save)."""
        return {"tasks": self.tasks, "noise": self.noise}


def real_attribute_loss(settings: Any, decode: Callable[[Tensor], Tensor], x: Tensor, a: Tensor) -> Tensor:
    """``||a - AD(x)||^2`` on *real* features when ``trainer.real_anchor`` is on (else 0).

    ``decode`` is AD (a functional call in the meta trainer, the module in the plain one).
    """
    return attribute_loss(a, decode(x)) if settings.real_anchor else x.new_zeros(())


def real_class_loss(settings: Any, classify: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> Tensor:
    """``cls_weight * CE(C(x), y)`` on *real* features when ``trainer.real_anchor`` is on (else 0)."""
    if not settings.real_anchor:
        return x.new_zeros(())
    logits = classify(x)
    return settings.cls_weight * torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
    )


class BaseTrainer:
    """A trainer: owns the optimisers and turns one :meth:`step` into parameter updates.

    A trainer is registered under the ``trainer`` kind and built as
    ``cls(assembly=..., data=..., spec=..., registries=..., device=..., dist=...)``. Its
    ``trainer.params`` are validated into :attr:`settings_class` (:attr:`settings`).
    Subclasses implement :meth:`compute_grads` (write ``.grad`` of the parameters and return
    the loss parts as device tensors) and may override :meth:`_setup`.

    Under torchrun, :attr:`dist` (a :class:`~modgen.distributed.DistContext`) splits the work:
    the parameters are broadcast from rank 0 here, and :meth:`step` averages the gradients and
    the loss parts across ranks; a subclass takes its share of each episode or batch.

    Args:
        assembly: the networks, already on ``device``.
        data: the training data.
        spec: the resolved recipe (its ``trainer.params`` become :attr:`settings`).
        registries: component registries (e.g. for the task sampler).
        device: the training device.
        dist: the distributed context (default: one process).
    """

    #: The attrs class ``trainer.params`` are validated into.
    settings_class: type = TrainSettings
    #: Whether the trainer honours ``trainer.compile``; others refuse it rather than ignore it.
    supports_compile: bool = False

    def __init__(
        self,
        *,
        assembly: Assembly,
        data: ZSLData,
        spec: RecipeSpec,
        registries: Registries,
        device: torch.device | str,
        dist: DistContext | None = None,
    ) -> None:
        self.assembly = assembly
        self.data = data
        self.spec = spec
        self.settings = settings_of(type(self), spec.trainer.params, name=spec.trainer.name)
        if getattr(self.settings, "compile", False) and not self.supports_compile:
            raise ConfigError(
                f"trainer.compile=true: the {spec.trainer.name!r} trainer does not compile its networks "
                "(only the meta trainer does); set trainer.compile=false"
            )
        self.registries = registries
        self.device = torch.device(device)
        self.dist = dist if dist is not None else DistContext()
        self.dist.broadcast_module(assembly)
        self.params: dict[str, Tensor] = dict(assembly.named_parameters())
        groups = assembly.parameter_groups()
        self.groups: dict[str, list[str]] = {g: list(ps) for g, ps in groups.items()}
        self._views: dict[str, list[tuple[str, str]]] = {}
        for name in self.params:
            kind = name.split(".", 1)[0]
            self._views.setdefault(kind, []).append((name, name[len(kind) + 1 :]))
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            g: _adam(
                list(groups[g].values()),
                lr=getattr(self.settings, GROUP_LR[g]),
                betas=(float(self.settings.adam_betas[0]), float(self.settings.adam_betas[1])),
                device=self.device,
            )
            for g in groups
            if groups[g]
        }
        self._setup()

    def _setup(self) -> None:
        """Hook for subclasses: build samplers and the like."""

    def _view(self, p: dict[str, Tensor], kind: str) -> dict[str, Tensor]:
        """The entries of ``p`` that belong to submodule ``kind``, with its prefix removed."""
        return {short: p[full] for full, short in self._views.get(kind, [])}

    def _backward_groups(self, losses: dict[str, Tensor]) -> None:
        """Write each group's gradient of its own loss into ``.grad`` (no optimiser step).

        Args:
            losses: ``{"d": L_D, "am": L_AD, "gc": L_GC}``, and optionally ``"modulator"``: a
                loss that replaces ``am``'s for the modulator's parameters (``modulator_loss =
                "gc"``: the modulator learns from L_GC, the attribute decoder from L_AD).
        """
        own = {g: list(keys) for g, keys in self.groups.items()}
        jobs: list[tuple[list[str], Tensor]] = []
        if "modulator" in losses:
            mod_keys = [k for k in own.get("am", []) if k.startswith("modulator.")]
            own["am"] = [k for k in own.get("am", []) if k not in mod_keys]
            jobs.append((mod_keys, losses["modulator"]))
        jobs += [(own.get(g, []), loss) for g, loss in losses.items() if g != "modulator"]
        computed = []
        for keys, loss in jobs:
            if keys:
                grads = torch.autograd.grad(
                    loss, [self.params[k] for k in keys], retain_graph=True, allow_unused=True
                )
                computed.append((keys, grads))
        for keys, grads in computed:
            for k, grad in zip(keys, grads, strict=True):
                self.params[k].grad = None if grad is None else grad.detach()

    def compute_grads(self, streams: RandomStreams) -> dict[str, Tensor]:
        """Compute one step's gradients into ``.grad``; return the loss parts."""
        raise NotImplementedError

    def step(self, streams: RandomStreams) -> dict[str, Tensor]:
        """One training step (an episode); returns detached loss parts on the device."""
        self.assembly.train()
        self.dist.seed_rank_rng(streams.tasks)
        parts = self.compute_grads(streams)
        self.dist.average_grads(self.params.values())
        parts = self.dist.average_scalars(parts)
        for opt in self.optimizers.values():
            opt.step()
        for p in self.params.values():
            p.grad = None
        return {k: v.detach().float() for k, v in parts.items()}

    #: Training-like forward passes used to set BatchNorm running statistics.
    calibration_passes: int = 20

    def calibration_pass(self, streams: RandomStreams) -> None:
        """One training-like forward pass of the generator (subclasses implement it)."""
        raise NotImplementedError

    def calibrate(self) -> None:
        """Set the generator's BatchNorm running statistics (used at synthesis, in ``eval()``).

        Runs :attr:`calibration_passes` training-like passes through
        :func:`~modgen.nn.blocks.calibrate_batch_norm` with a generator seeded from the run's
        seed and the global RNG forked, so calibrating never changes the training stream and
        gives the same statistics on every rank and after a resume.
        """
        from modgen.nn.blocks import calibrate_batch_norm

        seed = self.spec.run.seed + 7919
        streams = RandomStreams.from_seed(seed, self.device)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            calibrate_batch_norm(
                self.assembly.generator,
                [lambda: self.calibration_pass(streams) for _ in range(self.calibration_passes)],
            )

    def state_dict(self) -> dict[str, Any]:
        """Optimiser states (the parameters live in the assembly's state dict)."""
        return {g: opt.state_dict() for g, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore optimiser states saved by :meth:`state_dict`."""
        for g, opt in self.optimizers.items():
            opt.load_state_dict(state[g])
