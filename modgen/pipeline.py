"""Spec in, results out: the one place a recipe becomes a spec and a spec becomes a finished run.

* :func:`resolve_spec` — the recipe (or a config file), the data, the preset and the ``--set``
  overrides meet here, in that order, and the result is validated before anything runs.
* :func:`run` — load the data, train, choose the classifiers' settings on the validation
  classes, evaluate, and write the run folder (:mod:`modgen.rundir`).
* :func:`run_seeds` — :func:`run` for several training seeds and their mean ± std.
* :func:`evaluate_run` — evaluate a finished run again with other settings, into a new record.

The command line, sweeps, the examples and the documentation's embedding page all call these.

Example:
    >>> from modgen.plugins import get_registries
    >>> regs = get_registries(entry_points=False)
    >>> spec = resolve_spec(regs, "amaz", dataset="digits", overrides=["trainer.episodes=20"])
    >>> spec.trainer.params["episodes"], spec.task_sampler.params["n_way"]
    (20, 2)
    >>> result = run(spec, regs, "runs/demo")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve, frozen

from modgen.config import RecipeSpec, apply_overrides, spec_from_toml, spec_to_dict, spec_to_toml
from modgen.errors import CheckpointError, ConfigError, DataError, PluginError, UnknownComponentError
from modgen.rundir import RunDir, atomic_write_text, check_writable_folder, os_error, write_json

if TYPE_CHECKING:
    from modgen.data.zsldata import ZSLData
    from modgen.evaluate.protocols import EvaluationResult, Selection
    from modgen.registry import Registries
    from modgen.train.loop import TrainOutcome

__all__ = [
    "XLSA17_NAMES",
    "RunResult",
    "resolve_spec",
    "read_spec",
    "validate_spec",
    "spec_id",
    "default_run_folder",
    "run",
    "run_seeds",
    "evaluate_run",
    "check_folder",
    "prepare_folder",
]

#: The data sets of the xlsa17 release (Xian et al.'s proposed splits).
XLSA17_NAMES: tuple[str, ...] = ("AWA1", "AWA2", "CUB", "SUN", "APY")

Log = Callable[[str], None]
Progress = Callable[[int, int, dict[str, Any]], None]


# ----------------------------------------------------------------------------------------------
# spec in


def read_spec(path: str | os.PathLike[str]) -> RecipeSpec:
    """A spec from a TOML file (``modgen recipe show`` writes them; run folders hold config.toml).

    Raises:
        ConfigError: no such file, unreadable, or invalid (the message names the file and key).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(p)!r} cannot be read: {err}") from err
    return spec_from_toml(text, source=str(p))


def _with_data(
    spec: RecipeSpec,
    registries: Registries,
    *,
    dataset: str | None,
    data: str | os.PathLike[str] | None,
    name: str | None,
) -> RecipeSpec:
    """``spec`` with its data section set from ``--dataset``, ``--data`` and ``--name``."""
    section = spec.data
    root = str(Path(data).expanduser()) if data is not None else None
    if dataset is not None:
        if dataset.upper() in XLSA17_NAMES:
            if root is None:
                raise ConfigError(
                    f"--dataset {dataset}: an xlsa17 data set needs its folder; add --data /path/to/{dataset.upper()} "
                    "(the folder holding res101.mat and att_splits.mat)"
                )
            section = evolve(section, dataset="xlsa17", name=dataset.upper(), root=root, options={})
        elif dataset in registries.dataset:
            section = evolve(section, dataset=dataset, name="", root=root or "", options={})
        else:
            names = [*registries.dataset.names(), *XLSA17_NAMES]
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


def _preset_for(spec: RecipeSpec, registries: Registries) -> str | None:
    from modgen.recipes import DATASET_PRESET

    label = spec.data.label
    for key in (label, label.upper()):
        if key in DATASET_PRESET and DATASET_PRESET[key] in registries.preset:
            return DATASET_PRESET[key]
    return None


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
) -> RecipeSpec:
    """The spec a run executes: recipe (or config file), data, preset, overrides — in that order.

    Args:
        registries: where recipes, presets and components are looked up.
        recipe: a registered recipe (ignored when ``config`` is given).
        config: a spec TOML file (``modgen recipe show NAME --dataset D > x.toml``); it is taken
            as resolved, so no preset is applied unless ``preset`` names one.
        dataset: a registered data set (``digits``, ``fashion-mnist``) or an xlsa17 name
            (``AWA2``: needs ``data``). Without ``config``, ``dataset`` and ``data``: digits.
        data: a data folder; alone, an xlsa17-layout folder whose name names the data set.
        name: the data set's name in reports (default: the folder's or the loader's).
        preset: a registered preset (``modgen list preset``); default: the data set's own, if
            it has one (AWA1/AWA2/CUB/SUN/APY, digits, fashion-mnist).
        overrides: ``key=value`` strings (``--set``).

    Returns:
        A validated :class:`RecipeSpec` (see :func:`validate_spec`).

    Raises:
        UnknownComponentError: an unknown recipe, preset, data set or component.
        ConfigError: an invalid value or key (the message names it).
    """
    if config is not None:
        spec = read_spec(config)
    else:
        factory = registries.recipe.get(recipe or "amaz")
        spec = factory()
        if not isinstance(spec, RecipeSpec):
            raise PluginError(f"recipe {recipe!r} returned {type(spec).__name__}, expected a RecipeSpec")
        if dataset is None and data is None:
            dataset = "digits"
    spec = _with_data(spec, registries, dataset=dataset, data=data, name=name)
    chosen = preset if preset is not None else (None if config is not None else _preset_for(spec, registries))
    if chosen:
        spec = registries.preset.get(chosen)(spec, registries)
        if not isinstance(spec, RecipeSpec):
            raise PluginError(f"preset {chosen!r} returned {type(spec).__name__}, expected a RecipeSpec")
    spec = apply_overrides(spec, overrides)
    return validate_spec(spec, registries)


