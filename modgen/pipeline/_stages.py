"""The stages of a run: the public steps :func:`~modgen.pipeline.run`, the sweeps and an embedder
compose (check the data, build once before writing, train or load by the one resume rule,
choose the classifiers' settings on the validation classes, evaluate with the closed-form floor,
write the evaluation), and :func:`open_run`, which every use of a finished run starts with.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve

from modgen.config import read_toml_text, spec_from_toml, spec_to_dict, spec_to_toml
from modgen.errors import CheckpointError, ConfigError, DataError
from modgen.rundir import RunDir, atomic_write_text, write_json

if TYPE_CHECKING:
    import torch

    from modgen.config import RecipeSpec
    from modgen.data.zsldata import ZSLData
    from modgen.distributed import DistContext
    from modgen.evaluate.protocols import EvaluationResult, Selection
    from modgen.registry import Registries
    from modgen.train.loop import TrainOutcome

__all__ = [
    "needs_selection",
    "needs_selection_model",
    "selection_spec",
    "check_data",
    "preflight_run",
    "check_classifiers",
    "load_run",
    "open_run",
    "train_or_load",
    "choose_checkpoint",
    "checkpoint_stop",
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


def needs_selection_model(spec: RecipeSpec, registries: Registries, *, evaluate: bool = True) -> bool:
    """Whether a run of ``spec`` trains a selection model (``RUN/selection``): its training length
    is chosen on the validation classes (``evaluation.checkpoint="val"``, whether or not it is
    evaluated), or, when it is evaluated, its classifiers' settings (:func:`needs_selection`)."""
    return spec.evaluation.checkpoint == "val" or (evaluate and needs_selection(spec, registries))


def selection_spec(spec: RecipeSpec) -> RecipeSpec:
    """The spec of the selection model: ``spec`` on the data's validation view (train classes)."""
    return evolve(spec, data=evolve(spec.data, validation=True))


def check_data(spec: RecipeSpec, data: ZSLData, *, selection: bool) -> None:
    """The evaluation's checks of the data (:func:`modgen.evaluate.protocols.check_data`) and, with
    ``selection``, enough validation classes: made before any training starts.

    Raises:
        DataError, ConfigError: naming the data set and what it lacks.
    """
    from modgen.evaluate.protocols import check_data as check_evaluation_data

    check_evaluation_data(spec.evaluation, data)
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
) -> int:
    """Everything a run builds, built once before its folder is made or changed: the networks and
    the trainer on the data (and on its validation view when settings are selected there), and
    the final classifiers with each of their settings.

    Returns:
        The number of parameters of the run's networks (for the thread policy).
    """
    from modgen.train.loop import preflight

    n_params = preflight(spec, registries, data, device, dist)
    if selection:
        preflight(selection_spec(spec), registries, data.validation_view(), device, dist)
    if evaluate:
        check_classifiers(spec, registries)
    return n_params


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


def load_run(
    path: str | os.PathLike[str],
    registries: Registries | None = None,
    *,
    device: str | torch.device = "auto",
    data: ZSLData | None = None,
) -> TrainOutcome:
    """Load a finished (or interrupted) run: its spec, data and the networks at the last checkpoint.

    Args:
        path: the run folder.
        registries: component registries (default: :func:`modgen.plugins.get_registries`, the
            built-ins and the installed plugins).
        device: where to load the networks (``auto``: CUDA when available).
        data: the run's data when the caller has it (default: loaded through the run's spec).

    Raises:
        CheckpointError: the folder has no config.toml or checkpoint, or they do not match.
    """
    from modgen.runtime import resolve_device

    if registries is None:
        from modgen.plugins import get_registries

        registries = get_registries()
    from modgen.train.checkpoint import data_fingerprint, load_checkpoint, load_weights
    from modgen.train.loop import TrainOutcome, build_for_data

    run = RunDir(path)
    if not run.config.is_file():
        raise CheckpointError(f"{str(run.root)!r} is not a modgen run folder: no config.toml")
    spec = spec_from_toml(read_toml_text(run.config, "the run's config file"), source=str(run.config))
    dev = resolve_device(device, key="--device")
    ckpt = load_checkpoint(run.checkpoint, map_location=dev)
    if data is None:
        from modgen.data import load_dataset

        data = load_dataset(registries, spec.data)
    if ckpt["data"] != data_fingerprint(data):
        raise CheckpointError(
            f"Checkpoint {str(run.checkpoint)!r} was trained on {ckpt['data']}, not on {data_fingerprint(data)}"
        )
    assembly = build_for_data(spec, registries, data, dev)
    load_weights(assembly, ckpt["model"], run.checkpoint)
    assembly.eval()
    episode = int(ckpt["episode"])
    return TrainOutcome(run, spec, assembly, data, episode, 0.0, dev, {}, start=episode)


