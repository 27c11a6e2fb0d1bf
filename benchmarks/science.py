"""Paired comparisons of recipes and readings: does AMAZ's modulation earn its place?

Every *arm* (a recipe with optional ``--set`` overrides) is trained and evaluated with the same
seeds through :func:`modgen.pipeline.run`; with paired random streams, seed ``s`` gives every arm
the same tasks, noise and initial G/D/C/AD weights, so each arm's difference from the baseline
arm is judged seed by seed. Beside the arms, the closed-form floor (ESZSL, ridge) on the same
split.

Class splits (``--splits K``): every arm runs on the class splits ``0..K-1`` of the data
(``data.options.split``; 0 is the data's fixed split, ``k >= 1`` its rotated split ``k``, see
:func:`modgen.data._common.rotated_class_split`), each with the same seeds, so the design is
(split x seed) and one split never decides a table. Pairs are matched on (split, seed).

The statistics of a comparison (:mod:`modgen.report.stats`):

* one split: the mean paired difference and its 95% Student-t interval over seeds;
* several splits: the mean over splits of each split's mean paired difference, with a
  hierarchical percentile bootstrap interval (splits resampled, then seeds within each drawn
  split; 10,000 replicates, seed 0), so the variation between splits is in the interval;
* beside each: the minimum detectable effect at 80% power (two-sided alpha 0.05, exact on the
  noncentral t, from the observed standard error) and the verdict at ``--margin`` (default 3
  points): ``difference`` (the 95% interval excludes 0), ``equivalent within ±m`` (TOST: the 90%
  interval inside ``±m``) or ``inconclusive at MDE x``.

``--primary METRIC[:CLASSIFIER]`` (e.g. ``zsl:svm``) names the primary measure before running;
every other row is marked secondary (with none named, every row is).

Two data views (``--split``):

* ``--split val``: the data's validation view — train on the ``train`` classes, measure on the
  ``val`` classes the generators never saw (classifier settings fixed: ``selection=none``). This
  is where defaults are chosen; the test classes are not looked at.
* ``--split test``: the normal protocol (train on ``trainval``, classifier settings selected on
  the validation classes, measured on the unseen test classes). This is what is reported.

The positive control (``--control 0,2,5,10,20``): the first arm, evaluated with ``p`` percent of
each unseen class's synthetic features replaced by real ones
(``evaluation.real_unseen_fraction``; the real features come from a half of the unseen test
samples that is never measured, and every ``p``, 0 included, is measured on the other half).
Its detection curve gives, for each ``p``, the primary measure's paired difference from ``p = 0``,
its interval, the MDE, and whether it was detected.

Tables go into ``docs/benchmarks.md`` between ``<!-- science:<dataset>:<split>:begin/end -->`` and
the JSON into ``benchmarks/results/science-<dataset>-<split>.json``. Both record the commit, and
both are refused from a working tree with uncommitted changes (``--no-doc`` runs anyway, writing
nothing into the repository): a committed table must come from a clean commit that reproduces it.
``--reanalyse FILE`` recomputes a committed result's statistics (MDE, verdicts, split count) from
the per-seed values it stores, rewrites its JSON and its docs block, and records the reanalysis
commit beside the run's own.

Usage:
    python benchmarks/science.py --dataset digits --split test --splits 5 --seeds 4 \\
        --arms zsml,amaz --baseline zsml --primary zsl:svm --margin 3
    python benchmarks/science.py --dataset digits --split test --arms amaz --control 0,2,5,10,20 \\
        --primary zsl:svm --key science:digits:control
    python benchmarks/science.py --reanalyse benchmarks/results/science-*.json
    python benchmarks/science.py --smoke   # zsml against amaz, 2 seeds, tiny networks: a smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    DEFAULT_DOC_PAGE,
    SMOKE_EVALUATION,
    add_smoke_flag,
    commit_for,
    machine_info,
    today,
    write_doc_block,
    write_json,
)

__all__ = ["Arm", "parse_arms", "run_arms", "paired_table", "compare", "reanalyse", "main"]

#: The measures compared (per classifier for the classifier-based ones).
CLASSIFIER_METRICS = ("zsl", "gzsl_h")
QUALITY_METRICS = ("ncm_cosine_unseen", "ncm_euclidean_unseen", "mean_gap_unseen")
#: The seed of the hierarchical bootstrap of a (split x seed) design.
BOOTSTRAP_SEED = 0


class Arm:
    """A named recipe with overrides: ``name=recipe:key=value:key=value`` (or just ``recipe``)."""

    def __init__(self, text: str) -> None:
        name, _, rest = text.partition("=") if "=" in text.split(":")[0] else (text.split(":")[0], "", text)
        parts = (rest or text).split(":")
        self.name = name or parts[0]
        self.recipe = parts[0]
        self.overrides = [p for p in parts[1:] if p]

    def __repr__(self) -> str:
        return f"Arm({self.name!r}: {self.recipe} {' '.join(self.overrides)})"


def parse_arms(text: str) -> list[Arm]:
    """``"zsml,amaz-gc=amaz:trainer.modulator_loss=gc"`` -> arms.

    Example:
        >>> [(a.name, a.recipe, a.overrides) for a in parse_arms("zsml,amaz-gc=amaz:trainer.modulator_loss=gc")]
        [('zsml', 'zsml', []), ('amaz-gc', 'amaz', ['trainer.modulator_loss=gc'])]
    """
    arms = [Arm(t.strip()) for t in text.split(",") if t.strip()]
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise SystemExit(f"--arms: names must be unique, got {names}")
    return arms


def control_arms(base: Arm, percents: list[float]) -> list[Arm]:
    """The positive control's arms: ``base`` evaluated with ``p`` percent of real unseen features.

    Example:
        >>> [(a.name, a.overrides[-1]) for a in control_arms(Arm("amaz"), [0, 5])]
        [('p0', 'evaluation.real_unseen_fraction=0.0'), ('p5', 'evaluation.real_unseen_fraction=0.05')]
    """
    arms = []
    for p in percents:
        arm = Arm(base.recipe)
        arm.name = f"p{p:g}"
        arm.overrides = [
            *base.overrides,
            "evaluation.real_unseen_holdout=true",
            f"evaluation.real_unseen_fraction={p / 100!r}",
        ]
        arms.append(arm)
    return arms


def _value(result: Any, metric: str, clf: str | None) -> float:
    if metric == "zsl":
        return float(result.zsl[clf])
    if metric == "gzsl_h":
        return float(result.gzsl[clf]["h"])
    return float(result.quality[metric])


def class_split_of(result: Any) -> int:
    """The class split a result was measured on (0 for results from before rotated splits)."""
    return int((result.preprocessing or {}).get("class_split", 0))


def _key(result: Any) -> tuple[int, int]:
    return class_split_of(result), int(result.seed)


def run_arms(
    arms: list[Arm],
    dataset: str,
    split: str,
    seeds: list[int],
    registries: Any,
    workdir: Path,
    overrides: list[str],
    log: Any = print,
    quick: bool = False,
    class_splits: list[int] | None = None,
) -> dict[str, Any]:
    """Train and evaluate every arm for every (class split, seed); return the results by arm and
    the floor of each class split (``floors``; ``floor``: the first split's).

    ``quick``: tiny networks (:func:`modgen.testing.presets.tiny`), a smoke test.
    """
    from modgen.baselines import floor_measurements
    from modgen.data import load_dataset
    from modgen.errors import TrainingDivergedError
    from modgen.pipeline import evaluate_run, resolve_spec, run, spec_id
    from modgen.sweeps.grid import training_spec

    class_splits = class_splits or [0]
    view_overrides = ["data.validation=true", "evaluation.selection=none"] if split == "val" else []
    out: dict[str, Any] = {"arms": {}, "floors": {}}
    data: dict[int, Any] = {}
    trained: dict[str, Path] = {}  # arms that differ only in evaluation settings share a trained model
    for arm in arms:
        runs, diverged, seconds = [], [], []
        for cs in class_splits:
            split_override = [f"data.options.split={cs}"] if cs else []
            for seed in seeds:
                spec = resolve_spec(
                    registries,
                    arm.recipe,
                    dataset=dataset,
                    overrides=[
                        *overrides,
                        *split_override,
                        *view_overrides,
                        *arm.overrides,
                        f"run.seed={seed}",
                    ],
                )
                if quick:
                    from modgen.testing.presets import tiny

                    spec = tiny(spec, registries)
                if cs not in data:
                    data[cs] = load_dataset(registries, spec.data)
                    out["floors"][cs] = (
                        floor_measurements(data[cs]) if split == "test" else _floor_on_view(data[cs])
                    )
                t0 = time.perf_counter()
                tid = spec_id(training_spec(spec))
                try:
                    if tid in trained:
                        evaluation = [
                            o
                            for o in (*overrides, *view_overrides, *arm.overrides)
                            if o.startswith("evaluation.")
                        ]
                        result, _ = evaluate_run(
                            trained[tid], registries, overrides=evaluation, device=spec.run.device
                        )
                    else:
                        folder = workdir / f"{arm.name}-split{cs}-{seed}"
                        result = run(spec, registries, folder, data=data[cs]).result
                        trained[tid] = folder
                except TrainingDivergedError as err:
                    diverged.append({"split": cs, "seed": seed, "error": str(err).split(";")[0]})
                    log(f"  {arm.name} split {cs} seed {seed}: DIVERGED")
                    continue
                seconds.append(time.perf_counter() - t0)
                runs.append(result)
                log(
                    f"  {arm.name} split {cs} seed {seed}: ZSL "
                    f"{', '.join(f'{c} {v:.1f}' for c, v in result.zsl.items())}; "
                    f"cos-NCM {result.quality['ncm_cosine_unseen']:.1f} ({seconds[-1]:.0f} s)"
                )
        out["arms"][arm.name] = {
            "recipe": arm.recipe,
            "overrides": arm.overrides,
            "runs": runs,
            "diverged": diverged,
            "seconds": seconds,
        }
    out["floor"] = out["floors"].get(class_splits[0])
    return out


def _one_seed(job: tuple[Any, ...]) -> dict[str, Any]:
    """A worker of :func:`run_arms_parallel`: every arm of one seed, on one torch thread."""
    import torch

    from modgen.plugins import get_registries

    arms, dataset, split, seed, workdir, overrides, quick, class_splits = job
    torch.set_num_threads(1)
    return run_arms(
        arms,
        dataset,
        split,
        [seed],
        get_registries(entry_points=False),
        workdir / f"seed{seed}",
        overrides,
        quick=quick,
        class_splits=class_splits,
    )


def run_arms_parallel(
    jobs: int,
    arms: list[Arm],
    dataset: str,
    split: str,
    seeds: list[int],
    workdir: Path,
    overrides: list[str],
    quick: bool,
    class_splits: list[int],
) -> dict[str, Any]:
    """:func:`run_arms` with the seeds spread over ``jobs`` worker processes (each runs every
    arm of its seed, so arms that differ only in evaluation settings still share a model); the
    results are merged in (class split, seed) order, the same as one process gives."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    work = [(arms, dataset, split, seed, workdir, overrides, quick, class_splits) for seed in seeds]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = list(pool.map(_one_seed, work))
    out: dict[str, Any] = {"arms": {}, "floors": parts[0]["floors"], "floor": parts[0]["floor"]}
    for arm in arms:
        merged: dict[str, Any] = {"runs": [], "diverged": [], "seconds": []}
        for part in parts:
            got = part["arms"][arm.name]
            for key in merged:
                merged[key].extend(got[key])
        order = sorted(range(len(merged["runs"])), key=lambda i: _key(merged["runs"][i]))
        out["arms"][arm.name] = {
            "recipe": arm.recipe,
            "overrides": arm.overrides,
            "runs": [merged["runs"][i] for i in order],
            "diverged": sorted(merged["diverged"], key=lambda d: (d["split"], d["seed"])),
            "seconds": [merged["seconds"][i] for i in order],
        }
    return out


#: Fixed closed-form parameters on the validation view, which has no validation split of its own
#: to select them on (the middle of the default grids).
VIEW_FLOOR_PARAMS = {"eszsl": {"gamma": 1.0, "lambda": 1.0}, "ridge": {"alpha": 1.0}}


def _floor_on_view(view: Any) -> dict[str, Any]:
    """The closed-form floor on the validation view: fitted on its training classes, measured on
    its unseen (val) classes, with :data:`VIEW_FLOOR_PARAMS` and, as an upper bound, with the best
    point of the default grid chosen on those very classes (``-oracle``)."""
    from modgen.baselines import DEFAULT_GRIDS, fit_predict
    from modgen.evaluate.metrics import per_class_top1
    from modgen.evaluate.scoring import classifier_grid

    def score(method: str, params: dict[str, float]) -> float:
        (pred,) = fit_predict(
            method,
            params,
            view.features[view.trainval],
            view.labels[view.trainval],
            view.semantics,
            view.unseen_classes,
            [view.features[view.test_unseen]],
        )
        return 100.0 * per_class_top1(view.labels[view.test_unseen], pred)

    out: dict[str, Any] = {}
    for method, params in VIEW_FLOOR_PARAMS.items():
        out[method] = {"zsl": score(method, params), "params": params}
        points = classifier_grid(object, {"grid": DEFAULT_GRIDS[method]})[1]
        best = max(points, key=lambda p: score(method, p))
        out[f"{method}-oracle"] = {"zsl": score(method, best), "params": best}
    return out


def parse_primary(text: str | None, classifiers: list[str]) -> tuple[str, str | None] | None:
    """``"zsl:svm"`` -> ``("zsl", "svm")``; ``"ncm_cosine_unseen"`` -> ``(..., None)``; ``None``.

    Example:
        >>> parse_primary("zsl:svm", ["softmax", "svm"]), parse_primary("mean_gap_unseen", ["svm"])
        (('zsl', 'svm'), ('mean_gap_unseen', None))
    """
    if not text:
        return None
    metric, _, clf = text.partition(":")
    if metric in CLASSIFIER_METRICS:
        if clf not in classifiers:
            raise SystemExit(
                f"--primary {text!r}: {metric} needs a classifier of the table ({', '.join(classifiers)}), "
                f"e.g. {metric}:{classifiers[0]}"
            )
        return metric, clf
    if metric in QUALITY_METRICS and not clf:
        return metric, None
    raise SystemExit(
        f"--primary {text!r}: expected METRIC[:CLASSIFIER] with METRIC one of "
        f"{', '.join(CLASSIFIER_METRICS)} (with a classifier) or {', '.join(QUALITY_METRICS)}"
    )


def _measure_name(metric: str, clf: str | None) -> str:
    return f"{metric} ({clf})" if clf else metric


def compare(arm_runs: list[Any], base_runs: list[Any], metric: str, clf: str | None) -> Any:
    """The paired difference ``arm - base`` of one measure over shared (split, seed) pairs, or
    ``None`` with fewer than 2 pairs: Student-t with one split, the hierarchical bootstrap
    (:func:`modgen.report.stats.hierarchical_difference`) with several."""
    from modgen.report.stats import hierarchical_difference, paired_difference

    by_key, base = {_key(r): r for r in arm_runs}, {_key(r): r for r in base_runs}
    shared = sorted(set(by_key) & set(base))
    if len(shared) < 2:
        return None
    a = [_value(by_key[k], metric, clf) for k in shared]
    b = [_value(base[k], metric, clf) for k in shared]
    if len({k[0] for k in shared}) == 1:
        return paired_difference(a, b)
    return hierarchical_difference(a, b, [k[0] for k in shared], seed=BOOTSTRAP_SEED)


def analyse(
    results: dict[str, Any],
    baseline: str,
    classifiers: list[str],
    margin: float,
    primary: tuple[str, str | None] | None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every arm's every measure against ``baseline``: ``{arm: {measure: row}}`` where a row holds
    ``mean``, ``std``, ``values``, ``splits``, ``seeds``, ``role`` and, for arms other than the
    baseline, the ``difference`` (its ``mean``, ``low``, ``high``, ``n``, ``method``), ``mde``
    and ``verdict``."""
    import numpy as np

    arms = results["arms"]
    base_runs = arms[baseline]["runs"]
    metrics = [(m, c) for m in CLASSIFIER_METRICS for c in classifiers] + [(m, None) for m in QUALITY_METRICS]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, arm in arms.items():
        rows: dict[str, dict[str, Any]] = {}
        for metric, clf in metrics:
            runs = [r for r in arm["runs"] if clf is None or clf in r.zsl]
            if not runs:
                continue
            values = [_value(r, metric, clf) for r in runs]
            splits = sorted({class_split_of(r) for r in runs})
            row: dict[str, Any] = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "values": len(values),
                "splits": len(splits),
                "seeds": len({r.seed for r in runs}),
                "role": "primary" if primary == (metric, clf) else "secondary",
            }
            d = compare(runs, base_runs, metric, clf) if name != baseline else None
            if d is not None:
                row["difference"] = {
                    "mean": d.mean,
                    "low": d.low,
                    "high": d.high,
                    "n": d.n,
                    "splits": d.splits,
                    "method": d.method,
                }
                row["mde"] = d.mde()
                # the margin is in points of a percentage; a measure in other units gets no TOST
                in_points = not metric.startswith("mean_gap")
                row["verdict"] = (
                    d.verdict(margin) if in_points or d.excludes_zero else "no difference seen (not in %)"
                )
            rows[_measure_name(metric, clf)] = row
        out[name] = rows
    return out


def paired_table(
    results: dict[str, Any],
    baseline: str,
    classifiers: list[str],
    *,
    margin: float = 3.0,
    primary: tuple[str, str | None] | None = None,
) -> str:
    """Markdown: each arm's mean ± std, and its paired difference from ``baseline`` with the 95%
    interval, the MDE at 80% power and the verdict at ``±margin``; the split and seed counts and
    whether the row is the primary measure."""
    from modgen.report import format_stat

    table = analyse(results, baseline, classifiers, margin, primary)
    lines = [
        f"| arm | measure | role | splits | seeds | mean ± std | paired difference from {baseline} (95% CI) "
        f"| MDE (80%) | verdict at ±{margin:g} |",
        "|---|---|---|---:|---:|---:|---|---:|---|",
    ]
    for name, rows in table.items():
        for what, row in rows.items():
            digits = 2 if what.startswith("mean_gap") else 1
            cell = format_stat(row, row["values"], digits=digits)
            diff, mde, verdict = "-", "-", "-"
            if "difference" in row:
                d = row["difference"]
                mark = " **(excludes 0)**" if d["low"] > 0 or d["high"] < 0 else ""
                diff = f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]{mark}"
                mde, verdict = f"{row['mde']:.{digits}f}", row["verdict"]
            role = "**primary**" if row["role"] == "primary" else "secondary"
            cells = [name, what, role, str(row["splits"]), str(row["seeds"]), cell, diff, mde, verdict]
            lines.append("| " + " | ".join(cells) + " |")
    if primary is None:
        lines.append("\nNo primary measure was named before running: every row is secondary.")
    for name, arm in results["arms"].items():
        if arm["diverged"]:
            which = ", ".join(
                f"split {d.get('split', 0)} seed {d['seed']}" if d.get("split") else str(d["seed"])
                for d in arm["diverged"]
            )
            lines.append(f"\n{name}: {which} diverged (left out).")
    lines += _floor_lines(results)
    return "\n".join(lines) + "\n"


def _floor_lines(results: dict[str, Any]) -> list[str]:
    floors = {k: v for k, v in (results.get("floors") or {}).items() if v}
    if len(floors) > 1:
        import numpy as np

        methods = [m for m in next(iter(floors.values())) if all(m in f for f in floors.values())]
        parts = []
        for m in methods:
            zs = [f[m]["zsl"] for f in floors.values()]
            parts.append(f"{m} ZSL {np.mean(zs):.1f} ({min(zs):.1f}-{max(zs):.1f})")
        return [
            "",
            f"Closed-form floor, mean (range) over the {len(floors)} class splits: " + "; ".join(parts) + ".",
        ]
    floor = results.get("floor") or {}
    if not floor:
        return []
    return [
        "",
        "Closed-form floor on the same split: "
        + "; ".join(
            f"{m} ZSL {v['zsl']:.1f}"
            + (f" (on a grid edge: {', '.join(v['edge'])})" if v.get("edge") else "")
            for m, v in floor.items()
        )
        + ".",
    ]


def detection_curve(
    results: dict[str, Any], percents: list[float], primary: tuple[str, str | None]
) -> tuple[list[dict[str, Any]], str]:
    """The positive control's detection curve: for each ``p``, the primary measure's paired
    difference from ``p = 0``, its interval, the MDE and whether it was detected."""
    metric, clf = primary
    arms = results["arms"]
    base = arms["p0"]["runs"]
    rows: list[dict[str, Any]] = []
    lines = [
        f"| real unseen features (%) | {_measure_name(metric, clf)} difference from p = 0 (95% CI) "
        "| MDE (80%) | detected |",
        "|---:|---|---:|---|",
    ]
    for p in percents:
        if p == 0:
            continue
        d = compare(arms[f"p{p:g}"]["runs"], base, metric, clf)
        if d is None:
            continue
        detected = bool(d.excludes_zero and d.mean > 0)
        rows.append(
            {"percent": p, "mean": d.mean, "low": d.low, "high": d.high, "mde": d.mde(), "detected": detected}
        )
        lines.append(
            f"| {p:g} | {d.mean:+.1f} [{d.low:+.1f}, {d.high:+.1f}] | {d.mde():.1f} | "
            f"{'yes' if detected else 'no'} |"
        )
    return rows, "\n".join(lines) + "\n"


def _statistics(
    results: dict[str, Any],
    baseline: str,
    classifiers: list[str],
    margin: float,
    primary: tuple[str, str | None] | None,
) -> dict[str, Any]:
    """What the JSON records of the analysis: ``mde`` and ``verdict`` by arm and measure, and the
    ``differences`` they come from."""
    table = analyse(results, baseline, classifiers, margin, primary)
    keep = ("mean", "low", "high", "n", "splits", "method")
    return {
        "margin": margin,
        "primary": None if primary is None else ":".join(p for p in primary if p),
        "mde": {
            a: {m: r["mde"] for m, r in rows.items() if "mde" in r}
            for a, rows in table.items()
            if a != baseline
        },
        "verdict": {
            a: {m: r["verdict"] for m, r in rows.items() if "verdict" in r}
            for a, rows in table.items()
            if a != baseline
        },
        "differences": {
            a: {m: {k: r["difference"][k] for k in keep} for m, r in rows.items() if "difference" in r}
            for a, rows in table.items()
            if a != baseline
        },
    }


def _load(path: Path, flag: str) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SystemExit(f"{flag} {path}: cannot read a results JSON ({err})") from None
    if payload.get("benchmark") != "science":
        raise SystemExit(f"{flag} {path}: not a benchmarks/science.py results file")
    return payload


def _results_of(payload: dict[str, Any]) -> dict[str, Any]:
    from modgen.evaluate import EvaluationResult

    return {
        "arms": {
            n: {**a, "runs": [EvaluationResult.from_dict(r) for r in a["runs"]]}
            for n, a in payload["arms"].items()
        },
        "floor": payload.get("floor"),
        "floors": {int(k): v for k, v in (payload.get("floors") or {}).items()},
    }


def retable(
    path: Path, baseline: str, classifiers: list[str], margin: float = 3.0, primary: str | None = None
) -> dict[str, Any]:
    """The paired table of a saved results JSON against another baseline arm (no training).

    Every arm ran with the same seeds, so any arm can be the baseline after the fact; e.g. each
    reading of amaz against amaz's default.
    """
    payload = _load(path, "--from")
    if baseline not in payload["arms"]:
        raise SystemExit(f"--baseline {baseline!r}: not an arm of {path}; arms: {', '.join(payload['arms'])}")
    results = _results_of(payload)
    chosen = parse_primary(primary or payload.get("primary"), classifiers)
    table = (
        f"{payload['dataset']}, {payload['split']}; {len(payload['seeds'])} paired seeds; results of commit "
        f"`{payload['commit']}` (`{payload['command']}`), against {baseline}.\n\n"
        + paired_table(results, baseline, classifiers, margin=margin, primary=chosen)
    )
    print(table)
    return {**payload, "baseline": baseline, "markdown": table}


#: Points above chance the unseen classes' nearest synthetic class mean must reach to count as
#: transfer (issue 21's target: chance + 15).
TRANSFER_MARGIN = 15.0


def fit_report(path: Path) -> str:
    """Each arm's per-seed fit in a saved results JSON: the nearest synthetic class mean (cosine)
    on the seen classes beside the ceiling the real seen class means reach on the same samples
    (``ncm_cosine_seen_real``), and on the unseen classes against chance + :data:`TRANSFER_MARGIN`;
    seeds that diverged are counted, never dropped silently."""
    payload = _load(path, "--fit")
    out = [f"{path.name} (commit {payload['commit']}, {payload['dataset']}, {payload['split']})"]
    for name, arm in payload["arms"].items():
        runs = arm["runs"]
        if not runs:
            out.append(f"  {name}: no finished run; diverged {len(arm.get('diverged', []))}")
            continue
        seen = [r["quality"]["ncm_cosine_seen"] for r in runs]
        real = [r["quality"].get("ncm_cosine_seen_real", float("nan")) for r in runs]
        unseen = [r["quality"]["ncm_cosine_unseen"] for r in runs]
        per_class = next(iter(runs[0]["zsl_per_class"].values()))  # the unseen classes' accuracies
        chance = 100.0 / len(per_class)
        share = [s / c for s, c in zip(seen, real, strict=True)]
        target = chance + TRANSFER_MARGIN
        out.append(
            f"  {name}: seeds {[int(r['seed']) for r in runs]}; diverged {len(arm.get('diverged', []))}\n"
            f"    NCM seen {[round(x, 1) for x in seen]} (mean {sum(seen) / len(seen):.1f}; real means "
            f"{sum(real) / len(real):.1f}; share of that ceiling min {min(share):.2f}, mean "
            f"{sum(share) / len(share):.2f})\n"
            f"    NCM unseen {[round(x, 1) for x in unseen]} (mean {sum(unseen) / len(unseen):.1f}, min "
            f"{min(unseen):.1f}; chance {chance:.1f}; seeds at or above chance + {TRANSFER_MARGIN:g}: "
            f"{sum(u >= target for u in unseen)} of {len(unseen)})"
        )
    return "\n".join(out)


def _doc_key(path: Path, payload: dict[str, Any]) -> str:
    """The docs block a results file belongs to: its recorded ``key``, else the block of
    docs/benchmarks.md whose name gives the file's name."""
    import re

    if payload.get("key"):
        return str(payload["key"])
    keys = re.findall(r"<!-- (science:[^ ]+):begin -->", DEFAULT_DOC_PAGE.read_text(encoding="utf-8"))
    for key in keys:
        if key.replace(":", "-") == path.stem:
            return key
    raise SystemExit(f"--reanalyse {path}: no docs block in {DEFAULT_DOC_PAGE.name} matches its name")


def reanalyse(
    path: Path, *, margin: float, classifiers: list[str] | None, write: bool, commit: str
) -> dict[str, Any]:
    """Recompute the statistics of a committed result from the per-seed values it stores.

    The run's arms, baseline, classifiers and primary measure are those of its own command and
    JSON (``classifiers`` overrides the table's); the split count comes from the runs (1 for
    results from before rotated splits). With ``write`` (a clean tree), the JSON and its docs
    block are rewritten; the JSON keeps the run's ``commit`` and gains ``reanalysis`` (``commit``:
    the checkout's, checked clean once before the first file is written; command, date).
    """
    import shlex

    payload = _load(path, "--reanalyse")
    original = parse_args([*shlex.split(payload["command"])[2:], "--no-doc"])
    argv_classifiers = classifiers is not None
    classifiers = classifiers or [c for c in original.classifiers.split(",") if c]
    results = _results_of(payload)
    primary = parse_primary(payload.get("primary"), classifiers)
    # this file's own command, whatever files were reanalysed with it
    command = f"python benchmarks/science.py --reanalyse {path} --margin {margin:g}"
    command += f" --classifiers {','.join(classifiers)}" if argv_classifiers else ""
    command += "" if write else " --no-doc"
    splits = sorted({class_split_of(r) for a in results["arms"].values() for r in a["runs"]})
    seeds = sorted({int(r.seed) for a in results["arms"].values() for r in a["runs"]})
    header = payload["markdown"].split("\n\n")[0]
    note = (
        f"Statistics recomputed at commit `{commit}` (`{command}`, {today()}) from the per-seed values of "
        f"the run above: {len(splits)} class split{'s' if len(splits) != 1 else ''}, {len(seeds)} seeds, "
        f"MDE at 80% power and the verdict at ±{margin:g}."
    )
    table = (
        header
        + "\n\n"
        + note
        + "\n\n"
        + paired_table(results, payload["baseline"], classifiers, margin=margin, primary=primary)
    )
    print(table)
    out = {
        **payload,
        "splits": splits,
        "seeds": seeds,
        **_statistics(results, payload["baseline"], classifiers, margin, primary),
        "markdown": table,
        "reanalysis": {"commit": commit, "command": command, "date": today()},
    }
    if write:
        key = _doc_key(path, payload)
        write_json(path, {**out, "key": key})
        write_doc_block(DEFAULT_DOC_PAGE, key, table)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", help="digits or fashion-mnist (or another registered data set)")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--arms", help="comma-separated arms: recipe or name=recipe:key=value:...")
    p.add_argument("--baseline", help="the arm the others are compared with (smoke: the first arm)")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 10; smoke 2)")
    p.add_argument(
        "--splits",
        type=int,
        default=1,
        help="class splits 0..K-1 (data.options.split; 0 is the data's fixed split; default 1)",
    )
    p.add_argument(
        "--classifiers", default=None, help="classifiers in the table (default softmax,svm; smoke svm)"
    )
    p.add_argument(
        "--primary",
        default=None,
        help="the primary measure, named before running: METRIC[:CLASSIFIER], e.g. zsl:svm (others: secondary)",
    )
    p.add_argument(
        "--margin", type=float, default=3.0, help="the equivalence (TOST) margin in points (default 3)"
    )
    p.add_argument(
        "--control",
        default=None,
        help="the positive control: percents of real unseen features, e.g. 0,2,5,10,20 (the first arm's recipe)",
    )
    p.add_argument("--set", action="append", default=[], help="override for every arm")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes, one torch thread each; a worker runs every arm of one seed (default 1)",
    )
    p.add_argument("--key", default=None, help="docs block key (default science:<dataset>:<split>)")
    p.add_argument("--no-doc", action="store_true", help="write nothing into the repository (a dry run)")
    p.add_argument("--quick", action="store_true", help="tiny networks (implies --no-doc)")
    add_smoke_flag(
        p,
        "--quick; digits, validation view, zsml against amaz, 2 seeds, 2 episodes, a small evaluation "
        "with the SVM only",
    )
    p.add_argument(
        "--from",
        dest="from_json",
        type=Path,
        help="print the table of a saved results JSON against --baseline (no training; writes nothing)",
    )
    p.add_argument(
        "--reanalyse",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="recompute results JSONs' statistics from their per-seed values and rewrite them and their docs "
        "blocks (all files from one clean commit)",
    )
    p.add_argument(
        "--fit",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="print each arm's per-seed fit of saved results JSONs: nearest synthetic class mean on "
        "the seen classes against the real means' ceiling, on the unseen against chance + 15, "
        "diverged seeds (no training; writes nothing)",
    )
    args = p.parse_args(argv)
    if not args.margin > 0:
        p.error(f"--margin {args.margin}: must be > 0")
    if args.splits < 1:
        p.error(f"--splits {args.splits}: must be >= 1")
    if args.jobs < 1:
        p.error(f"--jobs {args.jobs}: must be >= 1")
    if args.smoke:
        args.quick = True
        args.dataset = args.dataset or "digits"
        args.arms = args.arms or "zsml,amaz"
        args.baseline = args.baseline or parse_arms(args.arms)[0].name
        # smoke sizes first, so that --set still overrides them
        args.set = [*SMOKE_EVALUATION, "trainer.episodes=2", *args.set]
    args.seeds = args.seeds or (2 if args.smoke else 10)
    args.classifiers = args.classifiers or ("svm" if args.smoke else "softmax,svm")
    args.no_doc = args.no_doc or args.quick
    if args.reanalyse is not None or args.fit is not None:
        return args
    if args.control is not None:
        try:
            args.control = [float(x) for x in args.control.split(",") if x.strip()]
        except ValueError:
            p.error(f"--control {args.control!r}: expected percents such as 0,2,5,10,20")
        if 0.0 not in args.control or not all(0 <= x <= 100 for x in args.control):
            p.error("--control: percents in [0, 100], 0 among them (the control's reference)")
        args.baseline = "p0"
        args.primary = args.primary or f"zsl:{args.classifiers.split(',')[0]}"
        if not args.dataset or not args.arms:
            p.error("--dataset and --arms are required (--control uses the first arm's recipe)")
        return args
    if not args.baseline:
        p.error("--baseline is required: the arm the others are compared with")
    if args.from_json is not None:
        return args
    if not args.dataset or not args.arms:
        p.error("--dataset and --arms are required (unless --from or --reanalyse)")
    if args.baseline not in [a.name for a in parse_arms(args.arms)]:
        p.error(f"--baseline {args.baseline!r} is not one of the arms")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    from modgen.plugins import get_registries

    args = parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    user_classifiers = (
        [c for c in (args.classifiers or "").split(",") if c] if "--classifiers" in argv else None
    )
    if args.fit is not None:
        lines = [fit_report(path) for path in args.fit]
        print("\n\n".join(lines))
        return {"fit": lines}
    if args.reanalyse is not None:
        commit = commit_for(not args.no_doc)  # once: the first rewritten file makes the tree dirty
        done = [
            reanalyse(
                path,
                margin=args.margin,
                classifiers=user_classifiers,
                write=not args.no_doc,
                commit=commit,
            )
            for path in args.reanalyse
        ]
        return done[0] if len(done) == 1 else {"reanalysed": done}
    classifiers = [c for c in args.classifiers.split(",") if c]
    if args.from_json is not None:
        return retable(args.from_json, args.baseline, classifiers, args.margin, args.primary)
    primary = parse_primary(args.primary, classifiers)
    torch.set_num_threads(1)
    commit = commit_for(not args.no_doc)
    registries = get_registries(entry_points=False)
    arms = parse_arms(args.arms)
    if args.control is not None:
        arms = control_arms(arms[0], args.control)
    seeds = list(range(args.seeds))
    class_splits = list(range(args.splits))
    command = "python benchmarks/science.py " + " ".join(argv)
    t0 = time.perf_counter()
    # one torch thread a run: the thread policy would give wide networks two, and parallel
    # workers would then oversubscribe the cores (an explicit --set run.threads=... wins)
    overrides = ["run.threads=1", *args.set]
    with tempfile.TemporaryDirectory(prefix="modgen-science-") as tmp:
        if args.jobs > 1:
            results = run_arms_parallel(
                args.jobs,
                arms,
                args.dataset,
                args.split,
                seeds,
                Path(tmp),
                overrides,
                args.quick,
                class_splits,
            )
        else:
            results = run_arms(
                arms,
                args.dataset,
                args.split,
                seeds,
                registries,
                Path(tmp),
                overrides,
                quick=args.quick,
                class_splits=class_splits,
            )
    machine = machine_info("cpu")
    design = (
        f"{len(class_splits)} class split{'s' if len(class_splits) > 1 else ''} x {len(seeds)} paired seeds"
        if len(class_splits) > 1
        else f"{len(seeds)} paired seeds"
    )
    header = (
        f"{args.dataset}, {'validation view (train classes -> val classes)' if args.split == 'val' else 'test split'}; "
        f"{design}; primary measure: {args.primary or 'none named'}; commit `{commit}`; `{command.strip()}`; "
        f"{today()}, {machine['cpu_model']}, 1 thread, {(time.perf_counter() - t0) / 60:.0f} min."
    )
    table = (
        header
        + "\n\n"
        + paired_table(results, args.baseline, classifiers, margin=args.margin, primary=primary)
    )
    control = None
    if args.control is not None and primary is not None:
        control, curve = detection_curve(results, args.control, primary)
        table += (
            "\nDetection curve of the positive control (real unseen features in place of synthetic ones):\n\n"
        )
        table += curve
    print(table)
    key = args.key or f"science:{args.dataset}:{args.split}"
    payload = {
        "benchmark": "science",
        "date": today(),
        "commit": commit,
        "command": command.strip(),
        "key": key,
        "machine": machine,
        "dataset": args.dataset,
        "split": args.split,
        "splits": class_splits,
        "seeds": seeds,
        "baseline": args.baseline,
        **_statistics(results, args.baseline, classifiers, args.margin, primary),
        "control": control,
        "arms": {
            n: {**{k: v for k, v in a.items() if k != "runs"}, "runs": [r.to_dict() for r in a["runs"]]}
            for n, a in results["arms"].items()
        },
        "floor": results["floor"],
        "floors": {str(k): v for k, v in results["floors"].items()},
        "markdown": table,
    }
    if not args.no_doc:
        write_json(Path(__file__).resolve().parent / "results" / f"{key.replace(':', '-')}.json", payload)
        write_doc_block(DEFAULT_DOC_PAGE, key, table)
    return payload


if __name__ == "__main__":
    main()
