"""Results out: one run of a spec (:func:`run`), several seeds (:func:`run_seeds`), and a finished
run evaluated again (:func:`evaluate_run`)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve, frozen

from modgen.config import RecipeSpec, apply_overrides, spec_to_toml
from modgen.errors import ConfigError
from modgen.pipeline._folder import check_folder, mark_state, prepare_folder, provenance, record_stop
from modgen.pipeline._spec import default_run_folder, read_spec, run_folder, spec_id, validate_spec
from modgen.pipeline._stages import (
    check_classifiers,
    check_data,
    checkpoint_stop,
    choose_checkpoint,
    choose_settings,
    evaluate_with_floor,
    load_run,
    needs_selection,
    needs_selection_model,
    open_run,
    preflight_run,
    selection_for,
    train_or_load,
    write_evaluation,
)
from modgen.rundir import RunDir, atomic_write_text, check_writable_folder, write_json, write_results

if TYPE_CHECKING:
    import torch

    from modgen.data.zsldata import ZSLData
    from modgen.distributed import DistContext
    from modgen.evaluate.protocols import EvaluationResult, Selection
    from modgen.loggers import LoggerSet
    from modgen.registry import Registries
    from modgen.train.loop import TrainOutcome

__all__ = ["RunResult", "finished_run", "run", "run_seeds", "run_spec", "evaluate_run"]

Log = Callable[[str], None]
Progress = Callable[[int, int, dict[str, Any]], None]

#: Detail lines (sizes, device, threads, where time went): ``modgen -v`` shows them.
detail = logging.getLogger("modgen.pipeline")


@frozen
class RunResult:
    """What :func:`run` returns.

    Attributes:
        run: the run folder.
        spec: the spec it ran.
        outcome: the training outcome (networks, data, time).
        result: the evaluation (``None`` with ``evaluate=False`` or on ranks other than 0).
        selection: the classifiers' settings chosen on the validation classes, if any.
        reused: the folder already held this finished run, which was returned as it is (nothing
            was trained or written; see :func:`finished_run`).
    """

    run: RunDir
    spec: RecipeSpec
    outcome: TrainOutcome
    result: EvaluationResult | None
    selection: Selection | None
    reused: bool = False


def finished_run(
    spec: RecipeSpec,
    registries: Registries,
    folder: str | os.PathLike[str],
    *,
    data: ZSLData | None = None,
) -> RunResult | None:
    """The finished run of ``spec`` in ``folder`` (its networks and recorded results), or ``None``
    when ``folder`` holds no finished run of this very spec (same :func:`spec_id`).

    Nothing is written; the result has ``reused=True``.
    """
    import json

    from modgen.evaluate.protocols import Selection
    from modgen.rundir import read_results

    run_dir = RunDir(folder)
    if not (run_dir.is_finished() and run_dir.is_trained()):
        return None
    try:
        same = spec_id(read_spec(run_dir.config)) == spec_id(spec)
    except ConfigError:
        return None
    if not same:
        return None
    outcome = load_run(run_dir.root, registries, device=spec.run.device, data=data)
    chosen = run_dir.selection / "selection.json"
    selection = (
        Selection(json.loads(chosen.read_text(encoding="utf-8"))["record"]) if chosen.is_file() else None
    )
    return RunResult(run_dir, outcome.spec, outcome, read_results(run_dir.root)[0], selection, reused=True)


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
        out: the run folder. Default: :func:`run_folder` (``runs/<recipe>-<data>-<id>/seed<S>``,
            named after what the spec computes), where a finished run of this very spec is
            returned as it is (``RunResult.reused``; nothing is trained or written) instead of
            being refused, so the same command can be repeated.
        resume: continue the run in ``out`` (see :func:`train_or_load`).
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
    from modgen.runtime import apply_threads, cpu_size_hint, resolve_device

    say = log or (lambda _line: None)
    spec = validate_spec(spec, registries)
    folder = RunDir(run_folder(spec, out))
    if out is None and not (resume or overwrite):
        done = finished_run(spec, registries, folder.root, data=data)
        if done is not None:
            return done
    dist, device = setup_distributed(resolve_device(spec.run.device, key="run.device"))
    if dist.is_main:  # before any work: a folder that cannot be used (or is in use) fails at once
        check_folder(folder, resume=resume, overwrite=overwrite)
    if data is None:
        from modgen.data import load_dataset

        data = load_dataset(registries, spec.data)
    selection_needed = evaluate and needs_selection(spec, registries)
    model_needed = needs_selection_model(spec, registries, evaluate=evaluate)
    check_data(spec, data, selection=model_needed)
    n_params = preflight_run(spec, registries, data, device, dist, selection=model_needed, evaluate=evaluate)
    threads = apply_threads(spec.run.threads, device, n_params)  # once, for every network of the run
    if dist.is_main:
        _log_setup(spec, device, n_params)
        hint = cpu_size_hint(device, n_params, spec.trainer.params.get("episodes"))
        if hint is not None and not resume:
            logging.getLogger("modgen").warning(hint)
    started: list[int] = []

    def on_start(_episode: int) -> None:
        # a resume changes no file until its checkpoint has been checked and restored
        if dist.is_main and not started:
            started.append(_episode)
            write_json(
                folder.provenance, {**provenance(spec, registries, device, threads), "state": "running"}
            )

    with folder.lock() if dist.is_main else contextlib.nullcontext():
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
                device,
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
                mark_state(folder, "interrupted" if isinstance(err, KeyboardInterrupt) else "failed", err)
            raise
        if dist.is_main:
            mark_state(folder, "finished", None)
    return result_run


def _run_locked(
    spec: RecipeSpec,
    registries: Registries,
    folder: RunDir,
    data: ZSLData,
    device: torch.device,
    dist: DistContext,
    resume: bool,
    evaluate: bool,
    selection_needed: bool,
    progress: Progress | None,
    say: Log,
    on_start: Callable[[int], None],
) -> RunResult:
    selection = model = stop_at = None
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    # the selection model's steps share the run's folder, data and settings
    steps: dict[str, Any] = dict(
        device=device, resume=resume, progress=progress, log=say, dist=dist, on_start=on_start
    )
    if spec.evaluation.checkpoint == "val":
        model, chosen = choose_checkpoint(spec, registries, folder, data, **steps)
        stop_at = checkpoint_stop(chosen)
    if selection_needed:
        selection = choose_settings(spec, registries, folder, data, model=model, **steps)
    if model is not None or selection_needed:
        seconds["selection"] = time.perf_counter() - t0
    loggers = _open_loggers(spec, registries, folder) if dist.is_main else None
    try:
        outcome = train_or_load(
            spec,
            registries,
            folder.root,
            data,
            device=device,
            resume=resume,
            progress=progress,
            dist=dist,
            on_start=on_start,
            on_record=_record_callback(spec, registries, folder, loggers) if dist.is_main else None,
            stop_at=stop_at,
        )
        say(
            f"trained {outcome.episodes - outcome.start} episodes in {outcome.seconds:.1f} s on {outcome.device}"
        )
        seconds["training"] = outcome.seconds
        if outcome.stopped is not None and dist.is_main:
            say(f"stopped early after episode {outcome.episodes}: {outcome.stopped}")
            record_stop(folder, outcome.episodes, outcome.stopped)
        result = None
        if evaluate and dist.is_main:
            say("evaluating ...")
            t0 = time.perf_counter()
            result = evaluate_with_floor(spec, registries, outcome.assembly, data, selection, say)
            say("evaluation time: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
            floor = result.seconds.get("closed-form floor", 0.0)
            seconds["evaluation"] = time.perf_counter() - t0 - floor
            seconds["closed-form floor"] = floor
            write_evaluation(folder, result, "final", outcome.episodes)
            if loggers is not None:
                loggers.log_metrics(_eval_metrics(folder), outcome.episodes)
        if loggers is not None:
            loggers.log_artifacts(sorted(folder.plots.glob("*.png")) if folder.plots.is_dir() else [])
    finally:
        if loggers is not None:
            loggers.close()
    if dist.is_main:
        detail.debug("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return RunResult(folder, spec, outcome, result, selection)


def _log_setup(spec: RecipeSpec, device: torch.device, n_params: int | None) -> None:
    """The detail lines of a run's start: the resolved sizes, the device and the thread policy."""
    from modgen.runtime import machine_name, thread_policy

    widths = ", ".join(
        f"{slot} {key}={value}"
        for slot in ("generator", "modulator", "critic", "aux_classifier", "attribute_decoder")
        for key, value in getattr(spec, slot).params.items()
        if "hidden" in key or "width" in key
    )
    tasks = ", ".join(f"{k}={v}" for k, v in spec.task_sampler.params.items())
    detail.debug(
        f"sizes: {widths or 'each network at its defaults'}; {spec.trainer.params.get('episodes')} "
        f"episodes ({spec.trainer.name} trainer); tasks ({spec.task_sampler.name}): {tasks}"
    )
    params = f", {n_params / 1e6:.2f}M parameters" if n_params is not None else ""
    detail.debug(f"device: {device} ({machine_name(device)}){params}")
    detail.debug(f"threads: {thread_policy(spec.run.threads, device, n_params)}")


