"""Spec in, results out: the one place a recipe becomes a spec and a spec becomes a finished run.

A package of private modules whose public names are re-exported here (scikit-learn's
``model_selection`` layout); callers import from ``modgen.pipeline`` only.

* spec (:func:`resolve_spec`, :func:`read_spec`, :func:`validate_spec`, :func:`spec_id`,
  :func:`default_run_folder`, :func:`run_folder`) — the recipe (or a config file), the data, the preset and the
  ``--set`` overrides meet here, in that order, and the result is validated before anything runs.
* folder (:func:`check_folder`, :func:`prepare_folder`) — whether a run may be written into a
  folder, and ``provenance.json``.
* stages (:func:`needs_selection`, :func:`selection_spec`, :func:`check_data`, :func:`choose_checkpoint`,
  :func:`train_or_load`, :func:`choose_settings`, :func:`evaluate_with_floor`, :func:`load_run`,
  :func:`open_run`, ...) — the steps a run is made of, public so that the sweeps and an embedder
  compose the same ones; :func:`train_or_load` holds the one resume rule.
* run (:func:`run`, :func:`run_seeds`, :func:`run_spec`, :func:`evaluate_run`) — load the data,
  train, choose the classifiers' settings on the validation classes, evaluate, and write the run
  folder (:mod:`modgen.rundir`); several seeds and their mean ± std; what ``modgen train`` does
  with a spec; a finished run evaluated again.
* analyses (:func:`synthesize_features`, which is ``modgen.synthesize``, :func:`synthesize_run`,
  :func:`retrieve_run`, :func:`synthesis_curve`, :func:`tsne_run`) — what a finished run is used
  for afterwards.

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

from modgen.pipeline._analyses import (
    class_ids,
    retrieve_run,
    synthesis_curve,
    synthesize_features,
    synthesize_run,
    tsne_run,
)
from modgen.pipeline._folder import check_folder, prepare_folder, resume_spec
from modgen.pipeline._run import RunResult, evaluate_run, finished_run, run, run_seeds, run_spec
from modgen.pipeline._spec import (
    data_shapes,
    default_run_folder,
    read_spec,
    resolve_spec,
    run_folder,
    spec_id,
    validate_spec,
)
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
    selection_for,
    selection_spec,
    train_or_load,
    write_evaluation,
)

__all__ = [
    # spec in
    "read_spec",
    "resolve_spec",
    "data_shapes",
    "validate_spec",
    "spec_id",
    "default_run_folder",
    "run_folder",
    # the run folder
    "check_folder",
    "prepare_folder",
    "resume_spec",
    # the stages a sweep or an embedder composes
    "needs_selection",
    "needs_selection_model",
    "selection_spec",
    "check_data",
    "check_classifiers",
    "train_or_load",
    "load_run",
    "open_run",
    "choose_checkpoint",
    "checkpoint_stop",
    "choose_settings",
    "selection_for",
    "evaluate_with_floor",
    "write_evaluation",
    # results out
    "RunResult",
    "finished_run",
    "run",
    "run_seeds",
    "run_spec",
    "evaluate_run",
    # a finished run, afterwards
    "class_ids",
    "synthesize_features",
    "synthesize_run",
    "retrieve_run",
    "synthesis_curve",
    "tsne_run",
]