def validate_spec(spec: RecipeSpec, registries: Registries) -> RecipeSpec:
    """Check everything that can be checked before loading data; return the normalised spec.

    Components exist and accept their parameters; the trainer's parameters are validated by
    its settings class and written out in full (so a config file records every value a run
    used); classifiers exist and accept their parameters; the loader accepts its options.

    Raises:
        UnknownComponentError, ConfigError: naming the key, the value and the fix.
    """
    from modgen.recipes import accepted_params
    from modgen.train.settings import full_params, settings_of

    for slot, comp in spec.components().items():
        accepted = accepted_params(registries, slot, comp.name)
        if slot == "trainer":
            continue
        if accepted is not None:
            for key in comp.params:
                if key not in accepted and not (slot == "generator" and key == "noise_dim"):
                    _unknown_param(slot, comp.name, key, accepted)
    trainer_cls = registries.trainer.get(spec.trainer.name)
    settings = settings_of(trainer_cls, spec.trainer.params, name=spec.trainer.name)
    spec = evolve(spec, trainer=evolve(spec.trainer, params=full_params(settings)))
    if spec.evaluation.task_size == 0:  # synthesis tasks as large as the training tasks
        n_way = spec.task_sampler.params.get("n_way", 10)
        if isinstance(n_way, int) and not isinstance(n_way, bool) and n_way > 0:
            spec = evolve(spec, evaluation=evolve(spec.evaluation, task_size=n_way))
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
    close = difflib.get_close_matches(key, options, n=1)
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


# ----------------------------------------------------------------------------------------------
# the run folder


def check_folder(run: RunDir, *, resume: bool, overwrite: bool, locked: bool = False) -> None:
    """Refuse to write into ``run`` where that would lose something; reads only, changes nothing.

    ``locked``: the caller holds the folder's lock (else a process holding it is named first).

    Raises:
        RunLockedError: another process is writing ``run`` (the message gives its pid).
        ConfigError: ``run`` already holds a run (and neither ``resume`` nor ``overwrite``),
            ``resume`` without a run there, or a folder with other files in it (which are never
            deleted, ``overwrite`` or not).
        CheckpointError: ``resume`` of a run that finished training but lost its checkpoint.
        ModgenError: ``run`` is a file, lies under one, or cannot be written.
    """
    root = run.root
    check_writable_folder(root, "use as the run folder")
    if not locked:
        run.check_unlocked()
    if resume:
        if not run.config.is_file():
            raise ConfigError(
                f"--resume {str(root)!r}: not a run folder (no config.toml); start it without --resume"
            )
        if run.summary.is_file() and not run.checkpoint.is_file():
            raise CheckpointError(
                f"--resume {str(root)!r}: the run finished training but its checkpoint {str(run.checkpoint)!r} is "
                "missing, so there is nothing to continue from; train it again with --overwrite"
            )
        return
    if run.exists():
        if not overwrite:
            state = "a finished run" if run.is_finished() else "an unfinished run"
            raise ConfigError(
                f"run folder {str(root)!r} already holds {state}; add --resume to continue it, --overwrite "
                "to replace it, or choose another --out"
            )
    elif root.is_dir() and any(not p.name.startswith(".") for p in root.iterdir()):
        raise ConfigError(
            f"--out {str(root)!r} is a folder with other files in it (not a modgen run); choose an empty or "
            "new folder"
        )


def prepare_folder(run: RunDir, *, resume: bool, overwrite: bool) -> None:
    """Make sure writing into ``run`` loses nothing: :func:`check_folder`, then, with
    ``overwrite``, delete the run there. Call it while holding the folder's lock, so another
    process's run is never deleted.

    Raises:
        See :func:`check_folder`.
    """
    check_folder(run, resume=resume, overwrite=overwrite, locked=True)
    if not resume and overwrite and run.exists():
        run.clear()


