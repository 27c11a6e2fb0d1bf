"""Configuration as frozen attrs values, with TOML round trip and ``--set`` overrides.

A :class:`RecipeSpec` describes one complete run: the data, each component (a
:class:`ComponentSpec`: registered name + parameters), the trainer and the evaluation. Specs
are immutable; change them with :func:`attrs.evolve` or :func:`apply_overrides`.

Example:
    >>> spec = RecipeSpec(name="demo")
    >>> spec2 = apply_overrides(spec, ["trainer.episodes=200", "generator.hidden=256"])
    >>> spec2.trainer.episodes, spec2.generator.params["hidden"]
    (200, 256)
    >>> spec_from_toml(spec_to_toml(spec2)) == spec2
    True
"""

from __future__ import annotations

import math
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import attrs
from attrs import field, frozen
from attrs.validators import and_, ge, gt, in_, instance_of

from modgen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ComponentSpec",
    "DataConfig",
    "TrainConfig",
    "EvalConfig",
    "RecipeSpec",
    "spec_to_dict",
    "spec_from_dict",
    "spec_to_toml",
    "spec_from_toml",
    "apply_overrides",
    "parse_override",
    "dumps_toml",
]

S = TypeVar("S")

_SCALARS = (str, int, float, bool)


def _check_params(instance: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise ConfigError(f"{attribute.name}: parameter names must be non-empty strings, got {k!r}")
        _check_toml_value(f"params.{k}", v)


def _check_toml_value(key: str, v: Any) -> None:
    if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f"{key}: {v!r} is not a finite number")
    if isinstance(v, _SCALARS):
        return
    if isinstance(v, (list, tuple)):
        for i, item in enumerate(v):
            _check_toml_value(f"{key}[{i}]", item)
        return
    if isinstance(v, Mapping):
        for k, item in v.items():
            _check_toml_value(f"{key}.{k}", item)
        return
    raise ConfigError(f"{key}: {v!r} ({type(v).__name__}) cannot be stored in TOML")


def _to_plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_to_plain(x) for x in v]
    if isinstance(v, list):
        return [_to_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _to_plain(x) for k, x in v.items()}
    return v


def _params_converter(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"params must be a table (mapping), got {value!r}")
    return {k: _to_plain(v) for k, v in value.items()}


@frozen
class ComponentSpec:
    """A component: its registered ``name`` and the keyword ``params`` to build it with.

    Attributes:
        name: the registry key, e.g. ``"attribute"`` or ``"myplugin.film"``.
        params: keyword arguments for the component's constructor (TOML-representable).
    """

    name: str = field(validator=instance_of(str))
    params: dict[str, Any] = field(factory=dict, converter=_params_converter, validator=_check_params)


def _component(name: str, **params: Any) -> Any:
    return field(factory=lambda: ComponentSpec(name, dict(params)))


def _positive_int() -> Any:
    return and_(instance_of(int), gt(0))


def _nonneg_float() -> Any:
    return and_(instance_of((int, float)), ge(0))


def _float_conv(v: Any) -> Any:
    return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


@frozen
class DataConfig:
    """Which data set to load and how.

    Attributes:
        dataset: a registered dataset name (``digits``, ``fashion-mnist``, ``xlsa17``) .
        root: folder of the data files (``xlsa17``: the folder holding ``res101.mat``), or ``""``.
        name: the xlsa17 data set (``AWA1``, ``AWA2``, ``CUB``, ``SUN``, ``APY``) or ``""``.
        semantics: ``att``, ``original_att`` or ``sent`` (xlsa17 only).
        validation: train on ``train`` and select on ``val`` instead of ``trainval``/test.
        options: further keyword arguments for the loader.
    """

    dataset: str = field(default="digits", validator=instance_of(str))
    root: str = field(default="", validator=instance_of(str))
    name: str = field(default="", validator=instance_of(str))
    semantics: str = field(default="att", validator=in_(("att", "original_att", "sent")))
    validation: bool = field(default=False, validator=instance_of(bool))
    options: dict[str, Any] = field(factory=dict, converter=_params_converter, validator=_check_params)