def open_run(
    path: str | os.PathLike[str],
    registries: Registries,
    *,
    device: str | torch.device = "auto",
    threads: int | None = None,
) -> TrainOutcome:
    """:func:`load_run`, then torch's CPU threads set for its networks (:func:`~modgen.runtime.apply_threads`
    with their parameter count): what every use of a finished run starts with.

    Args:
        threads: the thread count (``0``: modgen's policy; default: the run's ``run.threads``).
    """
    from modgen.runtime import apply_threads

    outcome = load_run(path, registries, device=device)
    requested = outcome.spec.run.threads if threads is None else threads
    apply_threads(requested, outcome.device, sum(p.numel() for p in outcome.assembly.parameters()))
    return outcome


def _finished_training(run: RunDir, spec: RecipeSpec, stop_at: int | None = None) -> bool:
    """Whether training finished in ``run`` (summary and checkpoint) with ``spec``'s episodes
    (or ``stop_at``'s, the length chosen on the validation classes)."""
    import json

    if not run.is_trained():
        return False
    try:
        done = json.loads(run.summary.read_text(encoding="utf-8")).get("episodes")
    except (OSError, ValueError, AttributeError):
        return False
    return done is not None and done == (stop_at or spec.trainer.params.get("episodes"))


def train_or_load(
    spec: RecipeSpec,
    registries: Registries,
    folder: str | os.PathLike[str],
    data: ZSLData,
    *,
    device: torch.device,
    resume: bool = False,
    progress: Progress | None = None,
    dist: DistContext | None = None,
    on_start: Callable[[int], None] | None = None,
    on_record: Callable[[int, dict[str, Any]], str | None] | None = None,
    on_checkpoint: Callable[[int, Any], None] | None = None,
    stop_at: tuple[int, str] | None = None,
) -> TrainOutcome:
    """The model of ``spec`` in ``folder``, by the one resume rule every caller shares
    (:func:`run`, :func:`run_seeds`, the selection model, the sweeps):

    * with ``resume``, a folder whose training finished with ``spec``'s episodes is loaded as it is;
    * with ``resume``, a folder with a checkpoint continues from it (after
      :func:`~modgen.train.checkpoint.restore` has checked that it continues ``spec``);
    * otherwise training starts at episode 0 (so does a run interrupted before its first checkpoint).

    The folder's ``config.toml`` is written when training starts (for a resumed run: once its
    checkpoint is restored). The caller has set the device and the threads. ``on_record``,
    ``on_checkpoint``, ``stop_at``: see :func:`modgen.train.loop.train` (with ``stop_at``, a
    run that finished at that episode counts as finished).

    Raises:
        CheckpointError, TrainingDivergedError: see :func:`modgen.train.loop.train`.
    """
    from modgen.train.loop import train

    run = RunDir(folder)
    if resume and _finished_training(run, spec, stop_at[0] if stop_at else None):
        return load_run(run.root, registries, device=device, data=data)

    def started(episode: int) -> None:  # called on the main process only
        if on_start is not None:
            on_start(episode)
        atomic_write_text(run.config, spec_to_toml(spec))

    return train(
        spec,
        registries,
        data=data,
        out=run.root,
        device=device,
        resume=resume and run.checkpoint.is_file(),
        progress=progress,
        dist=dist,
        on_start=started,
        on_record=on_record,
        on_checkpoint=on_checkpoint,
        stop_at=stop_at,
    )


