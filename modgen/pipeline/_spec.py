"""Spec in: a recipe (or a config file), the data, a preset and overrides become one validated spec.

Also what a spec is called: its id (:func:`spec_id`) and its default run folder
(:func:`default_run_folder`).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve

from modgen.config import RecipeSpec, apply_overrides, read_toml_text, spec_from_toml, spec_to_toml
from modgen.errors import ConfigError, DataError, PluginError, UnknownComponentError
from modgen.recipes import DataShapes

if TYPE_CHECKING:
    from modgen.registry import Registries

__all__ = [
    "read_spec",
    "resolve_spec",
    "validate_spec",
    "spec_id",
    "default_run_folder",
    "run_folder",
    "with_run_settings",
]


def read_spec(path: str | os.PathLike[str]) -> RecipeSpec:
    """A spec from a TOML file (``modgen recipe show`` writes them; run folders hold config.toml).

    Raises:
        ConfigError: no such file, unreadable, or invalid (the message names the file and key).
    """
    return spec_from_toml(read_toml_text(path), source=str(path))


def _with_data(
    spec: RecipeSpec,
    registries: Registries,
    *,
    dataset: str | None,
    data: str | os.PathLike[str] | None,
    name: str | None,
) -> RecipeSpec:
    """``spec`` with its data section set from ``--dataset``, ``--data`` and ``--name``."""
    from modgen.data.xlsa17 import XLSA17_DATASETS

    section = spec.data
    root = str(Path(data).expanduser()) if data is not None else None
    if dataset is not None:
        if dataset.upper() in XLSA17_DATASETS:
            if root is None:
                raise ConfigError(
                    f"--dataset {dataset}: an xlsa17 data set needs its folder; add --data /path/to/{dataset.upper()} "
                    "(the folder holding res101.mat and att_splits.mat)"
                )
            section = evolve(section, dataset="xlsa17", name=dataset.upper(), root=root, options={})
        elif dataset in registries.dataset:
            section = evolve(section, dataset=dataset, name="", root=root or "", options={})
        else:
            names = [*registries.dataset.names(), *XLSA17_DATASETS]
            raise UnknownComponentError(
                f"--dataset {dataset!r}: unknown data set. Available: {', '.join(names)} "
                "(or give an xlsa17-layout folder with --data DIR alone)"
            )
    elif root is not None:
        if section.dataset not in ("xlsa17",) and not (Path(root) / "res101.mat").exists():
            if not any(Path(root).glob("*/res101.mat")):
                raise DataError(
                    f"--data {root!r}: no res101.mat there; --data takes an xlsa17-layout folder "
                    "(res101.mat + att_splits.mat). For another loader add --dataset NAME."
                )
        section = evolve(section, dataset="xlsa17", root=root, name=Path(root).name, options={})
    if name is not None:
        if not name.strip():
            raise ConfigError("--name: expected a non-empty data set name")
        section = evolve(section, name=name)
    return evolve(spec, data=section)


def _preset_for(spec: RecipeSpec, registries: Registries) -> str:
    """The data set's own preset: the one registered under its label (``AWA2``, ``digits``, a
    plugin's ``myplugin.data``), or under the label in capitals (a folder named ``awa2``); else
    ``auto`` (sizes from the data). A data set's own preset sizes its default features, so the
    embedded sets with ImageNet-CNN features (``features=imagenet``, like a user's xlsa17 folder)
    get ``auto`` too."""
    if spec.data.options.get("features") == "imagenet":
        return "auto"
    label = spec.data.label
    own = (key for key in dict.fromkeys((label, label.upper())) if key in registries.preset)
    return next(own, "auto")


def data_shapes(spec: RecipeSpec, registries: Registries) -> DataShapes:
    """What the ``auto`` preset reads of ``spec``'s data: dimensions, class and sample counts of
    the final and of the validation view, and the range of the training features.

    Raises:
        DataError, ConfigError: the data cannot be loaded (see :func:`modgen.data.load_dataset`).
    """
    import numpy as np

    from modgen.data import load_dataset

    data = load_dataset(registries, evolve(spec.data, validation=False))
    views = [data.trainval]
    train = 0
    if data.has_validation:
        view = data.validation_view()
        views.append(view.trainval)
        train = int(view.seen_classes.size)
    fit = data.features[data.trainval]
    counts = [np.unique(data.labels[idx], return_counts=True)[1].min() for idx in views if idx.size]
    accepted = registries.dataset.accepts(spec.data.dataset)
    return DataShapes(
        feature_dim=data.feature_dim,
        attr_dim=data.attr_dim,
        samples=int(data.trainval.size),
        seen=int(data.seen_classes.size),
        train=train,
        min_per_class=int(min(counts)) if counts else 1,
        nonnegative=bool(fit.min() >= 0),
        unit_range=bool(fit.min() >= 0 and fit.max() <= 1),
        scalable=accepted is None or "scaling" in accepted,
    )


def _apply_preset(spec: RecipeSpec, registries: Registries, name: str, data: RecipeSpec) -> RecipeSpec:
    """``spec`` through the preset ``name``; ``data`` is the spec whose data it sizes for (with
    the overrides applied, so ``--set data.options.features=imagenet`` counts)."""
    preset: Any = registries.preset.get(name)
    if "shapes" in inspect.signature(preset).parameters:
        spec = preset(spec, registries, shapes=data_shapes(data, registries))
    else:
        spec = preset(spec, registries)
    if not isinstance(spec, RecipeSpec):
        raise PluginError(f"preset {name!r} returned {type(spec).__name__}, expected a RecipeSpec")
    if data.evaluation.context_tasks and spec.evaluation.modulation_task != data.evaluation.modulation_task:
        # context tasks asked for (--set evaluation.context_tasks=K) choose the synthesis task
        # themselves: the preset's modulation_task gives way instead of conflicting with them
        spec = evolve(
            spec, evaluation=evolve(spec.evaluation, modulation_task=data.evaluation.modulation_task)
        )
    return spec


def resolve_spec(
    registries: Registries,
    recipe: str | None = "amaz",
    *,
    config: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    data: str | os.PathLike[str] | None = None,
    name: str | None = None,
    preset: str | None = None,
    overrides: Sequence[str] = (),
    episodes: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> RecipeSpec:
    """The spec a run executes: recipe (or config file), data, preset, overrides, run settings —
    in that order.

    Args:
        registries: where recipes, presets and components are looked up.
        recipe: a registered recipe (ignored when ``config`` is given).
        config: a spec TOML file (``modgen recipe show NAME --dataset D > x.toml``); it is taken
            as resolved, so no preset is applied unless ``preset`` names one.
        dataset: a registered data set (``digits``, ``fashion-mnist``) or an xlsa17 name
            (``AWA2``: needs ``data``). Without ``config``, ``dataset`` and ``data``: digits.
        data: a data folder; alone, an xlsa17-layout folder whose name names the data set.
        name: the data set's name in reports (default: the folder's or the loader's).
        preset: a registered preset (``modgen list preset``); default: the data set's own, the
            preset registered under its label if there is one (AWA1/AWA2/CUB/SUN/APY, digits,
            fashion-mnist, or a plugin's data set whose plugin registers a preset of its name),
            else ``auto``: sizes from the data (:func:`modgen.recipes.auto_sizes`). A preset
            with a ``shapes`` parameter gets the data's :func:`data_shapes`.
        overrides: ``key=value`` strings (``--set``).
        episodes, seed, device, threads: ``trainer.episodes``, ``run.seed``, ``run.device`` and
            ``run.threads`` as typed values (``--episodes``, ``--seed``, ``--device``,
            ``--threads``), applied last.

    Returns:
        A validated :class:`RecipeSpec` (see :func:`validate_spec`).

    Raises:
        UnknownComponentError: an unknown recipe, preset, data set or component.
        ConfigError: an invalid value or key (the message names it).
    """
    if config is not None:
        spec = read_spec(config)
    else:
        spec = _from_recipe(registries, recipe or "amaz")
        if dataset is None and data is None:
            dataset = "digits"
    spec = _with_data(spec, registries, dataset=dataset, data=data, name=name)
    overridden = apply_overrides(spec, overrides)  # the data the run will load, to choose and size for
    chosen = (
        preset
        if preset is not None
        else (None if config is not None else _preset_for(overridden, registries))
    )
    if chosen:
        spec = _apply_preset(spec, registries, chosen, overridden)
    why = (
        "--preset"
        if preset is not None
        else ("sizes from the data" if chosen == "auto" else "the data set's own")
    )
    logging.getLogger("modgen.pipeline").debug(
        f"preset: {chosen} ({why})" if chosen else "preset: none (the config file is a whole spec)"
    )
    spec = validate_spec(apply_overrides(spec, overrides), registries)
    if any(v is not None for v in (episodes, seed, device, threads)):  # they win over valid overrides
        spec = with_run_settings(spec, episodes=episodes, seed=seed, device=device, threads=threads)
        spec = validate_spec(spec, registries)
    return spec


def with_run_settings(
    spec: RecipeSpec, *, episodes: int | None, seed: int | None, device: str | None, threads: int | None
) -> RecipeSpec:
    """``spec`` with the typed run settings that are given (``--episodes``, ``--seed``, ``--device``,
    ``--threads``; a device name is checked here), not yet validated (see :func:`validate_spec`)."""
    from modgen.config import check_device_name

    if episodes is not None:
        spec = evolve(
            spec, trainer=evolve(spec.trainer, params={**spec.trainer.params, "episodes": episodes})
        )
    run = spec.run
    if seed is not None:
        run = evolve(run, seed=seed)
    if device is not None:
        run = evolve(run, device=check_device_name(device, key="--device"))
    if threads is not None:
        run = evolve(run, threads=threads)
    return evolve(spec, run=run)


def _from_recipe(registries: Registries, recipe: str) -> RecipeSpec:
    """The spec recipe ``recipe`` makes; a failure of a plugin's recipe names the recipe and the plugin.

    Raises:
        UnknownComponentError: no such recipe, or the recipe names a missing component.
        PluginError: the recipe's factory raised or returned something other than a RecipeSpec.
    """
    from modgen.plugins import plugin_code
    from modgen.registry import BUILTIN

    entry = registries.recipe.entry(recipe) if recipe in registries.recipe else None
    factory = registries.recipe.get(recipe) if entry is None else entry.obj
    origin = entry.origin if entry is not None else BUILTIN
    whose = f"recipe {recipe!r}" + (f" of plugin {origin!r}" if origin != BUILTIN else "")
    try:
        with plugin_code() as signals:
            spec = factory()
    except BaseException as err:  # noqa: BLE001 - a plugin's code: named, never a traceback
        if signals.received or origin == BUILTIN:
            raise
        raise PluginError(
            f"{whose} failed: {type(err).__name__}: {err}; fix the plugin, or uninstall it (modgen plugins)"
        ) from err
    if not isinstance(spec, RecipeSpec):
        raise PluginError(f"{whose} returned {type(spec).__name__}, expected a RecipeSpec")
    for slot, comp in spec.components().items():
        try:
            registries.kind(slot).get(comp.name)
        except UnknownComponentError as err:
            raise UnknownComponentError(f"{whose}, {slot}: {err}") from err
    return spec


def validate_spec(spec: RecipeSpec, registries: Registries) -> RecipeSpec:
    """Check everything that can be checked before loading data; return the normalised spec.

    Components exist and accept their parameters; the trainer's parameters are validated by
    its settings class and written out in full (so a config file records every value a run
    used); classifiers exist and accept their parameters; the loader accepts its options.

    Raises:
        UnknownComponentError, ConfigError: naming the key, the value and the fix.
    """
    from modgen.recipes import FILLED_IN, accepted_params, built_params
    from modgen.train.settings import full_params, settings_of

    for slot, comp in spec.components().items():
        accepted = accepted_params(registries, slot, comp.name)
        if slot == "trainer":
            continue
        if accepted is not None:
            for key in comp.params:
                if key not in accepted and not (slot == "generator" and key == "noise_dim"):
                    _unknown_param(slot, comp.name, key, accepted - FILLED_IN.get(slot, frozenset()))
    # every parameter as built (config.toml is the whole spec; compare shows real values)
    built: dict[str, Any] = {
        slot: evolve(comp, params=built_params(registries, slot, comp))
        for slot, comp in spec.components().items()
        if slot != "trainer"
    }
    spec = evolve(spec, **built)
    trainer_cls = registries.trainer.get(spec.trainer.name)
    settings = settings_of(trainer_cls, spec.trainer.params, name=spec.trainer.name)
    spec = evolve(spec, trainer=evolve(spec.trainer, params=full_params(settings)))
    if spec.evaluation.task_size == 0:  # synthesis tasks as large as the training tasks
        n_way = spec.task_sampler.params.get("n_way", 10)
        if isinstance(n_way, int) and not isinstance(n_way, bool) and n_way > 0:
            spec = evolve(spec, evaluation=evolve(spec.evaluation, task_size=n_way))
    for logger in spec.run.loggers:  # before a folder is made: an unknown name lists the known ones
        registries.logger.get(logger)
    ev = spec.evaluation
    for clf in ev.classifiers:
        registries.final_classifier.get(clf)
    for clf, params in ev.classifier_params.items():
        if clf not in ev.classifiers:
            raise ConfigError(
                f"evaluation.classifier_params.{clf}: {clf!r} is not in evaluation.classifiers "
                f"({', '.join(ev.classifiers)}); add it there or remove its parameters"
            )
        if not isinstance(params, dict):
            raise ConfigError(
                f"evaluation.classifier_params.{clf}: expected a table of parameters, got {params!r}"
            )
        accepted = registries.final_classifier.accepts(clf)
        grid = params.get("grid", {})
        if not isinstance(grid, dict):
            raise ConfigError(
                f"evaluation.classifier_params.{clf}.grid: expected a table {{param: [values]}}"
            )
        for key, values in grid.items():
            if isinstance(values, list) and not values:
                raise ConfigError(
                    f"evaluation.classifier_params.{clf}.grid.{key}: expected a non-empty list of values, got []"
                )
        for key in [*(k for k in params if k != "grid"), *grid]:
            if accepted is not None and key not in accepted:
                _unknown_param(f"evaluation.classifier_params.{clf}", clf, key, accepted)
    loader_accepts = registries.dataset.accepts(spec.data.dataset)
    if loader_accepts is not None:
        for key in spec.data.options:
            if key not in loader_accepts or key == "root":
                _unknown_param("data.options", spec.data.dataset, key, loader_accepts - {"root"})
    return spec


def _unknown_param(section: str, name: str, key: str, accepted: set[str]) -> None:
    import difflib

    options = sorted(accepted)
    close = difflib.get_close_matches(key, [*options, "name"], n=1)
    if close and close[0] == "name" and "name" not in accepted:  # the component's name, not a parameter
        hint = f" Did you mean {section}.name (the {section} to use)?"
    else:
        hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"{section}.{key}: {name!r} has no parameter {key!r}. Accepted: {', '.join(options) or '(none)'}.{hint}"
    )


def spec_id(spec: RecipeSpec) -> str:
    """A stable id of what ``spec`` computes: 12 hex digits of the SHA-256 of its TOML.

    The run section but its seed (device, threads, logging) and ``data.root`` are left out:
    they depend on the machine, not on the result.

    Example:
        >>> from modgen.recipes import amaz
        >>> spec_id(amaz()) == spec_id(amaz()), len(spec_id(amaz()))
        (True, 12)
    """
    from modgen.config import RunConfig

    neutral = evolve(spec, run=RunConfig(seed=spec.run.seed), data=evolve(spec.data, root=""))
    return hashlib.sha256(spec_to_toml(neutral).encode()).hexdigest()[:12]


def default_run_folder(spec: RecipeSpec, *, base: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<recipe>-<data>-<id>``: named after the recipe, the data and what the spec computes
    (all seeds of one setting share it; each seed is ``seed<S>`` inside).

    Example:
        >>> from modgen.recipes import amaz
        >>> default_run_folder(amaz()).name.startswith("amaz-digits-")
        True
    """
    group = spec_id(evolve(spec, run=evolve(spec.run, seed=0)))
    label = "".join("_" if c in "/\\" or not c.isprintable() else c for c in f"{spec.name}-{spec.data.label}")
    return Path(base) / f"{label}-{group[:8]}"


def run_folder(spec: RecipeSpec, out: str | os.PathLike[str] | None = None, *, seeds: int = 1) -> Path:
    """The folder a run of ``spec`` writes: ``out``, else :func:`default_run_folder` with ``seed<S>``
    inside (``seeds > 1``: the folder of the seeds, each ``seed<S>`` inside it).

    Example:
        >>> from modgen.recipes import amaz
        >>> run_folder(amaz()).name, run_folder(amaz(), seeds=3) == default_run_folder(amaz())
        ('seed0', True)
    """
    if out is not None:
        return Path(out)
    group = default_run_folder(spec)
    return group if seeds > 1 else group / f"seed{spec.run.seed}"