@frozen
class TrainConfig:
    """Training settings shared by the meta and plain trainers (Algorithm 1 names).

    Attributes:
        name: the registered trainer: ``meta`` (Algorithm 1) or ``plain`` (conditional WGAN).
        episodes: meta-training episodes (plain trainer: generator iterations).
        alpha1, alpha2, alpha3: inner (fast-adaptation) learning rates of D, AP/AM/AD, G/C.
        beta1, beta2, beta3: meta (Adam) learning rates of D, AP/AM/AD, G/C.
        inner_steps: fast-adaptation steps per episode.
        first_order: first-order meta-gradients (no differentiation through the inner step).
        adaptation: ``batch`` (one fast adaptation per batch of tasks, Section II-D) or
            ``task`` (one per task, as MAML, vectorised with ``torch.func.vmap``).
        query_modulation: which attribute set modulates G on the query set: ``query`` (the
            default: the query classes' own attributes, as at synthesis time, where each class
            is modulated by its own attribute, Section II-E) or ``support`` (Algorithm 1, line 6
            read literally: the task embedding of the support classes also for the query losses).
            The support losses are always modulated by the support attribute set.
        adam_betas: Adam's (beta1, beta2) for the meta-updates (the paper says only "Adam";
            0.5, 0.999 is the usual WGAN-GP / f-CLSWGAN choice).
        sigma_train: standard deviation of the generator noise z during training.
        noise_dim: width Z of the noise z; 0 means "the attribute dimension A".
        gp_lambda: gradient-penalty weight of the WGAN critic loss.
        critic_iters: critic updates per generator update (plain trainer).
        batch_size: samples per step (plain trainer).
        cls_weight, attr_weight: weights of the classification and attribute terms in Eq. 7.
        real_anchor: also fit C and AD on the task's *real* features (cross-entropy of
            C(x) and ||a - AD(x)||^2 on real x, added to L_GC and L_AD). Eqs. 5 and 7 have only
            the generated-feature terms, which leave C and AD free to co-adapt with G; the real
            terms (AC-GAN practice) anchor them to real data, so that C's guidance and AD's
            quality score Q = cos(a, AD(x_hat)) (Eq. 12) mean something. ``false`` is the
            literal reading.
        seed: random seed of the run.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        bf16: run the networks under bfloat16 autocast.
        compile: compile the episode with ``torch.compile``.
        log_every: episodes between metric records (and host synchronisations).
        checkpoint_every: episodes between checkpoints (0: only at the end).
        options: further keyword arguments understood by a third-party trainer.
    """

    name: str = field(default="meta", validator=instance_of(str))
    episodes: int = field(default=15000, validator=_positive_int())
    alpha1: float = field(default=1e-3, converter=_float_conv, validator=_nonneg_float())
    alpha2: float = field(default=1e-3, converter=_float_conv, validator=_nonneg_float())
    alpha3: float = field(default=1e-3, converter=_float_conv, validator=_nonneg_float())
    beta1: float = field(default=1e-3, converter=_float_conv, validator=_nonneg_float())
    beta2: float = field(default=1e-5, converter=_float_conv, validator=_nonneg_float())
    beta3: float = field(default=1e-5, converter=_float_conv, validator=_nonneg_float())
    inner_steps: int = field(default=1, validator=_positive_int())
    first_order: bool = field(default=True, validator=instance_of(bool))
    adaptation: str = field(default="batch", validator=in_(("batch", "task")))
    query_modulation: str = field(default="query", validator=in_(("support", "query")))
    adam_betas: tuple[float, float] = field(default=(0.5, 0.999), converter=tuple)
    sigma_train: float = field(default=0.1, converter=_float_conv, validator=_nonneg_float())
    noise_dim: int = field(default=0, validator=and_(instance_of(int), ge(0)))
    gp_lambda: float = field(default=10.0, converter=_float_conv, validator=_nonneg_float())
    critic_iters: int = field(default=5, validator=_positive_int())
    batch_size: int = field(default=64, validator=_positive_int())
    real_anchor: bool = field(default=True, validator=instance_of(bool))
    cls_weight: float = field(default=1.0, converter=_float_conv, validator=_nonneg_float())
    attr_weight: float = field(default=1.0, converter=_float_conv, validator=_nonneg_float())
    seed: int = field(default=0, validator=and_(instance_of(int), ge(0)))
    device: str = field(default="auto", validator=instance_of(str))
    bf16: bool = field(default=False, validator=instance_of(bool))
    compile: bool = field(default=False, validator=instance_of(bool))
    log_every: int = field(default=50, validator=_positive_int())
    checkpoint_every: int = field(default=1000, validator=and_(instance_of(int), ge(0)))
    options: dict[str, Any] = field(factory=dict, converter=_params_converter, validator=_check_params)

    @adam_betas.validator
    def _check_betas(self, attribute: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
        if len(value) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in value):
            raise ConfigError(f"trainer.adam_betas: expected two numbers in [0, 1), got {list(value)!r}")

    @device.validator
    def _check_device(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not (value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())):
            raise ConfigError(f"trainer.device: expected auto, cpu, cuda or cuda:N, got {value!r}")


def _classifier_list(v: Iterable[Any]) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    return tuple(v)