#: The selection model's record of its checkpoints' scores (``RUN/selection/<this>``).
CHECKPOINTS_FILE = "checkpoints.json"
#: The selection model's best-scoring checkpoint (``RUN/selection/checkpoints/<this>``).
BEST_FILE = "best.pt"


def checkpoint_stop(chosen: int) -> tuple[int, str]:
    """``stop_at`` for the final model of :func:`choose_checkpoint`'s choice: the episode and
    the reason its run records."""
    return (
        chosen,
        f"evaluation.checkpoint=val: episode {chosen} scored best on the validation classes "
        f"(selection/{CHECKPOINTS_FILE})",
    )


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary file (a crash leaves the old one intact)."""
    import shutil
    import tempfile

    from modgen.rundir import record_written

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    record_written(target)


def choose_checkpoint(
    spec: RecipeSpec,
    registries: Registries,
    run: RunDir,
    data: ZSLData,
    *,
    device: torch.device,
    resume: bool,
    progress: Progress | None,
    log: Log,
    dist: DistContext,
    on_start: Callable[[int], None] | None = None,
) -> tuple[TrainOutcome, int]:
    """The training length chosen on the validation classes (``evaluation.checkpoint="val"``).

    Trains the selection model (``spec`` on the ``train`` classes, ``RUN/selection``, by
    :func:`train_or_load`) and scores it at every checkpoint by
    :func:`~modgen.evaluate.protocols.checkpoint_score` (``ncm_cosine_unseen`` on the ``val``
    classes it never saw). The first best episode is chosen; the scores, the choice and the
    criterion go to ``RUN/selection/checkpoints.json``, the best checkpoint to
    ``RUN/selection/checkpoints/best.pt``.

    Returns:
        The selection model with the chosen episode's networks, and that episode (the final
        model trains that many episodes).
    """
    import json

    from modgen.evaluate.protocols import CHECKPOINT_CRITERION, checkpoint_score
    from modgen.train.checkpoint import load_checkpoint, load_weights

    folder = RunDir(run.selection)
    record_path = folder.root / CHECKPOINTS_FILE
    best_path = folder.checkpoint.parent / BEST_FILE
    view = data.validation_view()
    total = int(spec.trainer.params.get("episodes", 0))
    scores: dict[int, float] = {}
    if resume and record_path.is_file():
        scores = {int(k): float(v) for k, v in json.loads(record_path.read_text("utf-8"))["scores"].items()}
    log(
        f"checkpoint selection: training on the {len(view.seen_classes)} train classes, scoring each "
        f"checkpoint by {CHECKPOINT_CRITERION} on the {len(view.unseen_classes)} val classes -> {folder.root}"
    )

    def write(chosen: int | None) -> None:
        write_json(
            record_path,
            {
                "criterion": f"{CHECKPOINT_CRITERION} on the val classes (%, one synthetic draw)",
                "val_classes": [int(c) for c in view.unseen_classes],
                "episodes": total,
                "scores": {str(e): v for e, v in sorted(scores.items())},
                "chosen": chosen,
            },
        )

    def on_checkpoint(episode: int, assembly: Any) -> None:
        value = checkpoint_score(assembly, view, spec.evaluation, seed=spec.run.seed)
        best = max(scores.values(), default=float("-inf"))
        scores[episode] = value
        if value > best:  # the checkpoint just saved is this episode's: keep a copy
            _copy_atomically(folder.checkpoint, best_path)
        write(None)

    outcome = train_or_load(
        selection_spec(spec),
        registries,
        folder.root,
        view,
        device=device,
        resume=resume,
        progress=progress,
        dist=dist,
        on_start=on_start,
        on_checkpoint=on_checkpoint if dist.is_main else None,
    )
    if not scores:  # a run without checkpoints to score: the last episode
        scores[outcome.episodes] = checkpoint_score(
            outcome.assembly, view, spec.evaluation, seed=spec.run.seed
        )
    chosen = max(scores, key=lambda e: (scores[e], -e))  # the first best
    if chosen != outcome.episodes and best_path.is_file():
        best = load_checkpoint(best_path, map_location=outcome.device)
        load_weights(outcome.assembly, best["model"], best_path)
    if dist.is_main:
        write(chosen)
    log(
        f"checkpoint selection: episode {chosen} of {total} ({CHECKPOINT_CRITERION} on the val classes "
        f"{scores[chosen]:.1f}; " + ", ".join(f"{e}: {v:.1f}" for e, v in sorted(scores.items())) + ")"
    )
    return outcome, chosen


def choose_settings(
    spec: RecipeSpec,
    registries: Registries,
    run: RunDir,
    data: ZSLData,
    *,
    device: torch.device,
    resume: bool,
    progress: Progress | None,
    log: Log,
    dist: DistContext,
    on_start: Callable[[int], None] | None = None,
    model: TrainOutcome | None = None,
) -> Selection:
    """Train a generator on the train classes (``RUN/selection``, by :func:`train_or_load`) and
    choose the classifiers' settings on the validation classes (``RUN/selection/selection.json``).

    ``model``: the selection model already trained (by :func:`choose_checkpoint`, with its chosen
    episode's networks), used as it is."""
    import json

    from modgen.evaluate.protocols import Selection, select

    folder = RunDir(run.selection)
    chosen = folder.root / "selection.json"
    if chosen.is_file():
        return Selection(json.loads(chosen.read_text(encoding="utf-8"))["record"])
    view = data.validation_view()
    log(
        f"selection: training on the {len(view.seen_classes)} train classes, judging on the "
        f"{len(view.unseen_classes)} val classes -> {folder.root}"
    )
    outcome = model or train_or_load(
        selection_spec(spec),
        registries,
        folder.root,
        view,
        device=device,
        resume=resume,
        progress=progress,
        dist=dist,
        on_start=on_start,
    )
    selection = select(outcome.assembly, view, spec.evaluation, registries, seed=spec.run.seed, log=log)
    if dist.is_main:
        write_json(chosen, {"record": selection.record, "evaluation": spec_to_dict(spec.evaluation)})
    return selection


def selection_for(
    spec: RecipeSpec,
    registries: Registries,
    run_dir: RunDir,
    data: ZSLData,
    log: Log | None,
    *,
    device: str | torch.device = "auto",
) -> Selection:
    """The classifiers' settings for re-evaluating a run with ``spec.evaluation``: the recorded
    choice when it was made with these evaluation settings, else chosen again on the run's
    selection model (the generator trained on the train classes).

    Raises:
        ConfigError: the run has no selection model.
    """
    import json

    from modgen.evaluate.protocols import Selection, select

    chosen = run_dir.selection / "selection.json"
    if chosen.is_file():
        stored = json.loads(chosen.read_text(encoding="utf-8"))
        if stored.get("evaluation") == spec_to_dict(spec.evaluation):
            return Selection(stored["record"])
    model = RunDir(run_dir.selection)
    if not model.is_trained():
        raise ConfigError(
            f"{str(run_dir.root)!r} has no selection model (selection/) to choose the classifiers' settings with "
            "these evaluation settings; evaluate with --set evaluation.selection=none, or train the run with "
            "evaluation.selection=val"
        )
    view = data.validation_view()
    outcome = load_run(model.root, registries, device=device, data=view)
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
    """Write ``result`` into ``folder`` (results.json/.md), its record into the metrics
    (:meth:`RunDir.append_evaluation`) and the loss plot."""
    from modgen.report import plot_losses
    from modgen.rundir import write_results

    write_results(folder.root, result)
    folder.append_evaluation(result, name, episode)
    if folder.metrics.exists():
        try:
            plot_losses(folder.metrics, folder.plots / "losses.png")
        except DataError:
            pass
