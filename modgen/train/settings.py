"""The trainers' settings: what ``trainer.params`` of a recipe may hold, validated per trainer.

A trainer is configured like every other component: the recipe's ``[trainer]`` section names a
registered trainer and gives its parameters; the trainer class's ``settings_class`` (an attrs
class) validates them, fills in the defaults and is what the trainer reads. ``meta`` takes
:class:`MetaSettings`, ``plain`` takes :class:`PlainSettings`; both share
:class:`TrainSettings`.

Example:
    >>> settings = trainer_settings(MetaSettings, {"episodes": 200}, name="meta")
    >>> settings.episodes, settings.alpha1, settings.beta2
    (200, 0.001, 1e-05)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
from attrs import field, frozen

from modgen.config import (
    MOVED_KEYS,
    choice,
    flag,
    int_at_least,
    number_at_least,
    spec_from_dict,
    spec_to_dict,
)
from modgen.errors import ConfigError

__all__ = ["TrainSettings", "MetaSettings", "PlainSettings", "trainer_settings", "settings_of"]

T = TypeVar("T")


def _betas(_: Any, attribute: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
    if len(value) != 2 or not all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in value
    ):
        raise ConfigError(f"{attribute.name}: expected two numbers in [0, 1), got {list(value)!r}")


def _rate() -> Any:
    return field(default=1e-3, converter=float, validator=number_at_least(0))


@frozen
class TrainSettings:
    """Settings every built-in trainer takes (Algorithm 1's names where it has them).

    Attributes:
        episodes: training steps (meta: episodes; plain: generator iterations).
        beta1, beta2, beta3: Adam learning rates of the parameter groups D, AP/AM/AD and G/C.
        adam_betas: Adam's (beta1, beta2) (the paper says only "Adam"; 0.5, 0.999 is the usual
            WGAN-GP / f-CLSWGAN choice).
        sigma_train: standard deviation of the generator noise z during training.
        gp_lambda: gradient-penalty weight of the WGAN critic loss.
        cls_weight, attr_weight: weights of the classification and attribute terms of Eq. 7.
        real_anchor: also fit C and AD on the task's *real* features (cross-entropy of C(x) and
            ``||a - AD(x)||^2``, added to L_GC and L_AD). Eqs. 5 and 7 have only the
            generated-feature terms, which leave C and AD free to co-adapt with G; the real
            terms (AC-GAN practice) anchor them, so that C's guidance and AD's quality score
            ``Q = cos(a, AD(x_hat))`` (Eq. 12) mean something. ``false`` is the literal reading.
        modulator_loss: what the modulator AP/AM learns from (AD always learns from L_AD):
            ``ad`` (Algorithm 1, lines 13 and 18: L_AD only) or ``gc`` (Eq. 8 and its text:
            "optimizing theta_am to minimize L_GC", i.e. the generator's loss L_G + L_AD + L_CLS,
            with the critic held fixed in that term).
        bf16: run the networks under bfloat16 autocast.
        compile: compile the networks with ``torch.compile`` (trainers that support it).
    """

    episodes: int = field(default=15000, validator=int_at_least(1))
    beta1: float = _rate()
    beta2: float = field(default=1e-5, converter=float, validator=number_at_least(0))
    beta3: float = field(default=1e-5, converter=float, validator=number_at_least(0))
    adam_betas: tuple[float, float] = field(default=(0.5, 0.999), converter=tuple, validator=_betas)
    sigma_train: float = field(default=0.1, converter=float, validator=number_at_least(0))
    gp_lambda: float = field(default=10.0, converter=float, validator=number_at_least(0))
    cls_weight: float = field(default=1.0, converter=float, validator=number_at_least(0))
    attr_weight: float = field(default=1.0, converter=float, validator=number_at_least(0))
    real_anchor: bool = field(default=True, validator=flag)
    modulator_loss: str = field(default="ad", validator=choice(("ad", "gc")))
    bf16: bool = field(default=False, validator=flag)
    compile: bool = field(default=False, validator=flag)


@frozen
class MetaSettings(TrainSettings):
    """Settings of the ``meta`` trainer (Algorithm 1).

    Attributes:
        alpha1, alpha2, alpha3: inner (fast-adaptation) learning rates of D, AP/AM/AD, G/C.
        inner_steps: fast-adaptation steps per episode.
        first_order: first-order meta-gradients (no differentiation through the inner step).
        adaptation: ``batch`` (one fast adaptation per batch of tasks, Section II-D) or
            ``task`` (one per task, as MAML, vectorised with ``torch.func.vmap``).
        query_modulation: which attribute set modulates G on the query set: ``query`` (the
            query classes' own attributes, as at synthesis time, where each class is modulated
            by its own attribute, Section II-E) or ``support`` (Algorithm 1, line 6 read
            literally: the support classes' task embedding also for the query losses).
    """

    alpha1: float = _rate()
    alpha2: float = _rate()
    alpha3: float = _rate()
    inner_steps: int = field(default=1, validator=int_at_least(1))
    first_order: bool = field(default=True, validator=flag)
    adaptation: str = field(default="batch", validator=choice(("batch", "task")))
    query_modulation: str = field(default="query", validator=choice(("query", "support")))


@frozen
class PlainSettings(TrainSettings):
    """Settings of the ``plain`` trainer (a conditional WGAN-GP, no meta-learning).

    Attributes:
        critic_iters: critic updates per generator update.
        batch_size: samples per step.
    """

    beta1: float = field(default=1e-4, converter=float, validator=number_at_least(0))
    beta2: float = field(default=1e-4, converter=float, validator=number_at_least(0))
    beta3: float = field(default=1e-4, converter=float, validator=number_at_least(0))
    critic_iters: int = field(default=5, validator=int_at_least(1))
    batch_size: int = field(default=64, validator=int_at_least(1))


for _cls in (TrainSettings, MetaSettings, PlainSettings):
    attrs.resolve_types(_cls, globals())


def trainer_settings(cls: type[T], params: Mapping[str, Any], *, name: str) -> T:
    """``params`` (a recipe's ``trainer.params``) validated into the settings class ``cls``.

    Raises:
        ConfigError: an unknown parameter (the message lists the accepted ones and says where
            a moved key went) or an invalid value; every message names ``trainer.<param>``.

    Example:
        >>> trainer_settings(PlainSettings, {"batch_size": 32}, name="plain").critic_iters
        5
    """
    accepted = [f.name for f in attrs.fields(cls)]  # type: ignore[arg-type]
    for key in params:
        if key not in accepted:
            moved = MOVED_KEYS.get(f"trainer.{key}")
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" It moved to {moved!r}." if moved else (f" Did you mean {close[0]!r}?" if close else "")
            raise ConfigError(
                f"trainer {name!r}: unknown parameter {key!r} (trainer.{key}). Accepted: "
                f"{', '.join(accepted)}.{hint}"
            )
    try:
        return spec_from_dict(cls, params)
    except ConfigError as err:
        raise ConfigError(f"trainer {name!r}: trainer.{err}") from None


def settings_of(trainer_cls: Any, params: Mapping[str, Any], *, name: str) -> Any:
    """The validated settings of a registered trainer class (its ``settings_class``).

    A trainer without a ``settings_class`` gets ``params`` back as a dict.
    """
    cls = getattr(trainer_cls, "settings_class", None)
    if cls is None:
        return dict(params)
    return trainer_settings(cls, params, name=name)


def full_params(settings: Any) -> dict[str, Any]:
    """Every field of a settings object as plain data (what a resolved spec records)."""
    return spec_to_dict(settings) if attrs.has(type(settings)) else dict(settings)