@frozen
class EvalConfig:
    """How synthetic features are made and judged (Section II-E and III).

    Attributes:
        classifiers: registered final classifiers to train and report.
        zsl_samples: synthetic features per unseen class for ZSL.
        gzsl_samples: synthetic features per class for GZSL.
        sigma_test: standard deviation of z at synthesis (the paper: 1).
        gzsl_seen: ``synthetic`` (Section II-E) or ``real`` (Section III-G) seen features.
        selection: ``val`` selects on the validation split; ``test`` is the
            literature-comparison mode and marks every result it produces.
        retrieval_k: the k of zero-shot retrieval (top-k average precision).
        seeds: repeated evaluations aggregated as mean +- std.
        classifier_params: per-classifier keyword arguments, ``{name: {param: value}}``.
    """

    classifiers: tuple[str, ...] = field(
        default=("softmax", "weighted-softmax", "svm", "weighted-svm"), converter=_classifier_list
    )
    zsl_samples: int = field(default=100, validator=_positive_int())
    gzsl_samples: int = field(default=300, validator=_positive_int())
    sigma_test: float = field(default=1.0, converter=_float_conv, validator=_nonneg_float())
    gzsl_seen: str = field(default="synthetic", validator=in_(("synthetic", "real")))
    selection: str = field(default="val", validator=in_(("val", "test")))
    retrieval_k: tuple[int, ...] = field(default=(5, 10), converter=tuple)
    seeds: int = field(default=1, validator=_positive_int())
    classifier_params: dict[str, Any] = field(
        factory=dict, converter=_params_converter, validator=_check_params
    )


@frozen
class RecipeSpec:
    """A complete, resolved description of a run.

    Attributes:
        name: the recipe's name (``amaz``, ``zsml``, ``clswgan``, ...).
        description: one line on what the recipe is.
        paper: the paper section or table the recipe follows.
        data, trainer, evaluation: see :class:`DataConfig`, :class:`TrainConfig`,
            :class:`EvalConfig`.
        generator, modulator, critic, aux_classifier, attribute_decoder, quality_weighter,
            task_sampler: the components (:class:`ComponentSpec`).
    """

    name: str = field(validator=instance_of(str))
    description: str = field(default="", validator=instance_of(str))
    paper: str = field(default="", validator=instance_of(str))
    data: DataConfig = field(factory=DataConfig)
    generator: ComponentSpec = _component("mlp")
    modulator: ComponentSpec = _component("attribute")
    critic: ComponentSpec = _component("mlp")
    aux_classifier: ComponentSpec = _component("mlp")
    attribute_decoder: ComponentSpec = _component("mlp")
    quality_weighter: ComponentSpec = _component("cosine")
    task_sampler: ComponentSpec = _component("episodic")
    trainer: TrainConfig = field(factory=TrainConfig)
    evaluation: EvalConfig = field(factory=EvalConfig)

    def components(self) -> dict[str, ComponentSpec]:
        """The component specs by kind."""
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(RecipeSpec)
            if f.type in (ComponentSpec, "ComponentSpec")
        }


# ----------------------------------------------------------------------------------------------
# dict / TOML conversion


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A spec as plain dicts, lists and scalars (TOML-ready)."""
    return _to_plain(attrs.asdict(spec, recurse=True))


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def spec_from_dict(cls: type[S], data: Mapping[str, Any], *, path: str = "") -> S:
    """Build ``cls`` (a spec class) from plain data, naming the key of any error.

    Raises:
        ConfigError: an unknown key, a missing required key, or a value of the wrong type
            or out of range; the message names the key path.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or cls.__name__}: expected a table, got {data!r}")
    hints = _field_types(cls)
    names = [f.name for f in attrs.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ConfigError(
            f"Unknown config key {where!r}. Valid keys{' of ' + repr(path) if path else ''}: "
            f"{', '.join(names)}."
        )
    kwargs: dict[str, Any] = {}
    for k, v in data.items():
        tp = hints[k]
        key = f"{path}.{k}" if path else k
        if attrs.has(tp):
            if isinstance(v, str) and tp is ComponentSpec:
                v = {"name": v}
            kwargs[k] = spec_from_dict(tp, v, path=key)
        else:
            kwargs[k] = _check_type(key, tp, v)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path or cls.__name__}: {_attrs_message(err)}") from err


def _attrs_message(err: Exception) -> str:
    # attrs validators raise TypeError/ValueError with (msg, attribute, expected, value) args
    args = err.args
    if len(args) >= 4 and isinstance(args[1], attrs.Attribute):
        attr, expected, value = args[1], args[2], args[3]
        exp = getattr(expected, "__name__", expected)
        return f"field {attr.name!r} got {value!r}; expected {exp}"
    return str(err)