def _provenance(spec: RecipeSpec, registries: Registries, device: Any, threads: int) -> dict[str, Any]:
    import platform
    import sys

    import torch

    from modgen import __version__
    from modgen.runtime import git_commit, machine_name

    return {
        "modgen": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "commit": git_commit(),
        "plugins": plugin_versions(registries),
        "machine": machine_name(device),
        "device": str(device),
        "threads": threads,
        "started": _now(),
        "spec_id": spec_id(spec),
    }


def plugin_versions(registries: Registries) -> dict[str, str]:
    """The loaded plugins with their distributions' versions (``builtin``: modgen's)."""
    import importlib.metadata

    from modgen import __version__

    out = {}
    for name in registries.plugins:
        if name == "builtin":
            out[name] = __version__
            continue
        version = "?"
        for ep in importlib.metadata.entry_points(group="modgen"):
            if ep.name == name and ep.dist is not None:
                version = ep.dist.version
        out[name] = version
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# results out


@frozen
class RunResult:
    """What :func:`run` returns.

    Attributes:
        run: the run folder.
        spec: the spec it ran.
        outcome: the training outcome (networks, data, time).
        result: the evaluation (``None`` with ``evaluate=False`` or on ranks other than 0).
        selection: the classifiers' settings chosen on the validation classes, if any.
    """

    run: RunDir
    spec: RecipeSpec
    outcome: TrainOutcome
    result: EvaluationResult | None
    selection: Selection | None


def _needs_selection(spec: RecipeSpec, registries: Registries) -> bool:
    from modgen.evaluate.scoring import classifier_grid

    if spec.evaluation.selection != "val":
        return False
    for clf in spec.evaluation.classifiers:
        cls = registries.final_classifier.get(clf)
        if len(classifier_grid(cls, dict(spec.evaluation.classifier_params.get(clf, {}) or {}))[1]) > 1:
            return True
    return False


def _check_data(spec: RecipeSpec, data: ZSLData, *, selection: bool) -> None:
    """Checks that need the data, made before any training starts."""
    if len(data.unseen_classes) < 2:
        raise DataError(f"{data.name}: ZSL needs at least 2 unseen classes, got {len(data.unseen_classes)}")
    n_test = int(data.test_unseen.size)
    if n_test == 0:
        raise DataError(f"{data.name}: test_unseen is empty (no unseen test samples); check the split file")
    for k in spec.evaluation.retrieval_k:
        if k > n_test:
            raise ConfigError(
                f"evaluation.retrieval_k: {k} is more than the {n_test} test_unseen samples of {data.name!r}"
            )
    if selection and len(data.val_classes) < 2:
        raise DataError(
            f"{data.name}: evaluation.selection='val' needs at least 2 validation classes, the data has "
            f"{len(data.val_classes)}; set evaluation.selection=none or give the loader more val_classes"
        )


def _train_into(
    spec: RecipeSpec,
    registries: Registries,
    data: ZSLData,
    folder: RunDir,
    *,
    resume: bool,
    progress: Progress | None,
    dist: Any,
    on_start: Callable[[int], None] | None,
) -> TrainOutcome:
    """Train ``spec`` into ``folder``; with ``resume``, from its last checkpoint if it has one (a run
    interrupted before its first checkpoint starts again from episode 0)."""
    from modgen.train.loop import train

    return train(
        spec,
        registries,
        data=data,
        out=folder.root,
        resume=resume and folder.checkpoint.is_file(),
        progress=progress,
        dist=dist,
        on_start=on_start,
    )


def _selection_spec(spec: RecipeSpec) -> RecipeSpec:
    return evolve(spec, data=evolve(spec.data, validation=True))


def _select(
    spec: RecipeSpec,
    registries: Registries,
    run: RunDir,
    data: ZSLData,
    *,
    resume: bool,
    progress: Progress | None,
    log: Log,
    dist: Any,
    on_start: Callable[[int], None] | None = None,
) -> Selection:
    """Train a generator on the train classes (``RUN/selection``) and choose the classifiers' settings."""
    import json

    from modgen.evaluate.protocols import Selection, select
    from modgen.train.loop import load_run

    folder = RunDir(run.selection)
    chosen = folder.root / "selection.json"
    if chosen.is_file():
        return Selection(json.loads(chosen.read_text(encoding="utf-8"))["record"])
    sel_spec = _selection_spec(spec)
    view = data.validation_view()
    log(
        f"selection: training on the {len(view.seen_classes)} train classes, judging on the "
        f"{len(view.unseen_classes)} val classes -> {folder.root}"
    )
    if folder.summary.is_file() and folder.checkpoint.is_file():
        outcome = load_run(folder.root, registries, device=spec.run.device, data=view)
    else:
        outcome = _train_into(
            sel_spec, registries, view, folder, resume=resume, progress=progress, dist=dist, on_start=on_start
        )
    selection = select(outcome.assembly, view, spec.evaluation, registries, seed=spec.run.seed, log=log)
    if dist.is_main:
        write_json(chosen, {"record": selection.record, "evaluation": spec_to_dict(spec.evaluation)})
    return selection


