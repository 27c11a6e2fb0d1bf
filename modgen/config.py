"""Configuration as frozen attrs values: one :class:`RecipeSpec` describes a whole run.

A spec holds the data (:class:`DataConfig`), one :class:`ComponentSpec` (a registered name and
its parameters) per component slot — the trainer included —, the evaluation
(:class:`EvalConfig`) and the run's machine-side settings (:class:`RunConfig`: seed, device,
threads, logging). Specs are immutable; change them with :func:`attrs.evolve` or
:func:`apply_overrides`.

Plain data crosses the edges only: :func:`spec_from_dict` / :func:`spec_to_dict` (cattrs, with
every error naming its key path), :func:`spec_from_toml` / :func:`spec_to_toml` (tomllib and
tomli-w), and ``key=value`` overrides (:func:`apply_overrides`).

Example:
    >>> spec = RecipeSpec(name="demo")
    >>> spec2 = apply_overrides(spec, ["trainer.episodes=200", "generator.hidden=256"])
    >>> spec2.trainer.params["episodes"], spec2.generator.params["hidden"]
    (200, 256)
    >>> spec_from_toml(spec_to_toml(spec2)) == spec2
    True
"""

from __future__ import annotations

import errno
import math
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
import tomli_w
from attrs import field, frozen

from modgen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ComponentSpec",
    "DataConfig",
    "EvalConfig",
    "RunConfig",
    "RecipeSpec",
    "SEMANTICS",
    "SELECTION_MODES",
    "GZSL_SEEN",
    "SYNTHESIS_BN",
    "MODULATION_TASKS",
    "CHECKPOINTS",
    "spec_to_dict",
    "spec_from_dict",
    "spec_to_toml",
    "spec_from_toml",
    "read_toml_text",
    "apply_overrides",
    "parse_override",
    "check_device_name",
]

S = TypeVar("S")

#: Values of ``DataConfig.semantics``.
SEMANTICS: tuple[str, ...] = ("att", "original_att", "sent")
#: Values of ``EvalConfig.selection`` (see :mod:`modgen.evaluate.protocols`).
SELECTION_MODES: tuple[str, ...] = ("val", "none", "test")
#: Values of ``EvalConfig.gzsl_seen``.
GZSL_SEEN: tuple[str, ...] = ("synthetic", "real")
#: Values of ``EvalConfig.checkpoint``: the last episode's networks, or the training length
#: chosen on the validation classes.
CHECKPOINTS = ("last", "val")
#: Values of ``EvalConfig.synthesis_bn`` (see :func:`modgen.evaluate.synthesis.synthesize`).
SYNTHESIS_BN: tuple[str, ...] = ("running", "batch")
#: Values of ``EvalConfig.modulation_task`` (see :func:`modgen.evaluate.synthesis.synthesize`).
MODULATION_TASKS: tuple[str, ...] = ("own", "nearest_seen")


# ----------------------------------------------------------------------------------------------
# field validators: each raises ConfigError naming the field (cattrs adds the path)


def choice(choices: tuple[str, ...]) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise ConfigError(f"{attribute.name}: expected one of {', '.join(choices)}, got {value!r}")

    return check


def int_at_least(low: int) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{attribute.name}: expected an integer >= {low}, got {value!r}")

    return check


def number_at_least(low: float) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{attribute.name}: expected a number, got {value!r}")
        if not math.isfinite(value) or value < low:
            raise ConfigError(f"{attribute.name}: expected a finite number >= {low:g}, got {value!r}")

    return check