def _check_type(key: str, tp: Any, v: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        if not isinstance(v, bool):
            raise ConfigError(f"{key}: expected true or false, got {v!r}")
        return v
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{key}: expected an integer, got {v!r}")
        return v
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {v!r}")
        return float(v)
    if tp is str:
        if not isinstance(v, str):
            raise ConfigError(f"{key}: expected a string, got {v!r}")
        return v
    if origin is tuple:
        if isinstance(v, str) and typing.get_args(tp)[0] is str:
            v = [v]
        if not isinstance(v, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {v!r}")
        inner = typing.get_args(tp)[0]
        return tuple(_check_type(f"{key}[{i}]", inner, x) for i, x in enumerate(v))
    if origin is dict or tp is dict:
        if not isinstance(v, Mapping):
            raise ConfigError(f"{key}: expected a table, got {v!r}")
        return dict(v)
    if isinstance(tp, types.UnionType):  # pragma: no cover - not used by the specs
        return v
    return v


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Write nested dicts of TOML-representable values as a TOML document."""
    lines: list[str] = []
    _emit_table(lines, data, [])
    return "\n".join(lines).strip() + "\n"


def _toml_key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "_-" for c in k) else _toml_value(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        r = repr(v)
        return r if any(c in r for c in ".en") else r + ".0"
    if isinstance(v, str):
        out = v.replace("\\", "\\\\").replace('"', '\\"')
        out = "".join(
            c
            if c.isprintable() or c == " "
            else (f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
            for c in out
        )
        return f'"{out}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {v!r} to TOML")


def _emit_table(lines: list[str], data: Mapping[str, Any], prefix: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    if prefix and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(_toml_key(p) for p in prefix) + "]")
    for k, v in scalars.items():
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables.items():
        _emit_table(lines, v, [*prefix, k])


def spec_to_toml(spec: RecipeSpec) -> str:
    """The spec as a TOML document (see :func:`spec_from_toml`)."""
    return dumps_toml(spec_to_dict(spec))


def spec_from_toml(text: str, *, source: str = "<string>") -> RecipeSpec:
    """Parse a TOML document into a :class:`RecipeSpec`.

    Raises:
        ConfigError: the TOML is malformed (the message names ``source``) or a key is invalid.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from err
    return spec_from_dict(RecipeSpec, data)


# ----------------------------------------------------------------------------------------------
# overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"trainer.episodes=200"`` into ``(["trainer", "episodes"], 200)``.

    The value is read as a TOML value (numbers, booleans, ``"strings"``, ``[lists]``); anything
    that is not valid TOML is taken as a bare string.
    """
    if "=" not in text:
        raise ConfigError(f"Override {text!r} must look like key=value, e.g. trainer.episodes=200")
    key, _, raw = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"Override {text!r}: the key {key!r} is empty or malformed")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return parts, value


def apply_overrides(spec: RecipeSpec, overrides: Iterable[str]) -> RecipeSpec:
    """Apply ``key=value`` overrides and validate the result.

    A key names a field path (``trainer.episodes``, ``evaluation.gzsl_seen``,
    ``generator.name``); for components, keys other than ``name``/``params`` go into the
    component's params (``generator.hidden=256`` is ``generator.params.hidden=256``).

    Raises:
        ConfigError: the key does not exist (the message names it and lists valid keys) or
            the value is invalid for it.
    """
    data = spec_to_dict(spec)
    for text in overrides:
        parts, value = parse_override(text)
        _set_path(data, RecipeSpec, parts, value, ".".join(parts))
    return spec_from_dict(RecipeSpec, data)


def _set_path(data: dict[str, Any], cls: Any, parts: list[str], value: Any, full: str) -> None:
    head, rest = parts[0], parts[1:]
    if cls is None or cls is dict:  # free-form params table
        if rest:
            node = data.setdefault(head, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Override {full!r}: {head!r} is not a table")
            _set_path(node, None, rest, value, full)
        else:
            data[head] = value
        return
    names = [f.name for f in attrs.fields(cls)]
    if head not in names:
        if cls is ComponentSpec:  # shorthand: generator.hidden -> generator.params.hidden
            _set_path(data.setdefault("params", {}), None, parts, value, full)
            return
        prefix = full[: len(full) - len(".".join(parts))].rstrip(".")
        raise ConfigError(
            f"Unknown config key {full!r}. Valid keys{' under ' + repr(prefix) if prefix else ''}: "
            f"{', '.join(names)}."
        )
    tp = _field_types(cls)[head]
    if not rest:
        if attrs.has(tp) and not (tp is ComponentSpec and isinstance(value, str)):
            raise ConfigError(f"Override {full!r}: {head!r} is a table; set one of its keys")
        if tp is ComponentSpec:
            data[head] = {"name": value, "params": {}}
        else:
            data[head] = value
        return
    if attrs.has(tp):
        _set_path(data[head], tp, rest, value, full)
    elif typing.get_origin(tp) is dict or tp is dict:
        _set_path(data[head], None, rest, value, full)
    else:
        raise ConfigError(f"Override {full!r}: {head!r} is a value, not a table")