def _selection_for(
    spec: RecipeSpec, registries: Registries, run_dir: RunDir, data: ZSLData, log: Log | None
) -> Selection:
    """The classifiers' settings for re-evaluating a run with ``spec.evaluation``: the recorded
    choice when it was made with these evaluation settings, else chosen again on the run's
    selection model (the generator trained on the train classes)."""
    import json

    from modgen.evaluate.protocols import Selection, select
    from modgen.train.loop import load_run

    chosen = run_dir.selection / "selection.json"
    if chosen.is_file():
        stored = json.loads(chosen.read_text(encoding="utf-8"))
        if stored.get("evaluation") == spec_to_dict(spec.evaluation):
            return Selection(stored["record"])
    model = RunDir(run_dir.selection)
    if not (model.summary.is_file() and model.checkpoint.is_file()):
        raise ConfigError(
            f"{str(run_dir.root)!r} has no selection model (selection/) to choose the classifiers' settings with "
            "these evaluation settings; evaluate with --set evaluation.selection=none, or train the run with "
            "evaluation.selection=val"
        )
    view = data.validation_view()
    outcome = load_run(model.root, registries, device=spec.run.device, data=view)
    return select(outcome.assembly, view, spec.evaluation, registries, seed=spec.run.seed, log=log)


def run(
    spec: RecipeSpec,
    registries: Registries,
    out: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    data: ZSLData | None = None,
    progress: Progress | None = None,
    log: Log | None = None,
) -> RunResult:
    """Load -> (select) -> train -> evaluate -> write: one run of ``spec`` into a run folder.

    Args:
        spec: a spec from :func:`resolve_spec` (or any validated :class:`RecipeSpec`).
        registries: component registries.
        out: the run folder (default :func:`default_run_folder` ``/ seed<S>``).
        resume: continue the run in ``out`` from its last checkpoint.
        overwrite: replace the run in ``out`` (what modgen wrote there is deleted first, under the
            folder's lock; other files stay).
        evaluate: evaluate after training (``False``: train only).
        data: the data (default: loaded through ``spec.data``).
        progress: called as ``progress(episode, total, record)`` at every training log point.
        log: called with a line for each step (selection, evaluation).

    Returns:
        A :class:`RunResult`.

    Raises:
        ConfigError: ``out`` holds a run and neither ``resume`` nor ``overwrite`` is set (no
            file is changed), or a setting the data cannot support.
        RunLockedError: another process is writing ``out``.
        TrainingDivergedError, CheckpointError, DataError: see :func:`modgen.train.loop.train`.
    """
    from modgen.distributed import setup_distributed
    from modgen.runtime import apply_threads, resolve_device

    say = log or (lambda _line: None)
    spec = validate_spec(spec, registries)
    folder = RunDir(out if out is not None else default_run_folder(spec) / f"seed{spec.run.seed}")
    dist, device = setup_distributed(resolve_device(spec.run.device, key="run.device"))
    if dist.is_main:  # before any work: a folder that cannot be used (or is in use) fails at once
        check_folder(folder, resume=resume, overwrite=overwrite)
    threads = apply_threads(spec.run.threads, device)
    if data is None:
        from modgen.data import load_dataset

        data = load_dataset(registries, spec.data)
    selection_needed = evaluate and _needs_selection(spec, registries)
    _check_data(spec, data, selection=selection_needed)
    _preflight(spec, registries, data, device, dist, selection=selection_needed, evaluate=evaluate)
    started: list[int] = []

    def on_start(_episode: int) -> None:
        # a resume changes no file until its checkpoint has been checked and restored
        if dist.is_main and not started:
            started.append(_episode)
            write_json(
                folder.provenance, {**_provenance(spec, registries, device, threads), "state": "running"}
            )

    with folder.lock() if dist.is_main else _nothing():
        if dist.is_main:
            prepare_folder(folder, resume=resume, overwrite=overwrite)
            if not resume:  # a run interrupted before it trained can be resumed (from episode 0)
                on_start(0)
                atomic_write_text(folder.config, spec_to_toml(spec))
        try:
            result_run = _run_locked(
                spec,
                registries,
                folder,
                data,
                dist,
                resume,
                evaluate,
                selection_needed,
                progress,
                say,
                on_start,
            )
        except BaseException as err:
            if dist.is_main and started:
                _mark(folder, "interrupted" if isinstance(err, KeyboardInterrupt) else "failed", err)
            raise
        if dist.is_main:
            _mark(folder, "finished", None)
    return result_run