def _int_to_float(value: Any) -> Any:
    """An integer as a float (TOML's ``0`` and ``0.0`` are one setting); anything else as is."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _fraction(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, float) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{attribute.name}: expected a number in [0, 1], got {value!r}")


def flag(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{attribute.name}: expected true or false, got {value!r}")


def _text(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{attribute.name}: expected a string, got {value!r}")


def check_device_name(value: Any, *, key: str = "device") -> str:
    """``value`` if it names a device (``auto``, ``cpu``, ``cuda``, ``cuda:N``), else ConfigError.

    Example:
        >>> check_device_name("cuda:1")
        'cuda:1'
    """
    if not isinstance(value, str) or not (
        value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())
    ):
        raise ConfigError(f"{key}: expected auto, cpu, cuda or cuda:N, got {value!r}")
    return value


def _device(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_device_name(value, key=attribute.name)


def check_toml_value(key: str, value: Any) -> None:
    """Raise ConfigError unless ``value`` can be written to TOML (finite numbers, no None).

    Example:
        >>> check_toml_value("generator.hidden", [128, 64])
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: {value!r} is not a finite number")
    if isinstance(value, (str, int, float, bool)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_toml_value(f"{key}[{i}]", item)
        return
    if isinstance(value, Mapping):
        for k, item in value.items():
            if not isinstance(k, str) or not k:
                raise ConfigError(f"{key}: table keys must be non-empty strings, got {k!r}")
            check_toml_value(f"{key}.{k}", item)
        return
    raise ConfigError(f"{key}: {value!r} ({type(value).__name__}) cannot be stored in a config file")


def _plain(value: Any) -> Any:
    """Tuples as lists, mappings as dicts, recursively (what TOML stores)."""
    if isinstance(value, (list, tuple)):
        return [_plain(x) for x in value]
    if isinstance(value, Mapping):
        return {k: _plain(x) for k, x in value.items()}
    return value


def _table(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a table of parameters, got {value!r}")
    return {k: _plain(v) for k, v in value.items()}


def _params(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    check_toml_value(attribute.name, value)


# ----------------------------------------------------------------------------------------------
# the specs


@frozen
class ComponentSpec:
    """A component: its registered ``name`` and the keyword ``params`` to build it with.

    Attributes:
        name: the registry key, e.g. ``"attribute"`` or ``"myplugin.film"``.
        params: keyword arguments for the component's constructor (TOML-representable).

    Example:
        >>> ComponentSpec("mlp", {"hidden": 128}).params["hidden"]
        128
    """

    name: str = field(validator=_text)
    params: dict[str, Any] = field(factory=dict, converter=_table, validator=_params)


def _component(name: str, **params: Any) -> Any:
    return field(factory=lambda: ComponentSpec(name, dict(params)))


@frozen
class DataConfig:
    """Which data set to load and how.

    Attributes:
        dataset: a registered dataset loader (``digits``, ``fashion-mnist``, ``xlsa17``, ...).
        root: the folder of the data files (``xlsa17``: the folder holding ``res101.mat``), or
            ``""`` for embedded data.
        name: the data set's name in reports (``xlsa17``: AWA1, AWA2, CUB, SUN, APY or any
            folder's name), or ``""`` for the loader's own.
        semantics: ``att``, ``original_att`` or ``sent`` (xlsa17 only).
        validation: load the validation view (train on ``train``, test on ``val``).
        options: further keyword arguments for the loader.
    """

    dataset: str = field(default="digits", validator=_text)
    root: str = field(default="", validator=_text)
    name: str = field(default="", validator=_text)
    semantics: str = field(default="att", validator=choice(SEMANTICS))
    validation: bool = field(default=False, validator=flag)
    options: dict[str, Any] = field(factory=dict, converter=_table, validator=_params)

    @property
    def label(self) -> str:
        """The data set's name as reports and run names show it.

        Example:
            >>> DataConfig(dataset="xlsa17", name="AWA2").label, DataConfig().label
            ('AWA2', 'digits')
        """
        return self.name or self.dataset


def _classifier_list(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@frozen
class EvalConfig:
    """How synthetic features are made and judged (Section II-E and III).

    Attributes:
        classifiers: registered final classifiers to train and report.
        zsl_samples: synthetic features per unseen class for ZSL.
        gzsl_samples: synthetic features per class for GZSL.
        sigma_test: standard deviation of z at synthesis (the paper: 1).
        gzsl_seen: ``synthetic`` (Section II-E) or ``real`` (Section III-G) seen features.
        selection: how each classifier's hyper-parameters are chosen: ``val`` (a second
            generator trained on the ``train`` classes is judged on the ``val`` classes it never
            saw, Xian et al.'s protocol), ``none`` (the classifiers' own parameters) or
            ``test`` (the literature-comparison mode; every number it produces is marked).
        retrieval_k: the k of zero-shot retrieval (top-k precision averaged over classes).
        seeds: evaluation seeds (synthesis noise and classifier initialisation); every
            measurement is their mean, with the standard deviation beside it.
        task_size: ``N`` of a synthesis task (0: the training tasks' ``task_sampler.n_way``).
        context_tasks: how each class's generator is modulated at synthesis: 0 (the paper:
            the class alone as a task) or ``K``: the mean modulation over ``K`` training-like
            tasks of the class with ``N - 1`` other target classes
            (:func:`~modgen.evaluate.synthesis.synthesize`).
        modulation_task: the task whose modulation a class gets at synthesis: ``own`` (the
            paper: the class's own attribute as the task) or ``nearest_seen``: the ``N`` seen
            classes nearest to it by attribute cosine, so the modulator only meets seen classes'
            attributes (:func:`~modgen.evaluate.synthesis.nearest_seen_tasks`; on the validation
            view the seen classes are the ``train`` classes). Not with ``context_tasks``.
        synthesis_bn: where the generator's BatchNorm takes its statistics at synthesis:
            ``running`` (the running statistics calibrated over training-like episodes) or
            ``batch`` (the statistics of each synthesis call's samples, all its target classes
            together; never per class).
        checkpoint: which networks are evaluated: ``last`` (the last episode's, the paper) or
            ``val``: the training length is chosen on the validation classes — the selection
            model (trained on the ``train`` classes) is scored at each of its checkpoints by
            ``ncm_cosine_unseen`` on the ``val`` classes it never saw, the best episode is kept
            (``RUN/selection/checkpoints.json``), and the final model trains that many episodes.
            Fixed when the run is trained.
        classifier_params: per-classifier keyword arguments, ``{name: {param: value}}``.
        real_unseen_fraction: a positive control (0, the default: off). The fraction ``p`` of
            each unseen class's synthetic features (ZSL set, and the unseen part of the GZSL set)
            replaced by real features of that class, drawn from a donor half of its
            ``test_unseen`` samples that is never measured
            (:func:`~modgen.evaluate.sets.real_unseen_halves`); the other half is measured.
            Selection on the validation view is not touched.
        real_unseen_holdout: measure on the same half of ``test_unseen`` without replacing
            anything (implied by ``real_unseen_fraction > 0``): the control's ``p = 0`` arm, so
            that every ``p`` is measured on the same samples.
    """

    classifiers: tuple[str, ...] = field(
        default=("softmax", "weighted-softmax", "svm", "weighted-svm"), converter=_classifier_list
    )
    zsl_samples: int = field(default=100, validator=int_at_least(1))
    gzsl_samples: int = field(default=300, validator=int_at_least(1))
    sigma_test: float = field(default=1.0, converter=float, validator=number_at_least(0))
    gzsl_seen: str = field(default="synthetic", validator=choice(GZSL_SEEN))
    selection: str = field(default="val", validator=choice(SELECTION_MODES))
    retrieval_k: tuple[int, ...] = field(default=(5, 10), converter=tuple)
    seeds: int = field(default=3, validator=int_at_least(1))
    task_size: int = field(default=0, validator=int_at_least(0))
    context_tasks: int = field(default=0, validator=int_at_least(0))
    modulation_task: str = field(default="own", validator=choice(MODULATION_TASKS))
    synthesis_bn: str = field(default="running", validator=choice(SYNTHESIS_BN))
    checkpoint: str = field(default="last", validator=choice(CHECKPOINTS))
    classifier_params: dict[str, Any] = field(factory=dict, converter=_table, validator=_params)
    real_unseen_fraction: float = field(default=0.0, converter=_int_to_float, validator=_fraction)
    real_unseen_holdout: bool = field(default=False, validator=flag)

    @property
    def holds_out_real_unseen(self) -> bool:
        """Whether half of each unseen class's test samples is held out (see the attributes)."""
        return self.real_unseen_holdout or self.real_unseen_fraction > 0

    @modulation_task.validator
    def _check_modulation_task(self, attribute: attrs.Attribute[Any], value: str) -> None:
        if value != "own" and self.context_tasks:
            raise ConfigError(
                f"evaluation.modulation_task={value!r} and evaluation.context_tasks="
                f"{self.context_tasks} both choose the synthesis task; set one of them "
                "(evaluation.modulation_task=own to keep context_tasks)"
            )

    @retrieval_k.validator
    def _check_k(self, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
        for k in value:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ConfigError(f"retrieval_k: expected integers >= 1, got {list(value)!r}")

    @classifiers.validator
    def _check_classifiers(self, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
        if not value or not all(isinstance(c, str) and c for c in value):
            raise ConfigError(
                f"classifiers: expected a non-empty list of final classifier names, got {list(value)!r}"
            )


def _logger_list(value: Any) -> tuple[str, ...]:
    """``value`` as a tuple of names with ``jsonl`` first and no repeats (``jsonl`` is always on)."""
    names = (
        [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
    )
    return tuple(dict.fromkeys(["jsonl", *names]))


@frozen
class RunConfig:
    """Where and how a run executes; none of it changes what is computed, except the seed.

    Attributes:
        seed: the run's seed (network initialisation, task sampling and noise each get their
            own stream derived from it, so two recipes with the same seed see the same tasks).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        threads: CPU threads for torch; 0 lets modgen choose (see :mod:`modgen.runtime`).
        log_every: episodes between metric records (and host synchronisations).
        checkpoint_every: episodes between checkpoints (0: only at the end).
        loggers: registered run loggers (:mod:`modgen.loggers`): ``jsonl`` (the run folder's own
            files, always on and always first), ``tensorboard``, ``mlflow``.
    """

    seed: int = field(default=0, validator=int_at_least(0))
    device: str = field(default="auto", validator=_device)
    threads: int = field(default=0, validator=int_at_least(0))
    log_every: int = field(default=50, validator=int_at_least(1))
    checkpoint_every: int = field(default=1000, validator=int_at_least(0))
    loggers: tuple[str, ...] = field(default=("jsonl",), converter=_logger_list)

    @loggers.validator
    def _check_loggers(self, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
        if not all(isinstance(n, str) and n for n in value):
            raise ConfigError(
                f"loggers: expected a list of logger names such as ['tensorboard'], got {list(value)!r}"
            )

    @seed.validator
    def _check_seed(self, attribute: attrs.Attribute[Any], value: int) -> None:
        if value >= 2**63:
            raise ConfigError(f"seed: expected an integer below 2**63, got {value}")


@frozen
class RecipeSpec:
    """A complete, resolved description of a run.

    Attributes:
        name: the recipe's name (``amaz``, ``zsml``, ``clswgan``, ...).
        description: one line on what the recipe is.
        paper: the paper section or table the recipe follows.
        data: see :class:`DataConfig`.
        generator, modulator, critic, aux_classifier, attribute_decoder, quality_weighter,
            task_sampler, trainer: the components (:class:`ComponentSpec`). The trainer's
            params are validated against its settings class
            (:class:`~modgen.train.settings.MetaSettings` for ``meta``).
        evaluation: see :class:`EvalConfig`.
        run: see :class:`RunConfig`.
    """

    name: str = field(validator=_text)
    description: str = field(default="", validator=_text)
    paper: str = field(default="", validator=_text)
    data: DataConfig = field(factory=DataConfig)
    generator: ComponentSpec = _component("mlp")
    modulator: ComponentSpec = _component("attribute")
    critic: ComponentSpec = _component("mlp")
    aux_classifier: ComponentSpec = _component("mlp")
    attribute_decoder: ComponentSpec = _component("mlp")
    quality_weighter: ComponentSpec = _component("cosine")
    task_sampler: ComponentSpec = _component("episodic")
    trainer: ComponentSpec = _component("meta")
    evaluation: EvalConfig = field(factory=EvalConfig)
    run: RunConfig = field(factory=RunConfig)

    def components(self) -> dict[str, ComponentSpec]:
        """The component specs by kind (the trainer included)."""
        return {name: getattr(self, name) for name in COMPONENT_SLOTS}


for _cls in (ComponentSpec, DataConfig, EvalConfig, RunConfig, RecipeSpec):
    attrs.resolve_types(_cls, globals())

#: Sections of a spec that name a component.
COMPONENT_SLOTS: tuple[str, ...] = tuple(f.name for f in attrs.fields(RecipeSpec) if f.type is ComponentSpec)

#: Keys that moved out of the trainer section, with their new place (named in errors).
MOVED_KEYS: dict[str, str] = {
    "trainer.seed": "run.seed",
    "trainer.device": "run.device",
    "trainer.log_every": "run.log_every",
    "trainer.checkpoint_every": "run.checkpoint_every",
    "trainer.noise_dim": "generator.noise_dim",
    "trainer.options": "trainer.<param>",
}


# ----------------------------------------------------------------------------------------------
# structure / unstructure (cattrs) and TOML (tomllib / tomli-w)


def _strict(kind: type, what: str) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise ConfigError(f"expected {what}, got {value!r}")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise ConfigError(f"expected {what}, got {value!r}")
        return value

    return hook


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(float, _strict(float, "a number"))
    conv.register_structure_hook(bool, _strict(bool, "true or false"))
    conv.register_structure_hook(str, _strict(str, "a string"))

    def tuple_of(kind: type) -> Any:
        def hook(value: Any, _: Any) -> tuple[Any, ...]:
            if isinstance(value, str) and kind is str:
                value = [value]
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"expected a list, got {value!r}")
            return tuple(conv.structure(v, kind) for v in value)

        return hook

    def is_type(expected: Any) -> Any:
        return lambda t: t == expected

    for tp, kind in ((tuple[str, ...], str), (tuple[int, ...], int)):
        conv.register_structure_hook_func(is_type(tp), tuple_of(kind))

    def table(value: Any, _: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a table, got {value!r}")
        return dict(value)

    conv.register_structure_hook_func(lambda t: t == dict[str, Any], table)
    base = cattrs.gen.make_dict_structure_fn(ComponentSpec, conv, _cattrs_forbid_extra_keys=True)

    def component(value: Any, _: Any) -> ComponentSpec:
        if isinstance(value, str):  # shorthand: generator = "mlp"
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a component table (name, params) or a name, got {value!r}")
        return base(value, ComponentSpec)

    conv.register_structure_hook(ComponentSpec, component)
    return conv


_CONVERTER = _make_converter()


def _note_key(err: BaseException, path: str) -> str:
    """The part of the key path cattrs' validation note on ``err`` names: ``.field`` (or ``field`` at
    the top) for an attribute, ``[i]`` for a list item, ``""`` without a note."""
    from cattrs.errors import AttributeValidationNote, IterableValidationNote

    for note in getattr(err, "__notes__", []) or []:
        if isinstance(note, AttributeValidationNote):
            return f".{note.name}" if path else note.name
        if isinstance(note, IterableValidationNote):
            return f"[{note.index}]"
    return ""


def _error_lines(err: BaseException, path: str) -> list[tuple[str, str]]:
    """(key path, message) of every leaf error of a cattrs error tree."""
    if isinstance(err, cattrs.ClassValidationError | cattrs.IterableValidationError):
        out: list[tuple[str, str]] = []
        for sub in err.exceptions:
            out += _error_lines(sub, path + _note_key(sub, path))
        return out
    if isinstance(err, cattrs.ForbiddenExtraKeysError):
        return [(path, f"unknown key(s) {', '.join(sorted(err.extra_fields))}")]
    if isinstance(err, KeyError):
        return [(path, "required key missing")]
    message = str(err)
    if isinstance(err, ConfigError) and message.split(":", 1)[0].isidentifier() and ":" in message:
        # a field validator's "field: message" inside the class at ``path``
        name, _, rest = message.partition(":")
        return [(f"{path}.{name}" if path else name, rest.strip())]
    return [(path, message)]


def _unknown_key_message(cls: type, path: str, extra: list[str]) -> str:
    names = [f.name for f in attrs.fields(cls)]
    extra = sorted(extra, key=lambda k: (f"{path}.{k}" not in MOVED_KEYS, k))  # a moved key explains most
    key = f"{path}.{extra[0]}" if path else extra[0]
    moved = MOVED_KEYS.get(key)
    hint = f" It moved to {moved!r}." if moved else ""
    if cls is ComponentSpec and any(f"{path}.{k}" not in MOVED_KEYS for k in extra):
        hint += f" A component's parameters go under [{path}.params] (or --set {path}.<param>=...)."
    return f"Unknown config key {key!r}. Valid keys{' of ' + repr(path) if path else ''}: {', '.join(names)}.{hint}"


def _find_class(root: type, path: str) -> type | None:
    cls: Any = root
    for part in [p for p in path.split(".") if p]:
        if not attrs.has(cls):
            return None
        cls = {f.name: f.type for f in attrs.fields(cls)}.get(part)
    return cls if attrs.has(cls) else None


def spec_from_dict(cls: type[S], data: Mapping[str, Any], *, source: str = "") -> S:
    """Build ``cls`` (a spec class) from plain data (parsed TOML), naming the key of any error.

    Raises:
        ConfigError: an unknown key, a missing required key, or a value of the wrong type or
            out of range; the message names ``source`` (a file) and the key path.

    Example:
        >>> spec_from_dict(RunConfig, {"seed": 3}).seed
        3
    """
    where = f"{source}: " if source else ""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}expected a table of {cls.__name__} keys, got {data!r}")
    try:
        return _CONVERTER.structure(dict(data), cls)
    except (cattrs.BaseValidationError, ConfigError) as err:
        path, message = _error_lines(err, "")[0]
        if message.startswith("unknown key(s) "):
            extra = message[len("unknown key(s) ") :].split(", ")
            owner = _find_class(cls, path)
            if owner is not None:
                raise ConfigError(where + _unknown_key_message(owner, path, extra)) from None
        raise ConfigError(f"{where}{path}: {message}" if path else f"{where}{message}") from None


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A spec as plain dicts, lists and scalars (TOML-ready).

    Example:
        >>> spec_to_dict(RunConfig())["device"]
        'auto'
    """
    return _plain(_CONVERTER.unstructure(spec))


def spec_to_toml(spec: Any) -> str:
    """The spec as a TOML document (see :func:`spec_from_toml`).

    Example:
        >>> print(spec_to_toml(RunConfig()).splitlines()[0])
        seed = 0
    """
    return tomli_w.dumps(_without_empty_tables(spec_to_dict(spec)))


#: The tables of a spec that are left out of its TOML when empty (their default is empty).
_OPTIONAL_TABLES = ("params", "options", "classifier_params")


def _without_empty_tables(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the spec's own empty tables (``[generator.params]`` with nothing in it);
    an empty table that is a *value* (``grid = {}``: no model selection) is kept."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in _OPTIONAL_TABLES:
            value = _without_empty_tables(value)
        elif key in _OPTIONAL_TABLES and value == {}:
            continue
        out[key] = value
    return out


def read_toml_text(path: str | os.PathLike[str], what: str = "config file") -> str:
    """The text of the TOML file ``path`` (``what`` names it in errors); a UTF-8 byte-order mark
    at its start is accepted (and dropped), as editors on Windows write one.

    Raises:
        ConfigError: the file is missing, a dangling symlink or a symlink loop, not a file,
            unreadable, or not UTF-8 text (the message names the file and the fix).

    Example:
        >>> import pathlib, tempfile
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.toml"
        >>> _ = f.write_bytes(b"\\xef\\xbb\\xbfname = 'x'\\n")
        >>> read_toml_text(f)
        "name = 'x'\\n"
    """
    p = Path(path)
    shown = f"{what} {str(p)!r}"
    if p.is_symlink():
        try:
            p.resolve(strict=True)
        except RuntimeError:  # Python < 3.13
            raise ConfigError(f"{shown} is a symlink loop; point it at a TOML file") from None
        except OSError as err:
            reason = (
                "a symlink loop"
                if err.errno == errno.ELOOP
                else f"a dangling symlink (to {os.readlink(p)!r})"
            )
            raise ConfigError(f"{shown} is {reason}; point it at a TOML file") from None
    if not p.exists():
        raise ConfigError(f"{shown} does not exist")
    if not p.is_file():
        raise ConfigError(f"{shown} is not a file; name a TOML file")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise ConfigError(f"{shown} cannot be read: {err.strerror or err}") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{shown} is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
            "it must be a TOML file (modgen recipe show writes one)"
        ) from None


def spec_from_toml(text: str, *, source: str = "<string>") -> RecipeSpec:
    """Parse a TOML document into a :class:`RecipeSpec`.

    Raises:
        ConfigError: the TOML is malformed or a key is invalid (the message names ``source``).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from None
    return spec_from_dict(RecipeSpec, data, source=source)


# ----------------------------------------------------------------------------------------------
# overrides


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"trainer.episodes=200"`` into ``(["trainer", "episodes"], 200)``.

    The value is read as a TOML value (numbers, booleans, ``"strings"``, ``[lists]``,
    ``{tables}``); a bare word is taken as a string. Anything else that is not valid TOML is
    an error (``--set x=[1, 2`` is refused rather than stored as the text ``[1, 2``).

    Raises:
        ConfigError: no ``=``, an empty key, a malformed value, or a line break (one ``--set``
            sets one key: a second line would otherwise be dropped unread).

    Example:
        >>> parse_override("critic.hidden=[128, 64]")
        (['critic', 'hidden'], [128, 64])
        >>> parse_override("evaluation.gzsl_seen=real")
        (['evaluation', 'gzsl_seen'], 'real')
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. trainer.episodes=200")
    if "\n" in text or "\r" in text:
        raise ConfigError(
            f"--set {text!r}: holds a line break; one --set sets one key, give each its own "
            "(--set a=1 --set b=2)"
        )
    key, _, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"--set {text!r}: the key {key!r} is empty or malformed")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if not raw or any(c in raw for c in "[]{}\"'=,"):
            raise ConfigError(
                f"--set {text!r}: {raw!r} is not a valid value; write numbers, true/false, "
                f'"strings" or [lists] as in TOML, e.g. {key}={_quoted_example(raw)}'
            ) from None
        value = raw
    check_toml_value(key, value)
    return parts, value


def _quoted_example(raw: str) -> str:
    """``raw`` with its bare words quoted, as TOML wants them (``[svm, softmax]`` ->
    ``["svm", "softmax"]``), or a generic example when that is no help.

    Example:
        >>> _quoted_example("[svm, softmax]")
        '["svm", "softmax"]'
    """
    if raw.startswith("[") and raw.endswith("]"):
        items = [i.strip().strip("\"'") for i in raw[1:-1].split(",") if i.strip()]
        if items:

            def one(item: str) -> str:
                try:
                    tomllib.loads(f"v = {item}")
                    return item
                except tomllib.TOMLDecodeError:
                    return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'

            return "[" + ", ".join(one(i) for i in items) + "]"
    return '[128, 64] or "text"'


def apply_overrides(spec: RecipeSpec, overrides: Iterable[str]) -> RecipeSpec:
    """Apply ``key=value`` overrides and validate the result.

    A key names a field path (``run.seed``, ``evaluation.gzsl_seen``, ``generator.name``); in
    a component section, keys other than ``name``/``params`` go into the component's params
    (``generator.hidden=256`` is ``generator.params.hidden=256``, ``trainer.episodes=200`` is
    ``trainer.params.episodes=200``).

    Raises:
        ConfigError: the key does not exist (the message names it and lists valid keys) or
            the value is invalid for it.

    Example:
        >>> apply_overrides(RecipeSpec(name="x"), ["run.seed=4"]).run.seed
        4
    """
    data = spec_to_dict(spec)
    for text in overrides:
        parts, value = parse_override(text)
        _set_path(data, RecipeSpec, parts, value, ".".join(parts))
    return spec_from_dict(RecipeSpec, data)


def _set_path(data: dict[str, Any], cls: Any, parts: list[str], value: Any, full: str) -> None:
    head, rest = parts[0], parts[1:]
    if cls is None:  # a free-form table (component params, loader options)
        if rest:
            node = data.setdefault(head, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {full}: {head!r} is a value, not a table")
            _set_path(node, None, rest, value, full)
        else:
            data[head] = value
        return
    fields = {f.name: f.type for f in attrs.fields(cls)}
    if head not in fields:
        if cls is ComponentSpec:  # shorthand: generator.hidden -> generator.params.hidden
            _set_path(data.setdefault("params", {}), None, parts, value, full)
            return
        prefix = full[: len(full) - len(".".join(parts))].rstrip(".")
        raise ConfigError(_unknown_key_message(cls, prefix, [head]).replace("config key", "key", 1))
    tp = fields[head]
    nested = _find_class(cls, head)
    if not rest:
        if tp is ComponentSpec:
            if not isinstance(value, str):
                raise ConfigError(f"--set {full}: expected a component name, got {value!r}")
            data[head] = {"name": value, "params": {}}
        elif nested is not None:
            raise ConfigError(
                f"--set {full}: {head!r} is a table; set one of its keys, e.g. {full}.<key>=..."
            )
        else:
            data[head] = value
        return
    if nested is not None:
        _set_path(data[head], nested, rest, value, full)
    elif "dict" in str(tp):
        _set_path(data[head], None, rest, value, full)
    else:
        raise ConfigError(f"--set {full}: {head!r} is a value, not a table")
