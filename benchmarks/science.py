"""Paired comparisons of recipes and readings: does AMAZ's modulation earn its place?

Every *arm* (a recipe with optional ``--set`` overrides) is trained and evaluated with the same
seeds through :func:`modgen.pipeline.run`; with paired random streams, seed ``s`` gives every arm
the same tasks, noise and initial G/D/C/AD weights, so each arm's difference from the baseline
arm is judged seed by seed (:func:`modgen.report.stats.paired_difference`: mean and 95%
Student-t interval; a difference counts when the interval excludes zero). Beside the arms, the
closed-form floor (ESZSL, ridge) on the same split.

Two splits:

* ``--split val``: the data's validation view — train on the ``train`` classes, measure on the
  ``val`` classes the generators never saw (classifier settings fixed: ``selection=none``). This
  is where defaults are chosen; the test classes are not looked at.
* ``--split test``: the normal protocol (train on ``trainval``, classifier settings selected on
  the validation classes, measured on the unseen test classes). This is what is reported.

Tables go into ``docs/benchmarks.md`` between ``<!-- science:<dataset>:<split>:begin/end -->`` and
the JSON into ``benchmarks/results/science-<dataset>-<split>.json``. Both record the commit, and
both are refused from a working tree with uncommitted changes (``--no-doc`` runs anyway, writing
nothing into the repository): a committed table must come from a clean commit that reproduces it.

Usage:
    python benchmarks/science.py --dataset digits --split val --seeds 10 \\
        --arms "zsml,amaz,amaz-gc=amaz:trainer.modulator_loss=gc,clswgan" --baseline zsml
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

__all__ = ["Arm", "parse_arms", "run_arms", "paired_table", "main"]

#: The measures compared (per classifier for the classifier-based ones).
CLASSIFIER_METRICS = ("zsl", "gzsl_h")
QUALITY_METRICS = ("ncm_cosine_unseen", "ncm_euclidean_unseen", "mean_gap_unseen")


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


def _value(result: Any, metric: str, clf: str | None) -> float:
    if metric == "zsl":
        return float(result.zsl[clf])
    if metric == "gzsl_h":
        return float(result.gzsl[clf]["h"])
    return float(result.quality[metric])


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
) -> dict[str, Any]:
    """Train and evaluate every arm for every seed; return the results by arm and the floor.

    ``quick``: tiny networks (:func:`modgen.testing.presets.tiny`), a smoke test.
    """
    from modgen.baselines import floor_measurements
    from modgen.data import load_dataset
    from modgen.errors import TrainingDivergedError
    from modgen.pipeline import evaluate_run, resolve_spec, run, spec_id
    from modgen.sweeps.grid import training_spec

    split_overrides = ["data.validation=true", "evaluation.selection=none"] if split == "val" else []
    out: dict[str, Any] = {"arms": {}, "floor": None}
    data = None
    trained: dict[str, Path] = {}  # arms that differ only in evaluation settings share a trained model
    for arm in arms:
        runs, diverged, seconds = [], [], []
        for seed in seeds:
            spec = resolve_spec(
                registries,
                arm.recipe,
                dataset=dataset,
                overrides=[*overrides, *split_overrides, *arm.overrides, f"run.seed={seed}"],
            )
            if quick:
                from modgen.testing.presets import tiny

                spec = tiny(spec, registries)
            if data is None:
                data = load_dataset(registries, spec.data)
                if split == "test":
                    out["floor"] = floor_measurements(data)
            t0 = time.perf_counter()
            tid = spec_id(training_spec(spec))
            try:
                if tid in trained:
                    evaluation = [
                        o
                        for o in (*overrides, *split_overrides, *arm.overrides)
                        if o.startswith("evaluation.")
                    ]
                    result, _ = evaluate_run(
                        trained[tid], registries, overrides=evaluation, device=spec.run.device
                    )
                else:
                    folder = workdir / f"{arm.name}-{seed}"
                    result = run(spec, registries, folder, data=data).result
                    trained[tid] = folder
            except TrainingDivergedError as err:
                diverged.append({"seed": seed, "error": str(err).split(";")[0]})
                log(f"  {arm.name} seed {seed}: DIVERGED")
                continue
            seconds.append(time.perf_counter() - t0)
            runs.append(result)
            log(
                f"  {arm.name} seed {seed}: ZSL {', '.join(f'{c} {v:.1f}' for c, v in result.zsl.items())}; "
                f"cos-NCM {result.quality['ncm_cosine_unseen']:.1f} ({seconds[-1]:.0f} s)"
            )
        out["arms"][arm.name] = {
            "recipe": arm.recipe,
            "overrides": arm.overrides,
            "runs": runs,
            "diverged": diverged,
            "seconds": seconds,
        }
    if split == "val" and data is not None:
        out["floor"] = _floor_on_view(data)
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


def paired_table(results: dict[str, Any], baseline: str, classifiers: list[str]) -> str:
    """Markdown: each arm's mean ± std, and its paired difference from ``baseline`` with the 95% CI."""
    from modgen.report import format_stat
    from modgen.report.stats import paired_difference

    arms = results["arms"]
    base = {r.seed: r for r in arms[baseline]["runs"]}
    rows = []
    metrics = [(m, c) for m in CLASSIFIER_METRICS for c in classifiers] + [(m, None) for m in QUALITY_METRICS]
    for name, arm in arms.items():
        by_seed = {r.seed: r for r in arm["runs"]}
        for metric, clf in metrics:
            values = [_value(r, metric, clf) for r in arm["runs"]]
            if not values:
                continue
            import numpy as np

            stat = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            }
            digits = 2 if metric.startswith("mean_gap") else 1
            cell = format_stat(stat, len(values), digits=digits)
            diff = "-"
            shared = sorted(set(by_seed) & set(base))
            if name != baseline and len(shared) >= 2:
                d = paired_difference(
                    [_value(by_seed[s], metric, clf) for s in shared],
                    [_value(base[s], metric, clf) for s in shared],
                )
                mark = " **(excludes 0)**" if d.excludes_zero else ""
                diff = f"{d.mean:+.{digits}f} [{d.low:+.{digits}f}, {d.high:+.{digits}f}]{mark}"
            what = f"{metric} ({clf})" if clf else metric
            rows.append([name, what, str(len(values)), cell, diff])
    lines = [
        f"| arm | measure | seeds | mean ± std | paired difference from {baseline} (95% CI) |",
        "|---|---|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    for name, arm in arms.items():
        if arm["diverged"]:
            lines.append(
                f"\n{name}: seeds {', '.join(str(d['seed']) for d in arm['diverged'])} diverged (left out)."
            )
    floor = results.get("floor") or {}
    if floor:
        lines.append("")
        lines.append(
            "Closed-form floor on the same split: "
            + "; ".join(
                f"{m} ZSL {v['zsl']:.1f}"
                + (f" (on a grid edge: {', '.join(v['edge'])})" if v.get("edge") else "")
                for m, v in floor.items()
            )
            + "."
        )
    return "\n".join(lines) + "\n"


def retable(path: Path, baseline: str, classifiers: list[str]) -> dict[str, Any]:
    """The paired table of a saved results JSON against another baseline arm (no training).

    Every arm ran with the same seeds, so any arm can be the baseline after the fact; e.g. each
    reading of amaz against amaz's default.
    """
    from modgen.evaluate import EvaluationResult

    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SystemExit(f"--from {path}: cannot read a results JSON ({err})") from None
    if payload.get("benchmark") != "science":
        raise SystemExit(f"--from {path}: not a benchmarks/science.py results file")
    if baseline not in payload["arms"]:
        raise SystemExit(f"--baseline {baseline!r}: not an arm of {path}; arms: {', '.join(payload['arms'])}")
    results = {
        "arms": {
            n: {**a, "runs": [EvaluationResult.from_dict(r) for r in a["runs"]]}
            for n, a in payload["arms"].items()
        },
        "floor": payload.get("floor"),
    }
    table = (
        f"{payload['dataset']}, {payload['split']}; {len(payload['seeds'])} paired seeds; results of commit "
        f"`{payload['commit']}` (`{payload['command']}`), against {baseline}.\n\n"
        + paired_table(results, baseline, classifiers)
    )
    print(table)
    return {**payload, "baseline": baseline, "markdown": table}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", help="digits or fashion-mnist (or another registered data set)")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--arms", help="comma-separated arms: recipe or name=recipe:key=value:...")
    p.add_argument("--baseline", help="the arm the others are compared with (smoke: the first arm)")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 10; smoke 2)")
    p.add_argument(
        "--classifiers", default=None, help="classifiers in the table (default softmax,svm; smoke svm)"
    )
    p.add_argument("--set", action="append", default=[], help="override for every arm")
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
    args = p.parse_args(argv)
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
    if not args.baseline:
        p.error("--baseline is required: the arm the others are compared with")
    if args.from_json is not None:
        return args
    if not args.dataset or not args.arms:
        p.error("--dataset and --arms are required (unless --from)")
    if args.baseline not in [a.name for a in parse_arms(args.arms)]:
        p.error(f"--baseline {args.baseline!r} is not one of the arms")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    from modgen.plugins import get_registries

    args = parse_args(argv)
    if args.from_json is not None:
        return retable(args.from_json, args.baseline, [c for c in args.classifiers.split(",") if c])
    torch.set_num_threads(1)
    commit = commit_for(not args.no_doc)
    registries = get_registries(entry_points=False)
    arms = parse_arms(args.arms)
    classifiers = [c for c in args.classifiers.split(",") if c]
    seeds = list(range(args.seeds))
    command = "python benchmarks/science.py " + " ".join(argv if argv is not None else sys.argv[1:])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modgen-science-") as tmp:
        results = run_arms(
            arms, args.dataset, args.split, seeds, registries, Path(tmp), args.set, quick=args.quick
        )
    machine = machine_info("cpu")
    header = (
        f"{args.dataset}, {'validation view (train classes -> val classes)' if args.split == 'val' else 'test split'}; "
        f"{len(seeds)} paired seeds; commit `{commit}`; `{command.strip()}`; {today()}, {machine['cpu_model']}, "
        f"1 thread, {(time.perf_counter() - t0) / 60:.0f} min."
    )
    table = header + "\n\n" + paired_table(results, args.baseline, classifiers)
    print(table)
    payload = {
        "benchmark": "science",
        "date": today(),
        "commit": commit,
        "command": command.strip(),
        "machine": machine,
        "dataset": args.dataset,
        "split": args.split,
        "seeds": seeds,
        "baseline": args.baseline,
        "arms": {
            n: {**{k: v for k, v in a.items() if k != "runs"}, "runs": [r.to_dict() for r in a["runs"]]}
            for n, a in results["arms"].items()
        },
        "floor": results["floor"],
        "markdown": table,
    }
    if not args.no_doc:
        key = args.key or f"science:{args.dataset}:{args.split}"
        write_json(Path(__file__).resolve().parent / "results" / f"{key.replace(':', '-')}.json", payload)
        write_doc_block(DEFAULT_DOC_PAGE, key, table)
    return payload


if __name__ == "__main__":
    main()