def _preflight(
    spec: RecipeSpec,
    registries: Registries,
    data: ZSLData,
    device: Any,
    dist: Any,
    *,
    selection: bool,
    evaluate: bool,
) -> None:
    """Everything a run builds, built once before its folder is made or changed: the networks and
    the trainer on the data (and on its validation view when settings are selected there), and
    the final classifiers with each of their settings."""
    from modgen.train.loop import preflight

    preflight(spec, registries, data, device, dist)
    if selection:
        preflight(_selection_spec(spec), registries, data.validation_view(), device, dist)
    if evaluate:
        check_classifiers(spec, registries)


def check_classifiers(spec: RecipeSpec, registries: Registries) -> None:
    """Fit every final classifier at each of its settings on a tiny made-up set (6 samples of 3
    classes): a setting a classifier rejects fails now, before training, naming its key.

    Raises:
        ConfigError: a classifier rejects its parameters (``evaluation.classifier_params.NAME``).
    """
    import numpy as np
    import torch

    from modgen.evaluate.scoring import classifier_grid, make_classifier

    X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    y, w = np.repeat(np.arange(3), 2), np.ones(6, dtype=np.float32)
    for clf in spec.evaluation.classifiers:
        key = f"evaluation.classifier_params.{clf}"
        params = dict(spec.evaluation.classifier_params.get(clf, {}) or {})
        try:
            fixed, points = classifier_grid(registries.final_classifier.get(clf), params)
            for point in points:
                est = make_classifier(registries, clf, {**fixed, **point}, device=torch.device("cpu"), seed=0)
                try:
                    est.fit(X, y, sample_weight=w)
                except ConfigError:
                    raise
                except Exception:  # noqa: BLE001,S112 - made-up data may not suit a classifier; only its params count
                    continue
        except ConfigError as err:
            raise ConfigError(f"{key}: {err}") from err


def _nothing() -> Any:
    import contextlib

    return contextlib.nullcontext()


