"""Contract check of the ``trainer`` kind: what :func:`modgen.train.loop.train` relies on.

The training loop builds a trainer as ``cls(assembly=, data=, spec=, registries=, device=,
dist=)``, reads ``settings.episodes``, calls ``step(streams)`` once per episode, checks the
``optimizers``' state for NaN, calls ``calibrate()`` and ``state_dict()`` at each checkpoint and
``load_state_dict()`` on resume. :func:`check_trainer` does the same on a tiny assembly
(:func:`modgen.testing.presets.tiny` sizes, :func:`~modgen.testing.contracts.data.toy_data`).

Example:
    >>> from modgen.train.plain import PlainTrainer
    >>> check_trainer(PlainTrainer, batch_size=8, critic_iters=1).settings.batch_size
    8
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from modgen.testing.contracts._common import ContractError, as_device, call, fail, name_of, seeded

__all__ = ["check_trainer"]


def _spec(
    registries: Any, cls: Any, recipe: str, params: Mapping[str, Any], seed: int, device: torch.device
) -> Any:
    """The tiny spec the trainer is checked on, with ``cls`` in the trainer slot."""
    from attrs import evolve

    from modgen.config import ComponentSpec
    from modgen.pipeline import resolve_spec
    from modgen.testing.presets import tiny

    name = next((e.name for e in registries.trainer.entries() if e.obj is cls), "contract-check")
    spec = tiny(resolve_spec(registries, recipe, dataset="digits"), registries)
    return evolve(
        spec,
        trainer=ComponentSpec(name, dict(params)),
        run=evolve(spec.run, seed=seed, device=str(device)),
    )


def _snapshot(module: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _check_parts(who: str, parts: Any, device: torch.device) -> dict[str, Tensor]:
    if not isinstance(parts, Mapping) or not parts:
        fail(who, f"step(streams) must return a non-empty dict of loss parts, got {type(parts).__name__}")
    for key, value in parts.items():
        if not isinstance(key, str):
            fail(who, f"step(streams) returned a loss part keyed {key!r}; keys are names such as 'loss/d'")
        if not isinstance(value, Tensor) or value.numel() != 1:
            fail(
                who,
                f"loss part {key!r} must be a one-element tensor, got {type(value).__name__} "
                f"{tuple(getattr(value, 'shape', ()))}",
            )
        if value.requires_grad:
            fail(who, f"loss part {key!r} requires grad; return detached tensors")
        if value.device != device:
            fail(who, f"loss part {key!r} is on {value.device}, expected the training device {device}")
        if not bool(torch.isfinite(value).all()):
            fail(who, f"loss part {key!r} is not finite ({float(value)}) after one step")
    return dict(parts)


def check_trainer(
    cls: Any,
    *,
    registries: Any = None,
    recipe: str = "amaz",
    data: Any = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    **params: Any,
) -> Any:
    """Check a trainer class the way :func:`modgen.train.loop.train` uses it.

    The trainer (with ``params`` as its ``trainer.params``) trains ``recipe`` at
    :func:`~modgen.testing.presets.tiny` sizes on ``data``. The check asks for

    * a ``settings_class`` (an attrs class); ``trainer.settings`` is an instance of it with an
      integer ``episodes``; ``trainer.optimizers`` is a dict of ``torch.optim.Optimizer``;
    * ``step(RandomStreams)``: a dict of finite, detached one-element loss tensors on the
      device; it changes the parameters of every group that has an optimiser, keeps them
      finite, and draws from the streams it is given;
    * ``state_dict()`` that ``torch.save`` / ``torch.load(weights_only=True)`` round-trips
      (as checkpoints do), and ``load_state_dict()`` that makes a freshly built trainer take
      the very same next step as the original (resume is exact);
    * ``calibrate()`` runs and leaves the networks' state finite.

    Args:
        cls: the trainer class.
        registries: where components are looked up (default: the built-ins).
        recipe: the recipe whose networks it trains.
        data: a :class:`~modgen.data.zsldata.ZSLData` (default
            :func:`~modgen.testing.contracts.data.toy_data`).
        device: the training device (default CPU).
        seed: the run's seed.
        **params: the trainer's parameters (``trainer.params``).

    Returns:
        The trainer after one step.
    """
    import attrs

    from modgen.distributed import DistContext
    from modgen.plugins import get_registries
    from modgen.testing.contracts.data import toy_data
    from modgen.train.base import RandomStreams, stream_seeds
    from modgen.train.loop import build_for_data

    who = f"trainer {name_of(cls)}"
    settings_class = getattr(cls, "settings_class", None)
    if settings_class is None or not attrs.has(settings_class):
        fail(
            who,
            "needs a settings_class attribute: the attrs class trainer.params are validated into "
            "(see modgen.train.settings.TrainSettings)",
        )
    dev = as_device(device)
    regs = registries if registries is not None else get_registries(entry_points=False)
    data = toy_data() if data is None else data
    try:
        spec = _spec(regs, cls, recipe, params, seed, dev)
    except ContractError:
        raise
    except Exception as err:
        raise ContractError(
            f"{who}: cannot make the tiny {recipe!r} spec: {type(err).__name__}: {err}"
        ) from err
    seeds = stream_seeds(seed)

    def build() -> tuple[Any, Any]:
        with seeded(seeds["dropout"], dev):
            asm = call(who, build_for_data, spec, regs, data, dev, seed=seeds["init"])
            trainer = call(
                who, cls, assembly=asm, data=data, spec=spec, registries=regs, device=dev, dist=DistContext()
            )
        return asm, trainer

    def step(trainer: Any, streams: Any, salt: int) -> dict[str, Tensor]:
        with seeded(seeds["dropout"] + salt, dev):
            return _check_parts(who, call(who, trainer.step, streams), dev)

    asm, trainer = build()
    optimizers = _check_attributes(who, trainer, settings_class)
    streams = RandomStreams.from_seed(seed, dev)
    drawn = {k: g.get_state() for k, g in streams.named().items()}
    before = _snapshot(asm)
    step(trainer, streams, 0)
    if all(torch.equal(drawn[k], g.get_state()) for k, g in streams.named().items()):
        fail(
            who,
            "step(streams) drew nothing from the streams it was given (tasks, noise); randomness is passed in",
        )
    _check_step_changes(who, asm, optimizers, before)
    _check_resume(who, asm, trainer, streams, build, step)
    call(who, trainer.calibrate)
    bad = [
        k for k, v in asm.state_dict().items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        fail(who, f"calibrate() left NaN/inf in {', '.join(bad)}")
    return trainer


def _check_attributes(who: str, trainer: Any, settings_class: type) -> Mapping[str, Any]:
    """``settings`` of the settings class with an int ``episodes``; ``optimizers`` a dict of optimisers."""
    if not isinstance(getattr(trainer, "settings", None), settings_class):
        fail(who, f"trainer.settings must be a {settings_class.__name__} (validated from trainer.params)")
    episodes = getattr(trainer.settings, "episodes", None)
    if isinstance(episodes, bool) or not isinstance(episodes, int):
        fail(
            who, f"trainer.settings.episodes must be an int (the loop runs that many steps), got {episodes!r}"
        )
    optimizers = getattr(trainer, "optimizers", None)
    if not isinstance(optimizers, Mapping) or not all(
        isinstance(o, torch.optim.Optimizer) for o in optimizers.values()
    ):
        fail(
            who,
            "trainer.optimizers must be a dict {group: torch.optim.Optimizer} (checkpoints and the "
            "divergence guard read it)",
        )
    return optimizers


def _check_step_changes(who: str, asm: Any, optimizers: Mapping[str, Any], before: dict[str, Tensor]) -> None:
    """One step keeps every parameter finite and changes every optimised group."""
    after = _snapshot(asm)
    bad = [k for k, v in after.items() if not bool(torch.isfinite(v).all())]
    if bad:
        fail(who, f"parameters are NaN/inf after one step: {', '.join(bad)}")
    groups = asm.parameter_groups()
    for group in optimizers:
        names = list(groups.get(group, {}))
        if names and all(torch.equal(before[k], after[k]) for k in names):
            fail(
                who,
                f"one step left every parameter of group {group!r} unchanged ({', '.join(names[:3])} ...)",
            )
    if all(torch.equal(before[k], after[k]) for k in before):
        fail(who, "one step changed no parameter")


def _check_resume(who: str, asm: Any, trainer: Any, streams: Any, build: Any, step: Any) -> None:
    """A fresh trainer loaded from the state of this one takes the very same next step."""
    import copy

    from modgen.train.base import RandomStreams

    buffer = io.BytesIO()
    try:
        torch.save(call(who, trainer.state_dict), buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
    except ContractError:
        raise
    except Exception as err:
        raise ContractError(
            f"{who}: state_dict() does not survive torch.save / torch.load(weights_only=True) as checkpoints "
            f"need: {type(err).__name__}: {err}"
        ) from err
    model = copy.deepcopy(asm.state_dict())
    rng = {k: g.get_state() for k, g in streams.named().items()}
    parts = step(trainer, streams, 1)
    expected = _snapshot(asm)

    asm2, trainer2 = build()
    asm2.load_state_dict(model)
    call(who, trainer2.load_state_dict, state)
    device = next(iter(expected.values())).device
    resumed = RandomStreams.from_seed(0, device)
    for k, g in resumed.named().items():
        g.set_state(rng[k])
    parts2 = step(trainer2, resumed, 1)
    differ = [
        k for k, v in _snapshot(asm2).items() if not torch.allclose(v, expected[k], rtol=1e-5, atol=1e-6)
    ]
    if differ or parts.keys() != parts2.keys():
        fail(
            who,
            "after load_state_dict(state_dict()) a fresh trainer's next step differs from the original's "
            f"({', '.join(differ[:3]) or 'loss parts'}); state_dict must hold every state a step depends on "
            "(optimiser moments, counters)",
        )
