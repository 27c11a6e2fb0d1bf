"""The evaluation protocols of Section III: ZSL, GZSL and zero-shot retrieval.

:func:`evaluate` trains every final classifier of an :class:`~modgen.config.EvalConfig` on
synthetic features and scores it on real test features:

* **ZSL** (III-B): ``zsl_samples`` synthetic features per unseen class; the classifier knows
  only the unseen classes (so its predictions are restricted to them); per-class mean top-1
  on ``test_unseen``.
* **GZSL** (III-C): ``gzsl_samples`` synthetic features per unseen class plus, per
  ``gzsl_seen``, ``gzsl_samples`` synthetic features per seen class (Section II-E) or the real
  ``trainval`` features (Section III-G); the classifier ranges over all seen and unseen
  classes; ``U`` = per-class top-1 on ``test_unseen``, ``S`` = on ``test_seen``, and ``H``.
* **Retrieval** (III-D): the mean of the ZSL synthetic features of each unseen class
  retrieves its ``k`` nearest ``test_unseen`` samples (cosine); precision@k averaged over
  the unseen classes (:func:`~modgen.evaluate.metrics.retrieval_average_precision`), for
  each ``k`` in ``retrieval_k``.

Every synthetic feature gets the quality weight
``assembly.quality_weighter.sample_weights(a, AD(x_hat))`` (Eq. 12), clipped at 0, and every
real feature weight 1; the weights are passed as ``sample_weight`` to every classifier, and
the unweighted ones ignore them (``weighting="none"``).

**Model selection.** What is selected is each classifier's hyper-parameter grid (its
``selection_grid``: ``C`` for the SVMs, ``lr`` for the softmax classifiers), except
parameters fixed in ``classifier_params``; ``classifier_params[name]["grid"]`` replaces the
grid (``{}`` turns selection off). Ties go to the first grid value.

* ``selection="val"`` (default): grid values are scored on ``data.validation_view()`` (its
  seen classes are the ``train`` classes, its unseen classes the ``val`` classes; synthetic
  training features as above, real ``val`` and held-out ``train`` samples as test). The ZSL
  value maximises the view's ZSL top-1; where the view has fewer than two unseen classes
  (ZSL among one class is trivial) it maximises the view's GZSL ``H`` instead. The GZSL value
  maximises the view's ``H``. The chosen values are then evaluated once on the test split.
  The test split is never looked at for selection. (The assembly was trained on ``trainval``,
  which holds the val classes, unless training used ``data.validation``.)
* ``selection="test"``: the literature-comparison mode. Every grid value is evaluated on the
  test split and the best ZSL top-1 and the best GZSL ``H`` are reported. Every such result
  carries ``selected_on="test"`` and reports mark it.

Example:
    >>> from modgen.config import EvalConfig
    >>> cfg = EvalConfig(classifiers=("svm",), zsl_samples=20, gzsl_samples=20)
    >>> # result = evaluate(assembly, data, cfg, get_registries(), seed=0)
    >>> # result.zsl["svm"], result.gzsl["svm"]["h"], result.retrieval[5]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import torch
from attrs import field, frozen
from attrs.validators import in_

from modgen.classify._base import resolve_device
from modgen.errors import ConfigError, DataError
from modgen.evaluate.metrics import harmonic_mean, per_class_accuracies, retrieval_average_precision
from modgen.evaluate.synthesis import synthesize

__all__ = [
    "EvaluationResult",
    "evaluate",
    "aggregate",
    "classifier_grid",
    "SELECTION_MODES",
]

#: Values of ``EvalConfig.selection``.
SELECTION_MODES: tuple[str, ...] = ("val", "test")

#: Task size ``N`` of each class at synthesis (the training tasks' N-way of the paper).
DEFAULT_REPLICATE = 10


# ----------------------------------------------------------------------------------------------
# results


@frozen
class EvaluationResult:
    """The measurements of one evaluation (one seed). Accuracies are fractions in ``[0, 1]``.

    Attributes:
        dataset: the data set's name.
        name: what was evaluated (usually the recipe's name), or ``""``.
        seed: the evaluation seed.
        selected_on: ``"val"`` or ``"test"`` (literature-comparison mode: see the module doc).
        gzsl_seen: ``"synthetic"`` or ``"real"`` seen-class features in GZSL.
        zsl: per-class mean top-1 by classifier.
        gzsl: ``{"u", "s", "h"}`` by classifier.
        retrieval: precision@k averaged over unseen classes, by ``k``.
        zsl_per_class: top-1 of each unseen class (by class name), by classifier.
        selection: by classifier, for ``"zsl"`` and ``"gzsl"``: the chosen ``params``, the
            ``criterion`` and the ``scores`` of every grid value.
        config: the :class:`~modgen.config.EvalConfig` used, as a dict.
        preprocessing: the data's preprocessing record.

    Example:
        >>> r = EvaluationResult(dataset="digits", seed=0, zsl={"svm": 0.5})
        >>> EvaluationResult.from_dict(r.to_dict()) == r
        True
    """

    dataset: str
    seed: int = 0
    name: str = ""
    selected_on: str = field(default="val", validator=in_(SELECTION_MODES))
    gzsl_seen: str = field(default="synthetic", validator=in_(("synthetic", "real")))
    zsl: dict[str, float] = field(factory=dict)
    gzsl: dict[str, dict[str, float]] = field(factory=dict)
    retrieval: dict[int, float] = field(factory=dict)
    zsl_per_class: dict[str, dict[str, float]] = field(factory=dict)
    selection: dict[str, dict[str, Any]] = field(factory=dict)
    config: dict[str, Any] = field(factory=dict)
    preprocessing: dict[str, Any] = field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (``retrieval`` keys become strings)."""
        out = attrs.asdict(self, recurse=True)
        out["retrieval"] = {str(k): v for k, v in self.retrieval.items()}
        return _jsonable(out)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Rebuild a result from :meth:`to_dict`'s output.

        Raises:
            DataError: unknown or missing keys.
        """
        names = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown or "dataset" not in data:
            raise DataError(
                f"EvaluationResult: unknown keys {unknown} or missing 'dataset'; expected keys {sorted(names)}"
            )
        kwargs = dict(data)
        try:
            kwargs["retrieval"] = {int(k): float(v) for k, v in dict(data.get("retrieval", {})).items()}
            return cls(**kwargs)
        except (TypeError, ValueError) as err:
            raise DataError(f"EvaluationResult: malformed value: {err}") from err


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


def aggregate(results: Sequence[EvaluationResult]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of every measurement.

    The standard deviation is the sample one (``ddof=1``), 0 for a single result.

    Returns:
        ``{"dataset", "name", "selected_on", "gzsl_seen", "n_seeds", "seeds", "zsl": {clf:
        {"mean", "std"}}, "gzsl": {clf: {"u"|"s"|"h": {"mean", "std"}}}, "retrieval": {k:
        {"mean", "std"}}}``; JSON-able (``k`` as a string).

    Raises:
        DataError: no results, or results of different data sets, selection modes or
            classifiers.

    Example:
        >>> rs = [EvaluationResult("digits", seed=s, zsl={"svm": v}) for s, v in ((0, 0.5), (1, 0.7))]
        >>> agg = aggregate(rs)
        >>> round(agg["zsl"]["svm"]["mean"], 6), round(agg["zsl"]["svm"]["std"], 6)
        (0.6, 0.141421)
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
        if set(r.zsl) != set(first.zsl) or set(r.retrieval) != set(first.retrieval):
            raise DataError(
                f"aggregate: results differ in classifiers {sorted(first.zsl)} vs {sorted(r.zsl)} "
                f"or retrieval k {sorted(first.retrieval)} vs {sorted(r.retrieval)}"
            )

    def stat(values: list[float]) -> dict[str, float]:
        arr = np.asarray(values, dtype=np.float64)
        return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0}

    return {
        "dataset": first.dataset,
        "name": first.name,
        "selected_on": first.selected_on,
        "gzsl_seen": first.gzsl_seen,
        "n_seeds": len(results),
        "seeds": [r.seed for r in results],
        "zsl": {c: stat([r.zsl[c] for r in results]) for c in first.zsl},
        "gzsl": {
            c: {m: stat([r.gzsl[c][m] for r in results]) for m in ("u", "s", "h")}
            for c in first.gzsl
            if all(c in r.gzsl for r in results)
        },
        "retrieval": {str(k): stat([r.retrieval[k] for r in results]) for k in first.retrieval},
    }


# ----------------------------------------------------------------------------------------------
# training sets


@frozen
class _TrainSet:
    """Features, global class labels and sample weights a classifier is fitted on."""

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor | None


@frozen
class _SplitSets:
    """The synthetic training sets and real test sets of one split (test or validation view)."""

    data: Any
    zsl: _TrainSet
    zsl_features: torch.Tensor
    zsl_labels: torch.Tensor
    gzsl: _TrainSet | None


def _synthetic(
    assembly: Any, data: Any, classes: np.ndarray, n: int, sigma: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Synthetic features of ``classes`` with global labels and clipped quality weights."""
    attrs_all = torch.as_tensor(data.semantics)
    class_attrs = attrs_all[torch.as_tensor(classes)]
    out = synthesize(assembly, class_attrs, n, sigma=sigma, generator=gen, replicate=DEFAULT_REPLICATE)
    labels = torch.as_tensor(classes, device=out.labels.device)[out.labels]
    weighter = getattr(assembly, "quality_weighter", None)
    weights = None
    if weighter is not None and out.reconstructed is not None:
        sample_attrs = class_attrs.to(out.reconstructed.device)[out.labels]
        # A negative cosine would make a weighted loss reward misclassification: clip at 0.
        weights = weighter.sample_weights(sample_attrs, out.reconstructed).reshape(-1).clamp_min(0)
    return out.features, labels, weights


def _concat(parts: list[_TrainSet]) -> _TrainSet:
    X = torch.cat([p.X for p in parts])
    y = torch.cat([p.y for p in parts])
    if all(p.w is None for p in parts):
        return _TrainSet(X, y, None)
    w = torch.cat([p.w if p.w is not None else torch.ones(p.X.shape[0], device=p.X.device) for p in parts])
    return _TrainSet(X, y, w)


def _prepare(assembly: Any, data: Any, config: Any, gen: torch.Generator, *, with_gzsl: bool) -> _SplitSets:
    Xz, yz, wz = _synthetic(assembly, data, data.unseen_classes, config.zsl_samples, config.sigma_test, gen)
    gzsl = None
    if with_gzsl:
        Xu, yu, wu = _synthetic(
            assembly, data, data.unseen_classes, config.gzsl_samples, config.sigma_test, gen
        )
        if config.gzsl_seen == "synthetic":
            Xs, ys, ws = _synthetic(
                assembly, data, data.seen_classes, config.gzsl_samples, config.sigma_test, gen
            )
            seen = _TrainSet(Xs, ys, ws)
        else:
            dev = Xu.device
            real = torch.as_tensor(data.features[data.trainval], device=dev)
            seen = _TrainSet(real, torch.as_tensor(data.labels[data.trainval], device=dev), None)
        gzsl = _concat([_TrainSet(Xu, yu, wu), seen])
    return _SplitSets(data, _TrainSet(Xz, yz, wz), Xz, yz, gzsl)


# ----------------------------------------------------------------------------------------------
# classifiers and selection


def classifier_grid(cls: type, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fixed constructor params and the grid points model selection tries.

    Args:
        cls: a final-classifier class (its ``selection_grid`` attribute, if any, is the grid).
        params: ``classifier_params[name]``; its optional ``"grid"`` table replaces the
            class's grid; parameters set here are fixed and not searched.

    Returns:
        ``(fixed_params, points)``: ``points`` is a list of param dicts (``[{}]`` when nothing
        is selected).

    Raises:
        ConfigError: ``grid`` is not a table of non-empty lists.

    Example:
        >>> from modgen.classify import LinearSVMClassifier
        >>> classifier_grid(LinearSVMClassifier, {"max_iter": 50})[1][:2]
        [{'C': 0.01}, {'C': 0.1}]
        >>> classifier_grid(LinearSVMClassifier, {"C": 2.0})
        ({'C': 2.0}, [{}])
    """
    fixed = {k: v for k, v in params.items() if k != "grid"}
    grid = params.get("grid", getattr(cls, "selection_grid", {}) or {})
    if not isinstance(grid, Mapping):
        raise ConfigError(f"classifier_params grid: expected a table {{param: [values]}}, got {grid!r}")
    axes: list[tuple[str, list[Any]]] = []
    for k, values in grid.items():
        if k in fixed:
            continue
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if not values:
            raise ConfigError(f"classifier_params grid.{k}: expected a non-empty list of values, got []")
        axes.append((k, values))
    if not axes:
        return fixed, [{}]
    return fixed, [
        dict(zip([a for a, _ in axes], combo, strict=True))
        for combo in itertools.product(*[v for _, v in axes])
    ]


def _make(registries: Any, name: str, params: Mapping[str, Any], device: torch.device, seed: int) -> Any:
    cls = registries.final_classifier.get(name)
    est = cls(**params)
    accepted = est.get_params() if hasattr(est, "get_params") else {}
    extra: dict[str, Any] = {}
    if "device" in accepted and "device" not in params:
        extra["device"] = str(device)
    if "random_state" in accepted and "random_state" not in params:
        extra["random_state"] = int(seed)
    return est.set_params(**extra) if extra else est


def _fit_predict(est: Any, train: _TrainSet, tests: Sequence[np.ndarray]) -> list[np.ndarray]:
    w = None if train.w is None else train.w
    est.fit(train.X, train.y, sample_weight=w)
    return [np.asarray(est.predict(X)) for X in tests]


def _zsl_score(est: Any, sets: _SplitSets) -> tuple[float, dict[int, float]]:
    data = sets.data
    (pred,) = _fit_predict(est, sets.zsl, [data.features[data.test_unseen]])
    classes, accs = per_class_accuracies(data.labels[data.test_unseen], pred)
    return float(accs.mean()), {int(c): float(a) for c, a in zip(classes, accs, strict=True)}


def _gzsl_score(est: Any, sets: _SplitSets) -> dict[str, float]:
    data = sets.data
    assert sets.gzsl is not None  # _prepare(with_gzsl=True) for every caller
    pred_u, pred_s = _fit_predict(
        est, sets.gzsl, [data.features[data.test_unseen], data.features[data.test_seen]]
    )
    u = float(per_class_accuracies(data.labels[data.test_unseen], pred_u)[1].mean())
    s = float(per_class_accuracies(data.labels[data.test_seen], pred_s)[1].mean())
    return {"u": u, "s": s, "h": harmonic_mean(u, s)}


def _key(point: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in point.items()) or "default"


def _best(scores: list[float]) -> int:
    return int(np.argmax(np.asarray(scores)))  # first maximum: ties go to the earlier grid value


# ----------------------------------------------------------------------------------------------
# the protocol


def _check_config(config: Any, data: Any) -> None:
    if config.selection not in SELECTION_MODES:
        raise ConfigError(
            f"evaluation.selection: expected one of {', '.join(SELECTION_MODES)}, got {config.selection!r}"
        )
    if not config.classifiers:
        raise ConfigError("evaluation.classifiers: empty; name at least one final classifier (e.g. 'svm')")
    n_test = int(np.asarray(data.test_unseen).size)
    for k in config.retrieval_k:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_test:
            raise ConfigError(
                f"evaluation.retrieval_k: {k!r} must be an integer in [1, {n_test}] "
                f"(the number of test_unseen samples of {data.name!r})"
            )
    if len(data.unseen_classes) < 2:
        raise DataError(f"{data.name}: ZSL needs at least 2 unseen classes, got {len(data.unseen_classes)}")


def evaluate(
    assembly: Any,
    data: Any,
    config: Any,
    registries: Any,
    *,
    device: str | torch.device | None = None,
    seed: int = 0,
    name: str = "",
) -> EvaluationResult:
    """Run ZSL, GZSL and retrieval for every classifier of ``config`` (see the module doc).

    Args:
        assembly: the trained :class:`~modgen.assembly.Assembly` (synthesis runs where its
            parameters are).
        data: the :class:`~modgen.data.zsldata.ZSLData` (the one the assembly was trained on).
        config: the :class:`~modgen.config.EvalConfig`.
        registries: where ``config.classifiers`` are looked up (``final_classifier``).
        device: where classifiers train (``None``: the assembly's device); a classifier's own
            ``device`` in ``classifier_params`` wins.
        seed: seeds the synthesis noise and every classifier's ``random_state``.
        name: a label stored in the result (e.g. the recipe's name).

    Returns:
        An :class:`EvaluationResult`.

    Raises:
        ConfigError: an invalid config value (the message names the key).
        UnknownComponentError: a classifier is not registered.
        DataError: the data cannot support the protocol (fewer than 2 unseen classes; no
            validation split with ``selection="val"``).

    Example:
        >>> from modgen.assembly import build_assembly
        >>> from modgen.config import EvalConfig
        >>> from modgen.data.digits import load_digits_zsl
        >>> from modgen.plugins import get_registries
        >>> from modgen.recipes import zsml
        >>> regs, data = get_registries(entry_points=False), load_digits_zsl()
        >>> asm = build_assembly(zsml(), regs, attr_dim=data.attr_dim, feature_dim=data.feature_dim,
        ...                      num_classes=len(data.seen_classes), seed=0, device="cpu")
        >>> cfg = EvalConfig(classifiers=("svm",), zsl_samples=10, gzsl_samples=10,
        ...                  classifier_params={"svm": {"C": 1.0}})
        >>> r = evaluate(asm, data, cfg, regs, seed=0)
        >>> sorted(r.gzsl["svm"]), sorted(r.retrieval), r.selected_on
        (['h', 's', 'u'], [5, 10], 'val')
    """
    _check_config(config, data)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"evaluate: seed must be an integer >= 0, got {seed!r}")
    synth_device = next((p.device for p in assembly.parameters()), torch.device("cpu"))
    clf_device = resolve_device(device, owner="evaluate: device") if device is not None else synth_device
    # Independent streams: the test-split features do not depend on whether selection ran.
    test_seed, val_seed = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2))
    gen_test = torch.Generator(device=synth_device).manual_seed(test_seed)
    test_sets = _prepare(assembly, data, config, gen_test, with_gzsl=True)

    plans = {}
    for clf in config.classifiers:
        cls = registries.final_classifier.get(clf)
        plans[clf] = classifier_grid(cls, dict(config.classifier_params.get(clf, {}) or {}))
    needs_selection = any(len(points) > 1 for _, points in plans.values())
    val_sets = None
    if config.selection == "val" and needs_selection:
        try:
            view = data.validation_view()
        except DataError as err:
            raise DataError(
                f"evaluation.selection='val' needs a validation split: {err} Alternatively set "
                "evaluation.selection=test (literature-comparison mode, marked in every result) or fix "
                "each classifier's parameters (classifier_params.<name>.grid = {})."
            ) from err
        gen_val = torch.Generator(device=synth_device).manual_seed(val_seed)
        val_sets = _prepare(assembly, view, config, gen_val, with_gzsl=True)

    zsl: dict[str, float] = {}
    gzsl: dict[str, dict[str, float]] = {}
    per_class: dict[str, dict[str, float]] = {}
    selection: dict[str, dict[str, Any]] = {}
    for clf, (fixed, points) in plans.items():

        def make(point: Mapping[str, Any], clf: str = clf, fixed: dict[str, Any] = fixed) -> Any:
            return _make(registries, clf, {**fixed, **point}, clf_device, seed)

        record: dict[str, Any] = {}
        if len(points) == 1:
            zsl[clf], pc = _zsl_score(make(points[0]), test_sets)
            gzsl[clf] = _gzsl_score(make(points[0]), test_sets)
            record = {
                s: {"params": dict(points[0]), "criterion": "none", "scores": {}} for s in ("zsl", "gzsl")
            }
        elif config.selection == "test":
            z_runs = [_zsl_score(make(p), test_sets) for p in points]
            g_runs = [_gzsl_score(make(p), test_sets) for p in points]
            iz, ig = _best([r[0] for r in z_runs]), _best([r["h"] for r in g_runs])
            zsl[clf], pc = z_runs[iz]
            gzsl[clf] = g_runs[ig]
            record = {
                "zsl": {
                    "params": dict(points[iz]),
                    "criterion": "test zsl top-1",
                    "scores": {_key(p): r[0] for p, r in zip(points, z_runs, strict=True)},
                },
                "gzsl": {
                    "params": dict(points[ig]),
                    "criterion": "test gzsl h",
                    "scores": {_key(p): r["h"] for p, r in zip(points, g_runs, strict=True)},
                },
            }
        else:
            assert val_sets is not None  # built above whenever a grid has several points
            g_scores = [_gzsl_score(make(p), val_sets)["h"] for p in points]
            if len(val_sets.data.unseen_classes) >= 2:
                z_scores, z_criterion = [_zsl_score(make(p), val_sets)[0] for p in points], "val zsl top-1"
            else:
                z_scores, z_criterion = g_scores, "val gzsl h (fewer than 2 val classes)"
            iz, ig = _best(z_scores), _best(g_scores)
            zsl[clf], pc = _zsl_score(make(points[iz]), test_sets)
            gzsl[clf] = _gzsl_score(make(points[ig]), test_sets)
            record = {
                "zsl": {
                    "params": dict(points[iz]),
                    "criterion": z_criterion,
                    "scores": {_key(p): s for p, s in zip(points, z_scores, strict=True)},
                },
                "gzsl": {
                    "params": dict(points[ig]),
                    "criterion": "val gzsl h",
                    "scores": {_key(p): s for p, s in zip(points, g_scores, strict=True)},
                },
            }
        per_class[clf] = {data.class_names[c]: a for c, a in pc.items()}
        selection[clf] = record

    unseen = np.asarray(data.unseen_classes)
    queries = torch.stack([test_sets.zsl_features[test_sets.zsl_labels == int(c)].mean(0) for c in unseen])
    retrieval = {
        int(k): retrieval_average_precision(
            queries.cpu(), unseen, data.features[data.test_unseen], data.labels[data.test_unseen], int(k)
        )
        for k in config.retrieval_k
    }
    return EvaluationResult(
        dataset=str(data.name),
        seed=seed,
        name=name,
        selected_on=config.selection,
        gzsl_seen=config.gzsl_seen,
        zsl=zsl,
        gzsl=gzsl,
        retrieval=retrieval,
        zsl_per_class=per_class,
        selection=_jsonable(selection),
        config=_jsonable(attrs.asdict(config)),
        preprocessing=_jsonable(dict(getattr(data, "preprocessing", {}))),
    )