def _open_loggers(spec: RecipeSpec, registries: Registries, folder: RunDir) -> LoggerSet:
    """The run's loggers (``run.loggers``), given the resolved spec as hyper-parameters."""
    from modgen.config import spec_to_dict
    from modgen.loggers import flat_params, open_loggers

    loggers = open_loggers(spec.run.loggers, registries, folder.root)
    loggers.log_params(flat_params(spec_to_dict(spec)))
    return loggers


def _record_callback(
    spec: RecipeSpec, registries: Registries, folder: RunDir, loggers: LoggerSet | None
) -> Callable[[int, dict[str, Any]], str | None]:
    """``on_record`` for the training loop: each record to the loggers, then the plugins'
    ``modgen_train_record`` hook; the first reason a plugin gives stops the run."""

    def on_record(episode: int, record: dict[str, Any]) -> str | None:
        if loggers is not None:
            loggers.log_metrics(record, episode)
        hook = registries.train_record
        answers = hook(spec=spec, folder=folder.root, episode=episode, record=dict(record)) if hook else []
        return next((str(a) for a in answers if a), None)

    return on_record


def _eval_metrics(folder: RunDir) -> dict[str, Any]:
    """The final evaluation's record of ``metrics.jsonl`` (``zsl/<c>``, ``gzsl_h/<c>``, ``quality/<m>``)."""
    import json

    lines = folder.metrics.read_text(encoding="utf-8").splitlines()
    evals = [r for r in map(json.loads, filter(None, lines)) if r.get("kind") == "eval"]
    return {k: v for k, v in evals[-1].items() if "/" in k} if evals else {}


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

    Without ``out`` (the default folder, :func:`default_run_folder`), a seed whose finished run of
    this spec is already there is reused as :func:`run` reuses it; the others are trained.

    Raises:
        ConfigError: no seeds, or ``out`` already holds results (and not ``resume``/``overwrite``).
    """
    from modgen.data import load_dataset

    if not seeds:
        raise ConfigError("--seeds: expected at least 1 seed")
    spec = validate_spec(spec, registries)
    base = Path(out) if out is not None else default_run_folder(spec)
    reuse = out is None and not overwrite
    if not (resume or overwrite or reuse) and (base / "results.json").is_file():
        raise ConfigError(
            f"run folder {str(base)!r} already holds results; add --resume, --overwrite or choose another --out"
        )
    data = load_dataset(registries, spec.data)
    results = []
    for seed in seeds:
        s = evolve(spec, run=evolve(spec.run, seed=int(seed)))
        folder = base / f"seed{seed}"
        done = finished_run(s, registries, folder, data=data) if resume or reuse else None
        if done is not None:
            results.append(done)
            continue
        results.append(
            run(
                s,
                registries,
                folder,
                resume=resume and RunDir(folder).config.is_file(),
                overwrite=overwrite,
                evaluate=evaluate,
                data=data,
                progress=progress,
                log=log,
            )
        )
    evaluated = [r.result for r in results if r.result is not None]
    if len(evaluated) > 1 and not all(r.reused for r in results):
        write_results(base, evaluated)
    return results


def run_spec(
    spec: RecipeSpec,
    registries: Registries,
    *,
    seeds: int = 1,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    progress: Progress | None = None,
    log: Log | None = None,
) -> list[RunResult]:
    """What ``modgen train`` does with a spec: :func:`run` for one seed, :func:`run_seeds` for
    ``seeds`` of them (``run.seed``, ``run.seed + 1``, ...), into :func:`run_folder` ``(spec, out, seeds=seeds)``.

    Returns:
        One :class:`RunResult` per seed.

    Raises:
        ConfigError: ``seeds < 1``; and as :func:`run` and :func:`run_seeds`.
    """
    if seeds < 1:
        raise ConfigError(f"--seeds: expected at least 1 seed, got {seeds}")
    if seeds == 1:
        return [
            run(
                spec,
                registries,
                out,
                resume=resume,
                overwrite=overwrite,
                evaluate=evaluate,
                progress=progress,
                log=log,
            )
        ]
    seed_list = [spec.run.seed + i for i in range(seeds)]
    return run_seeds(
        spec,
        registries,
        seed_list,
        out,
        resume=resume,
        overwrite=overwrite,
        evaluate=evaluate,
        progress=progress,
        log=log,
    )


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
    selection model otherwise. A run trained without evaluation (``--no-eval``) has no selection
    model yet: it is trained now (into ``RUN/selection``, exactly as training with evaluation
    would have), so ``modgen train --no-eval`` then ``modgen evaluate`` gives the results of
    ``modgen train``.

    Raises:
        ConfigError: an override outside ``evaluation.*`` (a trained run's other settings cannot
            change), or ``selection='val'`` on a run without a selection model.
    """
    for text in overrides:
        key = text.split("=", 1)[0].strip()
        if not key.startswith("evaluation."):
            raise ConfigError(
                f"--set {text!r}: modgen evaluate changes only evaluation.* settings; {key!r} was fixed "
                "when the run was trained (train a new run to change it)"
            )
        if key == "evaluation.checkpoint":
            raise ConfigError(
                f"--set {text!r}: evaluation.checkpoint chose the run's training length when it was "
                "trained (train a new run to change it)"
            )
    outcome = open_run(path, registries, device=device, threads=threads)
    spec = validate_spec(apply_overrides(outcome.spec, list(overrides)), registries)
    run_dir = RunDir(path)
    eval_id = hashlib.sha256(spec_to_toml(spec.evaluation).encode()).hexdigest()[:8]
    target = RunDir(out if out is not None else run_dir.root / "evaluations" / eval_id)
    check_writable_folder(target.root, "write the evaluation into")
    check_classifiers(spec, registries)
    selection = None
    if needs_selection(spec, registries):
        model = RunDir(run_dir.selection)
        if model.is_trained():
            selection = selection_for(spec, registries, run_dir, outcome.data, log, device=outcome.device)
        else:  # trained with --no-eval: the selection model is trained now, as training would have
            from modgen.distributed import DistContext

            with run_dir.lock():
                choose_settings(
                    outcome.spec,
                    registries,
                    run_dir,
                    outcome.data,
                    device=outcome.device,
                    resume=model.config.is_file(),
                    progress=None,
                    log=log or (lambda _line: None),
                    dist=DistContext(),
                )
            # the choice recorded for the run's own evaluation settings, or made again for overrides
            selection = selection_for(spec, registries, run_dir, outcome.data, log, device=outcome.device)
    result = evaluate_with_floor(
        spec, registries, outcome.assembly, outcome.data, selection, log or (lambda _line: None)
    )
    with run_dir.lock():
        atomic_write_text(target.root / "eval.toml", spec_to_toml(spec.evaluation))
        write_results(target.root, result)
        run_dir.append_evaluation(result, eval_id, outcome.episodes)
    return result, target.root
