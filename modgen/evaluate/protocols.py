"""The evaluation of Section III: ZSL, GZSL, and classifier-free measures, over evaluation seeds.

:func:`evaluate` composes the functional core (:mod:`~modgen.evaluate.sets`,
:mod:`~modgen.evaluate.scoring`, :mod:`~modgen.evaluate.quality`): for each of
``config.seeds`` evaluation seeds it synthesises the ZSL and GZSL training sets, fits every
final classifier of ``config.classifiers`` on them and scores it on the real test features,
and measures the synthetic features without a classifier. Every number of the result is the
mean over the evaluation seeds, with the standard deviation beside it; all accuracies are in
percent.

**Choosing each classifier's hyper-parameters** (its ``selection_grid``: ``C`` for the SVMs,
``lr`` for the softmax classifiers; parameters fixed in ``classifier_params`` are not searched,
and ``classifier_params[name]["grid"]`` replaces the grid):

* ``selection="val"`` (default): Xian et al.'s protocol. :func:`select` judges the grid with a
  generator trained on the ``train`` classes only, on the data's validation view (whose unseen
  classes are the ``val`` classes that generator never saw): ZSL by the view's ZSL top-1, GZSL
  by the view's ``H``, each averaged over the evaluation seeds. The chosen values are then used
  by :func:`evaluate` with the final generator (trained on ``trainval``) on the test split. The
  test split is never looked at for selection. :func:`modgen.pipeline.run` trains both
  generators.
* ``selection="none"``: every classifier runs with its own parameters (no grid).
* ``selection="test"``: the literature-comparison mode. Every grid value is evaluated on the
  test split and the best mean ZSL top-1 and the best mean ``H`` are reported; every such
  result carries ``selected_on="test"`` and reports mark it.

Example:
    >>> from modgen.assembly import build_assembly
    >>> from modgen.config import EvalConfig
    >>> from modgen.data.digits import load_digits_zsl
    >>> from modgen.plugins import get_registries
    >>> from modgen.recipes import zsml
    >>> regs, data = get_registries(entry_points=False), load_digits_zsl()
    >>> asm = build_assembly(zsml(), regs, attr_dim=data.attr_dim, feature_dim=data.feature_dim,
    ...                      num_classes=len(data.seen_classes), seed=0, device="cpu")
    >>> cfg = EvalConfig(classifiers=("svm",), zsl_samples=10, gzsl_samples=10, seeds=2,
    ...                  selection="none")
    >>> r = evaluate(asm, data, cfg, regs, seed=0)
    >>> sorted(r.gzsl["svm"]), r.eval_seeds, "ncm_cosine_unseen" in r.quality
    (['h', 's', 'u'], 2, True)
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import torch
from attrs import field, frozen

from modgen.config import GZSL_SEEN, SELECTION_MODES
from modgen.errors import ConfigError, DataError
from modgen.evaluate.quality import collapse_warnings, feature_quality, ncm_accuracy, real_class_means
from modgen.evaluate.scoring import TestSplit, classifier_grid, fit_points, gzsl_score, zsl_score
from modgen.evaluate.sets import (
    configured_synthetic_set,
    gzsl_set,
    real_unseen_halves,
    with_real_unseen,
    zsl_set,
)
from modgen.runtime import resolve_device

if TYPE_CHECKING:
    from modgen.config import EvalConfig
    from modgen.data.zsldata import ZSLData
    from modgen.registry import Registries

__all__ = [
    "EvaluationResult",
    "Selection",
    "evaluate",
    "select",
    "aggregate",
    "evaluation_seeds",
    "check_data",
    "checkpoint_score",
    "CHECKPOINT_CRITERION",
]

Log = Callable[[str], None]


# ----------------------------------------------------------------------------------------------
# results


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@frozen
class EvaluationResult:
    """The measurements of one trained model: means over evaluation seeds, in percent.

    Attributes:
        dataset: the data set's name.
        name: what was evaluated (usually the recipe's name), or ``""``.
        seed: the evaluation's base seed (the run's seed).
        eval_seeds: how many evaluation seeds each number averages.
        selected_on: ``"val"``, ``"none"`` or ``"test"`` (see the module doc).
        gzsl_seen: ``"synthetic"`` or ``"real"`` seen-class features in GZSL.
        zsl, zsl_std: per-class mean top-1 by classifier (mean and std over evaluation seeds).
        gzsl, gzsl_std: ``{"u", "s", "h"}`` by classifier.
        quality, quality_std: the classifier-free measures
            (:mod:`~modgen.evaluate.quality`), retrieval precision@k included.
        zsl_per_class: top-1 of each unseen class (by class name), by classifier.
        selection: by classifier, for ``"zsl"`` and ``"gzsl"``: the ``params`` used, the
            ``criterion`` and the ``scores`` of every grid value.
        floor: closed-form baselines on the same split (name -> their measurements), if run.
        warnings: plain warnings about the synthetic features (unseen collapse, seen classes
            not reproduced; :func:`~modgen.evaluate.quality.collapse_warnings`), ``[]`` if none.
        seconds: where the evaluation's time went (synthesis, classifier-free measures, each
            classifier's fits and its scoring).
        config: the :class:`~modgen.config.EvalConfig` used, as a dict.
        preprocessing: the data's preprocessing record.

    Example:
        >>> r = EvaluationResult(dataset="digits", seed=0, zsl={"svm": 50.0})
        >>> EvaluationResult.from_dict(r.to_dict()) == r
        True
    """

    dataset: str
    seed: int = 0
    name: str = ""
    eval_seeds: int = 1
    selected_on: str = field(default="none", validator=attrs.validators.in_(SELECTION_MODES))
    gzsl_seen: str = field(default="synthetic", validator=attrs.validators.in_(GZSL_SEEN))
    zsl: dict[str, float] = field(factory=dict)
    zsl_std: dict[str, float] = field(factory=dict)
    gzsl: dict[str, dict[str, float]] = field(factory=dict)
    gzsl_std: dict[str, dict[str, float]] = field(factory=dict)
    quality: dict[str, float] = field(factory=dict)
    quality_std: dict[str, float] = field(factory=dict)
    zsl_per_class: dict[str, dict[str, float]] = field(factory=dict)
    selection: dict[str, dict[str, Any]] = field(factory=dict)
    floor: dict[str, dict[str, Any]] = field(factory=dict)
    warnings: list[str] = field(factory=list)
    seconds: dict[str, float] = field(factory=dict)
    config: dict[str, Any] = field(factory=dict)
    preprocessing: dict[str, Any] = field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (non-finite numbers become ``null``)."""
        return _jsonable(attrs.asdict(self, recurse=True))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Rebuild a result from :meth:`to_dict`'s output.

        Raises:
            DataError: unknown or missing keys, or malformed values.
        """
        names = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown or "dataset" not in data:
            raise DataError(
                f"EvaluationResult: unknown keys {unknown} or missing 'dataset'; expected keys {sorted(names)}"
            )
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as err:
            raise DataError(f"EvaluationResult: malformed value: {err}") from err


@frozen
class Selection:
    """What :func:`select` chose: per classifier, the parameters for ZSL and for GZSL.

    Attributes:
        record: ``{classifier: {"zsl"|"gzsl": {"params", "criterion", "scores"}}}``.
    """

    record: dict[str, dict[str, Any]]

    def params(self, classifier: str, task: str) -> dict[str, Any]:
        """The chosen parameters of ``classifier`` for ``task`` (``"zsl"`` or ``"gzsl"``)."""
        try:
            return dict(self.record[classifier][task]["params"])
        except KeyError:
            raise ConfigError(
                f"evaluation.selection='val': no selection was made for classifier {classifier!r}; "
                "run select() with the same classifiers"
            ) from None


def _stat(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), (float(arr.std(ddof=1)) if arr.size > 1 else 0.0)


def aggregate(results: Sequence[EvaluationResult]) -> dict[str, Any]:
    """Mean and standard deviation over training seeds of every measurement (percent).

    The standard deviation is the sample one (``ddof=1``), 0 for a single result; each
    result's own numbers are already means over its evaluation seeds.

    Returns:
        ``{"dataset", "name", "selected_on", "gzsl_seen", "n_seeds", "seeds", "eval_seeds",
        "zsl": {clf: {"mean", "std"}}, "gzsl": {clf: {"u"|"s"|"h": {"mean", "std"}}},
        "quality": {measure: {"mean", "std"}}, "floor": {method: {measure: {"mean", "std"},
        "edge": [...]}}, "warnings": ["seed S: ..."]}``; JSON-able. A floor's ``edge`` names the
        parameters any seed chose on an end of its grid. ``warnings`` lists every result's warnings, each prefixed with its seed.

    Raises:
        DataError: no results, or results of different data sets, selection modes or
            classifiers.

    Example:
        >>> rs = [EvaluationResult("digits", seed=s, zsl={"svm": v}) for s, v in ((0, 50.0), (1, 70.0))]
        >>> agg = aggregate(rs)
        >>> round(agg["zsl"]["svm"]["mean"], 6), round(agg["zsl"]["svm"]["std"], 4)
        (60.0, 14.1421)
    """
    if not results:
        raise DataError("aggregate: no results to aggregate")
    first = results[0]
    for r in results[1:]:
        for key in ("dataset", "selected_on", "gzsl_seen"):
            if getattr(r, key) != getattr(first, key):
                raise DataError(
                    f"aggregate: results differ in {key!r} ({getattr(first, key)!r} vs {getattr(r, key)!r}); "
                    "aggregate only repeated runs of one evaluation"
                )
        if set(r.zsl) != set(first.zsl):
            raise DataError(
                f"aggregate: results differ in classifiers {sorted(first.zsl)} vs {sorted(r.zsl)}"
            )

    def stat(values: list[float]) -> dict[str, float]:
        mean, std = _stat(values)
        return {"mean": mean, "std": std}

    measures = [m for m in first.quality if all(m in r.quality for r in results)]
    floors = [f for f in first.floor if all(f in r.floor for r in results)]
    return _jsonable(
        {
            "dataset": first.dataset,
            "name": first.name,
            "selected_on": first.selected_on,
            "gzsl_seen": first.gzsl_seen,
            "n_seeds": len(results),
            "seeds": [r.seed for r in results],
            "eval_seeds": first.eval_seeds,
            "zsl": {c: stat([r.zsl[c] for r in results]) for c in first.zsl},
            "gzsl": {
                c: {m: stat([r.gzsl[c][m] for r in results]) for m in ("u", "s", "h")}
                for c in first.gzsl
                if all(c in r.gzsl for r in results)
            },
            "quality": {m: stat([r.quality[m] for r in results]) for m in measures},
            "floor": {
                f: {
                    **{
                        k: stat([r.floor[f][k] for r in results])
                        for k, v in first.floor[f].items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)
                    },
                    # a parameter chosen on a grid edge in any seed
                    "edge": sorted({k for r in results for k in r.floor[f].get("edge", [])}),
                }
                for f in floors
            },
            "warnings": [f"seed {r.seed}: {w}" for r in results for w in r.warnings],
        }
    )


# ----------------------------------------------------------------------------------------------
# the protocol


def evaluation_seeds(seed: int, count: int) -> list[int]:
    """The ``count`` evaluation seeds of base seed ``seed`` (independent streams).

    Example:
        >>> evaluation_seeds(0, 2) == evaluation_seeds(0, 3)[:2]
        True
    """
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(count)]


#: What :func:`checkpoint_score` measures (recorded beside the scores).
CHECKPOINT_CRITERION = "ncm_cosine_unseen"


def checkpoint_score(assembly: Any, data: ZSLData, config: EvalConfig, *, seed: int) -> float:
    """The checkpoint-selection criterion: ``ncm_cosine_unseen`` (%) of one synthetic draw.

    ``config.zsl_samples`` synthetic features of each unseen class (of a validation view: the
    ``val`` classes) from the first evaluation seed of ``seed``; the real ``test_unseen``
    samples are assigned to the nearest synthetic class mean by cosine. Classifier-free, so it
    neither saturates with a classifier's fit nor costs one; cheap enough for every checkpoint.

    Example:
        >>> score = checkpoint_score(assembly, data.validation_view(), EvalConfig(), seed=0)  # doctest: +SKIP
    """
    synth_device = next((p.device for p in assembly.parameters()), torch.device("cpu"))
    gen = torch.Generator(device=synth_device).manual_seed(evaluation_seeds(seed, 1)[0])
    zs = zsl_set(assembly, data, config, gen)
    test = np.asarray(data.test_unseen)
    return ncm_accuracy(
        zs.class_means(data.unseen_classes).double(),
        data.unseen_classes,
        np.asarray(data.features[test]),
        np.asarray(data.labels[test]),
        metric="cosine",
    )


def check_data(config: EvalConfig, data: ZSLData) -> None:
    """What the protocol needs of the data: at least 2 unseen classes, unseen test samples, and
    no more retrieved samples (``evaluation.retrieval_k``) than there are.

    Raises:
        DataError: too few unseen classes, or no unseen test samples.
        ConfigError: a ``retrieval_k`` larger than the number of unseen test samples.
    """
    if len(data.unseen_classes) < 2:
        raise DataError(f"{data.name}: ZSL needs at least 2 unseen classes, got {len(data.unseen_classes)}")
    n_test = int(np.asarray(data.test_unseen).size)
    if n_test == 0:
        raise DataError(f"{data.name}: test_unseen is empty (no unseen test samples); check the split file")
    for k in config.retrieval_k:
        if k > n_test:
            raise ConfigError(
                f"evaluation.retrieval_k: {k} is more than the {n_test} test_unseen samples of "
                f"{data.name!r}; choose k <= {n_test}"
            )


#: Detail lines (each classifier's grid and seconds, what selection chose): ``modgen -v`` shows them.
detail = logging.getLogger("modgen.evaluate")


def _check(config: EvalConfig, data: ZSLData, seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"evaluate: seed must be an integer >= 0, got {seed!r}")
    check_data(config, data)


class _Scores:
    """Scores of every (classifier, task, grid point) over the evaluation seeds, and where the
    time went (``seconds``: synthesis, quality, each classifier's fits and scoring)."""

    def __init__(self) -> None:
        self.zsl: dict[tuple[str, int], list[float]] = {}
        self.per_class: dict[tuple[str, int], list[dict[int, float]]] = {}
        self.gzsl: dict[tuple[str, int], list[dict[str, float]]] = {}
        self.quality: list[dict[str, float]] = []
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(self, what: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - t0


def _measure(
    assembly: Any,
    data: ZSLData,
    config: EvalConfig,
    registries: Registries,
    plans: Mapping[str, tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]],
    *,
    seed: int,
    device: torch.device,
    quality: bool,
    log: Log | None,
    donors: np.ndarray | None = None,
) -> _Scores:
    """Fit and score every classifier's ZSL and GZSL grid points for every evaluation seed.

    ``donors``: the real unseen samples a positive control draws from
    (``config.real_unseen_fraction``), or ``None``.
    """
    from modgen.classify import WarmStarts

    synth_device = next((p.device for p in assembly.parameters()), torch.device("cpu"))
    test = TestSplit.of(data, device)
    seen_real = None
    if quality:  # the reference of the seen-class measure: real class means of the training split
        trainval = np.asarray(data.trainval)
        seen_real = real_class_means(
            torch.as_tensor(data.features[trainval], device=device), data.labels[trainval], data.seen_classes
        )
    scores = _Scores()
    # The SVMs' solutions carried from seed to seed and between weightings (same minimiser,
    # fewer iterations: modgen.classify.grid); the softmax classifiers ignore it.
    warm = WarmStarts()
    for i, eval_seed in enumerate(evaluation_seeds(seed, config.seeds)):
        gen = torch.Generator(device=synth_device).manual_seed(eval_seed)
        with scores.timed("synthesis"):
            zs, gs = zsl_set(assembly, data, config, gen), gzsl_set(assembly, data, config, gen)
            if donors is not None and config.real_unseen_fraction > 0:
                # its own stream, so the synthetic features are those of fraction 0
                rng = np.random.default_rng(eval_seed)
                zs = with_real_unseen(zs, data, donors, config.real_unseen_fraction, rng)
                gs = with_real_unseen(gs, data, donors, config.real_unseen_fraction, rng)
            seen = None
            if quality:
                seen = configured_synthetic_set(
                    assembly, data, data.seen_classes, config.zsl_samples, config, gen
                )
        if seen is not None:
            with scores.timed("classifier-free measures"):
                scores.quality.append(
                    feature_quality(
                        zs,
                        seen,
                        data.unseen_classes,
                        data.seen_classes,
                        test,
                        config.retrieval_k,
                        seen_real_means=seen_real,
                    )
                )
        for clf, (fixed, zsl_points, gzsl_points) in plans.items():
            if log is not None:
                log(
                    f"evaluation seed {i + 1}/{config.seeds}: {clf} ({len(zsl_points) + len(gzsl_points)} fits)"
                )
            t0 = time.perf_counter()
            with scores.timed(f"{clf} fit"):
                zsl_fits = fit_points(
                    registries, clf, fixed, zsl_points, zs, device=device, seed=eval_seed, warm_starts=warm
                )
                gzsl_fits = fit_points(
                    registries, clf, fixed, gzsl_points, gs, device=device, seed=eval_seed, warm_starts=warm
                )
            with scores.timed(f"{clf} scoring"):
                for j, est in enumerate(zsl_fits):
                    top1, per_class = zsl_score(est, test)
                    scores.zsl.setdefault((clf, j), []).append(top1)
                    scores.per_class.setdefault((clf, j), []).append(per_class)
                for j, est in enumerate(gzsl_fits):
                    scores.gzsl.setdefault((clf, j), []).append(gzsl_score(est, test))
            detail.debug(
                "%s on %s, evaluation seed %d/%d: %d ZSL + %d GZSL grid points (%s) fitted and scored in %.2f s",
                clf,
                device,
                i + 1,
                config.seeds,
                len(zsl_points),
                len(gzsl_points),
                "; ".join(_key(p) for p in zsl_points),
                time.perf_counter() - t0,
            )
    return scores


def _key(point: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in point.items()) or "default"


def _plans(
    config: EvalConfig, registries: Registries, selection: Selection | None, mode: str
) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Per classifier: the fixed params, the ZSL points and the GZSL points to fit."""
    plans: dict[str, tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for clf in config.classifiers:
        cls = registries.final_classifier.get(clf)
        fixed, points = classifier_grid(cls, dict(config.classifier_params.get(clf, {}) or {}))
        if mode == "none":
            plans[clf] = (fixed, [{}], [{}])
        elif mode == "val" and len(points) > 1:
            if selection is None:
                raise ConfigError(
                    "evaluation.selection='val' chooses the classifiers' parameters with a second "
                    "generator trained on the train classes: run the whole pipeline "
                    "(modgen.pipeline.run / modgen train), pass selection=select(...), or set "
                    "evaluation.selection=none"
                )
            plans[clf] = (fixed, [selection.params(clf, "zsl")], [selection.params(clf, "gzsl")])
        elif mode == "val":
            plans[clf] = (fixed, [{}], [{}])
        else:  # "test", or the grid of select()
            plans[clf] = (fixed, points, points)
    return plans


def select(
    assembly: Any,
    view: ZSLData,
    config: EvalConfig,
    registries: Registries,
    *,
    device: str | torch.device | None = None,
    seed: int = 0,
    log: Log | None = None,
) -> Selection:
    """Choose each classifier's grid point on a validation view (Xian et al.'s protocol).

    Args:
        assembly: a generator trained on the view's training classes only (``train``).
        view: the validation view (:meth:`~modgen.data.zsldata.ZSLData.validation_view`), whose
            unseen classes (the ``val`` classes) the assembly never saw.
        config: the evaluation config (classifiers, grids, samples, evaluation seeds).
        registries: where the classifiers are looked up.
        device: where classifiers train (``None``: the assembly's device).
        seed: the evaluation seed.
        log: called with a line per step.

    Returns:
        The :class:`Selection`: ZSL points by the view's mean ZSL top-1, GZSL points by its mean
        ``H`` (ties go to the first grid value).

    Raises:
        DataError: the view has fewer than 2 unseen (validation) classes.
    """
    if len(view.unseen_classes) < 2:
        raise DataError(
            f"{view.name}: selection on validation classes needs at least 2 of them, the validation view "
            f"has {len(view.unseen_classes)}; give the loader more val_classes, or set "
            "evaluation.selection=none (each classifier's own parameters)"
        )
    _check(config, view, seed)
    clf_device = _device(assembly, device)
    plans = _plans(config, registries, None, "grid")
    scores = _measure(
        assembly, view, config, registries, plans, seed=seed, device=clf_device, quality=False, log=log
    )
    record: dict[str, dict[str, Any]] = {}
    for clf, (_, points, _) in plans.items():
        z = [float(np.mean(scores.zsl[(clf, j)])) for j in range(len(points))]
        h = [float(np.mean([g["h"] for g in scores.gzsl[(clf, j)]])) for j in range(len(points))]
        iz, ih = int(np.argmax(z)), int(np.argmax(h))
        record[clf] = {
            "zsl": {
                "params": dict(points[iz]),
                "criterion": f"val zsl top-1 ({len(view.unseen_classes)} val classes)",
                "scores": {_key(p): s for p, s in zip(points, z, strict=True)},
            },
            "gzsl": {
                "params": dict(points[ih]),
                "criterion": "val gzsl h",
                "scores": {_key(p): s for p, s in zip(points, h, strict=True)},
            },
        }
        detail.debug(
            "selection of %s over a grid of %d points on %d val classes: ZSL %s (%.1f), GZSL %s (H %.1f)",
            clf,
            len(points),
            len(view.unseen_classes),
            _key(points[iz]),
            z[iz],
            _key(points[ih]),
            h[ih],
        )
    return Selection(record)


def _device(assembly: Any, device: str | torch.device | None) -> torch.device:
    synth_device = next((p.device for p in assembly.parameters()), torch.device("cpu"))
    return resolve_device(device, key="evaluation device") if device is not None else synth_device


def evaluate(
    assembly: Any,
    data: ZSLData,
    config: EvalConfig,
    registries: Registries,
    *,
    device: str | torch.device | None = None,
    seed: int = 0,
    name: str = "",
    selection: Selection | None = None,
    log: Log | None = None,
) -> EvaluationResult:
    """ZSL, GZSL and the classifier-free measures for every classifier (see the module doc).

    Args:
        assembly: the trained :class:`~modgen.assembly.Assembly` (synthesis runs where its
            parameters are).
        data: the :class:`~modgen.data.zsldata.ZSLData` (the one the assembly was trained on).
        config: the :class:`~modgen.config.EvalConfig`.
        registries: where ``config.classifiers`` are looked up (``final_classifier``).
        device: where classifiers train (``None``: the assembly's device); a classifier's own
            ``device`` in ``classifier_params`` wins.
        seed: the base of the evaluation seeds (synthesis noise, classifier initialisation).
        name: a label stored in the result (e.g. the recipe's name).
        selection: with ``config.selection == "val"``, the parameters :func:`select` chose.
        log: called with a line per step.

    Returns:
        An :class:`EvaluationResult`.

    Raises:
        ConfigError: an invalid config value, or ``selection="val"`` without a selection.
        UnknownComponentError: a classifier is not registered.
        DataError: the data cannot support the protocol (fewer than 2 unseen classes).
    """
    donors = None
    if config.holds_out_real_unseen:  # the positive control (EvalConfig.real_unseen_fraction)
        data, donors = real_unseen_halves(data)
    _check(config, data, seed)
    mode = config.selection
    plans = _plans(config, registries, selection, mode)
    scores = _measure(
        assembly,
        data,
        config,
        registries,
        plans,
        seed=seed,
        device=_device(assembly, device),
        quality=True,
        log=log,
        donors=donors,
    )
    zsl: dict[str, float] = {}
    zsl_std: dict[str, float] = {}
    gzsl: dict[str, dict[str, float]] = {}
    gzsl_std: dict[str, dict[str, float]] = {}
    per_class: dict[str, dict[str, float]] = {}
    record: dict[str, dict[str, Any]] = {}
    for clf, (_, zsl_points, gzsl_points) in plans.items():
        z_means = [float(np.mean(scores.zsl[(clf, j)])) for j in range(len(zsl_points))]
        h_means = [float(np.mean([g["h"] for g in scores.gzsl[(clf, j)]])) for j in range(len(gzsl_points))]
        iz, ih = int(np.argmax(z_means)), int(np.argmax(h_means))
        zsl[clf], zsl_std[clf] = _stat(scores.zsl[(clf, iz)])
        runs = scores.gzsl[(clf, ih)]
        gzsl[clf] = {m: _stat([g[m] for g in runs])[0] for m in ("u", "s", "h")}
        gzsl_std[clf] = {m: _stat([g[m] for g in runs])[1] for m in ("u", "s", "h")}
        classes = scores.per_class[(clf, iz)][0]
        per_class[clf] = {
            data.class_names[c]: float(np.mean([pc[c] for pc in scores.per_class[(clf, iz)]]))
            for c in classes
        }
        record[clf] = _record(mode, selection, clf, zsl_points, gzsl_points, z_means, h_means, iz, ih)
    detail.debug(
        "evaluation of %d classifier(s) over %d evaluation seed(s): %s",
        len(plans),
        config.seeds,
        ", ".join(f"{k} {v:.2f} s" for k, v in scores.seconds.items()),
    )
    quality = {m: _stat([q[m] for q in scores.quality])[0] for m in scores.quality[0]}
    quality_std = {m: _stat([q[m] for q in scores.quality])[1] for m in scores.quality[0]}
    return EvaluationResult(
        dataset=str(data.name),
        seed=seed,
        name=name,
        eval_seeds=config.seeds,
        selected_on=mode,
        gzsl_seen=config.gzsl_seen,
        zsl=zsl,
        zsl_std=zsl_std,
        gzsl=gzsl,
        gzsl_std=gzsl_std,
        quality=quality,
        quality_std=quality_std,
        zsl_per_class=per_class,
        warnings=collapse_warnings(quality, len(data.unseen_classes)),
        selection=_jsonable(record),
        seconds=dict(scores.seconds),
        config=_jsonable(attrs.asdict(config)),
        preprocessing=_jsonable(dict(getattr(data, "preprocessing", {}))),
    )


def _record(
    mode: str,
    selection: Selection | None,
    clf: str,
    zsl_points: list[dict[str, Any]],
    gzsl_points: list[dict[str, Any]],
    z_means: list[float],
    h_means: list[float],
    iz: int,
    ih: int,
) -> dict[str, Any]:
    """What the result records of how ``clf``'s parameters were chosen."""
    if mode == "test":
        return {
            "zsl": {
                "params": dict(zsl_points[iz]),
                "criterion": "test zsl top-1",
                "scores": {_key(p): s for p, s in zip(zsl_points, z_means, strict=True)},
            },
            "gzsl": {
                "params": dict(gzsl_points[ih]),
                "criterion": "test gzsl h",
                "scores": {_key(p): s for p, s in zip(gzsl_points, h_means, strict=True)},
            },
        }
    if mode == "val" and selection is not None and clf in selection.record:
        return dict(selection.record[clf])
    return {task: {"params": {}, "criterion": "none", "scores": {}} for task in ("zsl", "gzsl")}