def _mark(folder: RunDir, state: str, err: BaseException | None) -> None:
    import json

    try:
        prov = json.loads(folder.provenance.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        prov = {}
    prov.update(state=state, ended=_now())
    if err is not None:
        prov["error"] = f"{type(err).__name__}: {err}"
    try:
        write_json(folder.provenance, prov)
    except Exception:  # noqa: BLE001 - never hide the original error behind a bookkeeping one
        pass


def _run_locked(
    spec: RecipeSpec,
    registries: Registries,
    folder: RunDir,
    data: ZSLData,
    dist: Any,
    resume: bool,
    evaluate: bool,
    selection_needed: bool,
    progress: Progress | None,
    say: Log,
    on_start: Callable[[int], None] | None = None,
) -> RunResult:

    selection = None
    if selection_needed:
        selection = _select(
            spec,
            registries,
            folder,
            data,
            resume=resume,
            progress=progress,
            log=say,
            dist=dist,
            on_start=on_start,
        )
    outcome = _train_into(
        spec, registries, data, folder, resume=resume, progress=progress, dist=dist, on_start=on_start
    )
    say(f"trained {outcome.episodes - outcome.start} episodes in {outcome.seconds:.1f} s on {outcome.device}")
    result = None
    if evaluate and dist.is_main:
        say("evaluating ...")
        result = _evaluate_with_floor(spec, registries, outcome.assembly, data, selection, say)
        say("evaluation time: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
        _write_evaluation(folder, result, "final", outcome.episodes)
    return RunResult(folder, spec, outcome, result, selection)


def _evaluate_with_floor(
    spec: RecipeSpec,
    registries: Registries,
    assembly: Any,
    data: ZSLData,
    selection: Selection | None,
    say: Log,
    *,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate ``assembly`` as ``spec.evaluation`` says, with the closed-form floor on the same split
    beside the generative result (``progress=False``: ``say`` gets only the floor's notes)."""
    from modgen.baselines import floor_measurements
    from modgen.evaluate.protocols import evaluate as evaluate_model

    result = evaluate_model(
        assembly,
        data,
        spec.evaluation,
        registries,
        seed=spec.run.seed,
        name=spec.name,
        selection=selection,
        log=say if progress else None,
    )

    t0 = time.perf_counter()
    try:
        floor = floor_measurements(data)
        return evolve(
            result, floor=floor, seconds={**result.seconds, "closed-form floor": time.perf_counter() - t0}
        )
    except DataError as err:  # a split the closed form cannot select on: report, do not fail the run
        say(f"closed-form floor skipped: {err}")
        return result


def _write_evaluation(folder: RunDir, result: EvaluationResult, name: str, episode: int) -> None:
    from modgen.report import plot_losses, write_results

    write_results(folder.root, result)
    record: dict[str, Any] = {"kind": "eval", "evaluation": name, "episode": episode, "time": _now()}
    record.update({f"zsl/{c}": v for c, v in result.zsl.items()})
    record.update({f"gzsl_h/{c}": g["h"] for c, g in result.gzsl.items()})
    record.update({f"quality/{m}": v for m, v in result.quality.items()})
    folder.append_metrics([record])
    if folder.metrics.exists():
        try:
            plot_losses(folder.metrics, folder.plots / "losses.png")
        except DataError:
            pass


def run_seeds(
    spec: RecipeSpec,
    registries: Registries,
    seeds: Sequence[int],
    out: str | os.PathLike[str] | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    progress: Progress | None = None,
    log: Log | None = None,
) -> list[RunResult]:
    """:func:`run` for each training seed into ``out/seed<S>``; their mean ± std into ``out``.

    Raises:
        ConfigError: no seeds, or ``out`` already holds results (and not ``resume``/``overwrite``).
    """
    from modgen.data import load_dataset
    from modgen.report import write_results

    if not seeds:
        raise ConfigError("--seeds: expected at least 1 seed")
    base = Path(out) if out is not None else default_run_folder(spec)
    if not resume and (base / "results.json").is_file() and not overwrite:
        raise ConfigError(
            f"run folder {str(base)!r} already holds results; add --resume, --overwrite or choose another --out"
        )
    data = load_dataset(registries, spec.data)
    results = []
    for seed in seeds:
        s = evolve(spec, run=evolve(spec.run, seed=int(seed)))
        folder = base / f"seed{seed}"
        again = resume and RunDir(folder).config.is_file()
        if resume and RunDir(folder).is_finished():
            from modgen.report import read_results
            from modgen.train.loop import load_run

            outcome = load_run(folder, registries, device=spec.run.device, data=data)
            results.append(RunResult(RunDir(folder), s, outcome, read_results(folder)[0], None))
            continue
        results.append(
            run(
                s,
                registries,
                folder,
                resume=again,
                overwrite=overwrite,
                evaluate=evaluate,
                data=data,
                progress=progress,
                log=log,
            )
        )
    evaluated = [r.result for r in results if r.result is not None]
    if len(evaluated) > 1:
        write_results(base, evaluated)
    return results


def evaluate_run(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    overrides: Sequence[str] = (),
    out: str | os.PathLike[str] | None = None,
    device: str = "auto",
    threads: int | None = None,
    log: Log | None = None,
) -> tuple[EvaluationResult, Path]:
    """Evaluate a finished run again, with ``evaluation.*`` overrides, into a new record.

    The run's own results are never rewritten: the new evaluation goes to
    ``RUN/evaluations/<id>/`` (``eval.toml`` with the settings it used, ``results.json/.md``),
    or to ``out``.

    Returns:
        ``(result, folder)``.

    With ``evaluation.selection = "val"`` the classifiers' settings are the run's recorded choice
    when it was made with the same evaluation settings, and are chosen again on the run's
    selection model otherwise.

    Raises:
        ConfigError: an override outside ``evaluation.*`` (a trained run's other settings cannot
            change), or ``selection='val'`` on a run without a selection model.
    """
    from modgen.runtime import apply_threads
    from modgen.train.loop import load_run

    for text in overrides:
        key = text.split("=", 1)[0].strip()
        if not key.startswith("evaluation."):
            raise ConfigError(
                f"--set {text!r}: modgen evaluate changes only evaluation.* settings; {key!r} was fixed "
                "when the run was trained (train a new run to change it)"
            )
    outcome = load_run(path, registries, device=device)
    spec = validate_spec(apply_overrides(outcome.spec, list(overrides)), registries)
    apply_threads(spec.run.threads if threads is None else threads, outcome.device)
    run_dir = RunDir(path)
    eval_id = hashlib.sha256(spec_to_toml(spec.evaluation).encode()).hexdigest()[:8]
    target = RunDir(out if out is not None else run_dir.root / "evaluations" / eval_id)
    check_writable_folder(target.root, "write the evaluation into")
    check_classifiers(spec, registries)
    selection = (
        _selection_for(spec, registries, run_dir, outcome.data, log)
        if _needs_selection(spec, registries)
        else None
    )
    result = _evaluate_with_floor(
        spec, registries, outcome.assembly, outcome.data, selection, log or (lambda _line: None)
    )
    with run_dir.lock():
        atomic_write_text(target.root / "eval.toml", spec_to_toml(spec.evaluation))
        from modgen.report import write_results

        write_results(target.root, result)
        run_dir.append_metrics(
            [
                {
                    "kind": "eval",
                    "evaluation": eval_id,
                    "episode": outcome.episodes,
                    "time": _now(),
                    **{f"zsl/{c}": v for c, v in result.zsl.items()},
                }
            ]
        )
    return result, target.root


def class_ids(data: ZSLData, classes: str) -> list[int]:
    """Class ids from ``unseen``, ``seen``, ``all`` or comma-separated class names.

    Raises:
        DataError: an unknown class name (the message lists the data set's classes).
    """
    import numpy as np

    if classes == "unseen":
        return [int(c) for c in data.unseen_classes]
    if classes == "seen":
        return [int(c) for c in data.seen_classes]
    if classes == "all":
        return [int(c) for c in np.union1d(data.seen_classes, data.unseen_classes)]
    names = [c.strip() for c in classes.split(",") if c.strip()]
    lookup = {n: i for i, n in enumerate(data.class_names)}
    missing = [n for n in names if n not in lookup]
    if missing or not names:
        raise DataError(
            f"--classes: unknown class {missing[0] if missing else classes!r} in {data.name}; use unseen, seen, all "
            f"or names of: {', '.join(data.class_names[:30])}{' ...' if len(data.class_names) > 30 else ''}"
        )
    return [lookup[n] for n in names]


def synthesize_run(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    classes: str = "unseen",
    n: int = 100,
    sigma: float | None = None,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> tuple[Path, int]:
    """Synthesise ``n`` features per class of a trained run into an ``.npz`` file.

    The file holds ``features (C*n, D)``, ``labels`` (class ids, rows of the data's class
    list), ``class_ids`` and ``class_names`` (both per class), so
    ``plot_tsne(features, labels, dict(zip(class_ids, class_names)), ...)`` works.

    Returns:
        ``(path written, number of classes)``.

    Raises:
        ModgenError: the output cannot be written (its folder is created when missing).
    """
    import math

    import numpy as np
    import torch

    from modgen.evaluate.synthesis import synthesize
    from modgen.runtime import apply_threads
    from modgen.train.loop import load_run

    if sigma is not None and (isinstance(sigma, bool) or not math.isfinite(sigma) or sigma < 0):
        raise ConfigError(
            f"--sigma {sigma!r}: expected a finite number >= 0 (the noise's standard deviation)"
        )
    target = Path(out) if out is not None else RunDir(path).root / "synthetic.npz"
    if target.suffix != ".npz":
        raise ConfigError(f"--out {str(target)!r}: expected a file name ending in .npz")
    if target.is_dir():
        raise os_error(IsADirectoryError(21, "is a folder"), target, "write")
    outcome = load_run(path, registries, device=device)
    check_writable_folder(target.parent, "write", shown=target)
    apply_threads(outcome.spec.run.threads if threads is None else threads, outcome.device)
    d = outcome.data
    ids = class_ids(d, classes)
    gen = torch.Generator(device=outcome.device).manual_seed(seed)
    s = synthesize(
        outcome.assembly,
        torch.as_tensor(d.semantics[ids], device=outcome.device),
        n,
        sigma=outcome.spec.evaluation.sigma_test if sigma is None else sigma,
        generator=gen,
    )
    features = s.features.cpu().numpy()
    if not np.isfinite(features).all():
        raise DataError(
            f"{str(path)!r}: the generator produced NaN or infinite features; the run diverged, train it again"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp.npz")
        np.savez_compressed(
            tmp,
            features=features,
            labels=np.asarray(ids)[s.labels.cpu().numpy()],
            class_ids=np.asarray(ids),
            class_names=np.asarray([d.class_names[i] for i in ids]),
        )
        os.replace(tmp, target)
    except OSError as err:
        raise os_error(err, target, "write") from err
    return target, len(ids)


def retrieve_run(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    k: Sequence[int] = (5, 10),
    n: int = 100,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
) -> dict[int, float]:
    """Zero-shot retrieval (Section III-D) with a trained run: precision@k (%) by ``k``.

    Raises:
        ConfigError: a ``k`` larger than the number of real unseen test samples.
    """
    import torch

    from modgen.evaluate.metrics import retrieval_average_precision
    from modgen.evaluate.synthesis import synthesize
    from modgen.train.loop import load_run

    outcome = load_run(path, registries, device=device)
    from modgen.runtime import apply_threads

    apply_threads(outcome.spec.run.threads if threads is None else threads, outcome.device)
    d = outcome.data
    n_test = int(d.test_unseen.size)
    for kk in k:
        if not 1 <= kk <= n_test:
            raise ConfigError(f"--k {kk}: expected 1 <= k <= {n_test} (the number of unseen test samples)")
    ids = list(d.unseen_classes)
    gen = torch.Generator(device=outcome.device).manual_seed(seed)
    s = synthesize(
        outcome.assembly,
        torch.as_tensor(d.semantics[ids], device=outcome.device),
        n,
        sigma=outcome.spec.evaluation.sigma_test,
        generator=gen,
    )
    means = s.features.reshape(len(ids), n, -1).mean(1).cpu().numpy()
    db, labels = d.features[d.test_unseen], d.labels[d.test_unseen]
    return {int(kk): 100.0 * retrieval_average_precision(means, ids, db, labels, int(kk)) for kk in k}


def synthesis_curve(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    param: str,
    values: str | Sequence[float],
    classifier: str = "weighted-softmax",
    device: str = "auto",
    threads: int | None = None,
) -> tuple[list[tuple[float, float]], Path]:
    """ZSL top-1 of a trained run against a synthesis setting (Figs. 7-8), saved with a plot.

    Writes ``RUN/sweep-<param>.json`` and ``RUN/plots/sweep-<param>.png``.

    Returns:
        ``([(value, mean), ...], png path)``.

    Raises:
        ConfigError: an unknown ``param`` or values that are not numbers.
    """
    from modgen.evaluate.curves import SWEEP_PARAMS, sweep_synthesis
    from modgen.report import plot_sweep
    from modgen.runtime import apply_threads
    from modgen.train.loop import load_run

    if param not in SWEEP_PARAMS:
        raise ConfigError(f"--param: expected {' or '.join(SWEEP_PARAMS)}, got {param!r}")
    if isinstance(values, str):
        try:
            vals = [int(v) if param == "samples" else float(v) for v in values.split(",") if v.strip()]
        except ValueError as err:
            raise ConfigError(f"--values {values!r}: expected comma-separated numbers") from err
    else:
        vals = list(values)
    outcome = load_run(path, registries, device=device)
    apply_threads(outcome.spec.run.threads if threads is None else threads, outcome.device)
    points = sweep_synthesis(
        outcome.assembly,
        outcome.data,
        outcome.spec.evaluation,
        registries,
        param=param,
        values=vals,
        classifier=classifier,
        seed=outcome.spec.run.seed,
    )
    run_dir = RunDir(path)
    with run_dir.lock():
        png = plot_sweep(
            [v for v, _, _ in points],
            [m for _, m, _ in points],
            [s for _, _, s in points],
            "synthetic samples per class" if param == "samples" else "sigma",
            run_dir.plots / f"sweep-{param}.png",
        )
        write_json(
            run_dir.root / f"sweep-{param}.json",
            {
                "param": param,
                "values": vals,
                "mean": [m for _, m, _ in points],
                "std": [s for _, _, s in points],
                "classifier": classifier,
                "eval_seeds": outcome.spec.evaluation.seeds,
                "unit": "percent",
            },
        )
    return [(v, m) for v, m, _ in points], png


def tsne_run(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    classes: str = "unseen",
    n: int = 100,
    real: int = 100,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> Path:
    """t-SNE of a run's synthetic features beside real test features of the same classes (Fig. 6).

    Returns:
        The PNG written (default ``RUN/plots/tsne-<classes>.png``).
    """
    import numpy as np
    import torch

    from modgen.evaluate.synthesis import synthesize
    from modgen.report import plot_tsne
    from modgen.train.loop import load_run

    outcome = load_run(path, registries, device=device)
    from modgen.runtime import apply_threads

    apply_threads(outcome.spec.run.threads if threads is None else threads, outcome.device)
    d = outcome.data
    ids = class_ids(d, classes)
    gen = torch.Generator(device=outcome.device).manual_seed(seed)
    s = synthesize(
        outcome.assembly,
        torch.as_tensor(d.semantics[ids], device=outcome.device),
        n,
        sigma=outcome.spec.evaluation.sigma_test,
        generator=gen,
    )
    feats = [s.features.cpu().numpy()]
    labels = [np.asarray(ids)[s.labels.cpu().numpy()]]
    sources = [np.full(labels[0].shape, "synthetic")]
    if real:
        rng = np.random.default_rng(seed)
        pool = np.concatenate([d.test_unseen, d.test_seen])
        for c in ids:
            rows = pool[d.labels[pool] == c]
            rows = rng.permutation(rows)[:real]
            feats.append(d.features[rows])
            labels.append(d.labels[rows])
            sources.append(np.full(rows.shape, "real"))
    target = Path(out) if out is not None else RunDir(path).plots / f"tsne-{classes.replace(',', '_')}.png"
    return plot_tsne(
        np.concatenate(feats),
        np.concatenate(labels),
        list(d.class_names),
        target,
        seed=seed,
        sources=np.concatenate(sources),
        title=f"{outcome.spec.name} on {d.name}",
    )


def spec_from_run(path: str | os.PathLike[str]) -> RecipeSpec:
    """The spec a run folder was trained with (its config.toml)."""
    return read_spec(RunDir(path).config)
