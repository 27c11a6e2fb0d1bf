"""The stages of a run: the public steps :func:`~modgen.pipeline.run`, the sweeps and an embedder
compose (check the data, build once before writing, train, choose the classifiers' settings on
the validation classes, evaluate with the closed-form floor, write the evaluation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from attrs import evolve

from modgen.config import spec_to_dict
from modgen.errors import ConfigError, DataError
from modgen.pipeline._folder import now
from modgen.rundir import RunDir, write_json

if TYPE_CHECKING:
    from modgen.config import RecipeSpec
    from modgen.data.zsldata import ZSLData
    from modgen.evaluate.protocols import EvaluationResult, Selection
    from modgen.registry import Registries
    from modgen.train.loop import TrainOutcome

__all__ = [
    "needs_selection",
    "selection_spec",
    "check_data",
    "preflight_run",
    "check_classifiers",
    "train_into",
    "choose_settings",
    "selection_for",
    "evaluate_with_floor",
    "write_evaluation",
]

Log = Callable[[str], None]
Progress = Callable[[int, int, dict[str, Any]], None]


def needs_selection(spec: RecipeSpec, registries: Registries) -> bool:
    """Whether ``spec``'s evaluation chooses classifier settings on the validation classes: its
    ``evaluation.selection`` is ``"val"`` and some classifier has more than one setting to try."""
    from modgen.evaluate.scoring import classifier_grid

    if spec.evaluation.selection != "val":
        return False
    for clf in spec.evaluation.classifiers:
        cls = registries.final_classifier.get(clf)
        if len(classifier_grid(cls, dict(spec.evaluation.classifier_params.get(clf, {}) or {}))[1]) > 1:
            return True
    return False


def selection_spec(spec: RecipeSpec) -> RecipeSpec:
    """The spec of the selection model: ``spec`` on the data's validation view (train classes)."""
    return evolve(spec, data=evolve(spec.data, validation=True))


def check_data(spec: RecipeSpec, data: ZSLData, *, selection: bool) -> None:
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


def preflight_run(
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
        preflight(selection_spec(spec), registries, data.validation_view(), device, dist)
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


def train_into(
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


def choose_settings(
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
    sel_spec = selection_spec(spec)
    view = data.validation_view()
    log(
        f"selection: training on the {len(view.seen_classes)} train classes, judging on the "
        f"{len(view.unseen_classes)} val classes -> {folder.root}"
    )
    if folder.summary.is_file() and folder.checkpoint.is_file():
        outcome = load_run(folder.root, registries, device=spec.run.device, data=view)
    else:
        outcome = train_into(
            sel_spec, registries, view, folder, resume=resume, progress=progress, dist=dist, on_start=on_start
        )
    selection = select(outcome.assembly, view, spec.evaluation, registries, seed=spec.run.seed, log=log)
    if dist.is_main:
        write_json(chosen, {"record": selection.record, "evaluation": spec_to_dict(spec.evaluation)})
    return selection


def selection_for(
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


def evaluate_with_floor(
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


def write_evaluation(folder: RunDir, result: EvaluationResult, name: str, episode: int) -> None:
    """Write ``result`` into ``folder`` (results.json/.md), its record into the metrics and the
    loss plot."""
    from modgen.report import plot_losses, write_results

    write_results(folder.root, result)
    record: dict[str, Any] = {"kind": "eval", "evaluation": name, "episode": episode, "time": now()}
    record.update({f"zsl/{c}": v for c, v in result.zsl.items()})
    record.update({f"gzsl_h/{c}": g["h"] for c, g in result.gzsl.items()})
    record.update({f"quality/{m}": v for m, v in result.quality.items()})
    folder.append_metrics([record])
    if folder.metrics.exists():
        try:
            plot_losses(folder.metrics, folder.plots / "losses.png")
        except DataError:
            pass
