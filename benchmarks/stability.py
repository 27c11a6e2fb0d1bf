"""How much does a number move with the evaluation seed alone? (The instrument's noise.)

One checkpoint per recipe is trained once (seed 0, the data set's preset); it is then evaluated
with ``--eval-seeds`` different evaluation seeds, one at a time (``evaluation.seeds=1``), for each
final classifier — with the classifiers' current defaults and, for comparison, the softmax
classifiers' former schedule (the paper's "20 epochs" at batch 256, ``epochs=20, lr=1e-3,
weight_decay=0``). The table gives each classifier's mean, standard deviation and range of ZSL
top-1 over the evaluation seeds, and the classifier-free nearest-class-mean measure's.

Usage:
    python benchmarks/stability.py --dataset digits --recipes amaz,zsml --eval-seeds 10
    python benchmarks/stability.py --smoke   # zsml, tiny networks, 2 evaluation seeds: a smoke test
"""

from __future__ import annotations

import argparse
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

#: The softmax classifiers' schedule before it was sized by optimisation steps.
FORMER_SOFTMAX = {"epochs": 20, "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant", "grid": {}}


def measure(
    dataset: str,
    recipes: list[str],
    eval_seeds: int,
    registries: Any,
    workdir: Path,
    overrides: list[str],
    preset: str | None = None,
) -> dict[str, Any]:
    """Train each recipe once, then evaluate it per evaluation seed with both softmax schedules
    (``preset``: instead of the data set's own, e.g. ``tiny`` for a smoke test)."""
    import attrs
    import numpy as np

    from modgen.evaluate import evaluate
    from modgen.pipeline import resolve_spec, run

    out: dict[str, Any] = {}
    for recipe in recipes:
        spec = resolve_spec(
            registries,
            recipe,
            dataset=dataset,
            preset=preset,
            overrides=["evaluation.selection=none", "evaluation.seeds=1", *overrides],
        )
        done = run(spec, registries, workdir / recipe, evaluate=False)
        former = attrs.evolve(
            spec.evaluation,
            classifiers=("softmax", "weighted-softmax"),
            classifier_params={"softmax": dict(FORMER_SOFTMAX), "weighted-softmax": dict(FORMER_SOFTMAX)},
        )
        rows: dict[str, list[float]] = {}
        for s in range(eval_seeds):
            for label, cfg in (("", spec.evaluation), (" (former 20 epochs)", former)):
                r = evaluate(done.outcome.assembly, done.outcome.data, cfg, registries, seed=s, name=recipe)
                for clf, v in r.zsl.items():
                    rows.setdefault(clf + label, []).append(v)
                if not label:
                    rows.setdefault("nearest synthetic class mean (cosine)", []).append(
                        r.quality["ncm_cosine_unseen"]
                    )
        out[recipe] = {
            k: {
                "mean": float(np.mean(v)),
                "std": float(np.std(v, ddof=1)),
                "min": float(min(v)),
                "max": float(max(v)),
            }
            for k, v in rows.items()
        }
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| recipe | classifier | mean | std over evaluation seeds | range |", "|---|---|---:|---:|---:|"]
    for recipe, rows in results.items():
        for clf, s in rows.items():
            lines.append(
                f"| {recipe} | {clf} | {s['mean']:.1f} | {s['std']:.2f} | {s['min']:.1f}-{s['max']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    from modgen.plugins import get_registries

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--recipes", default=None, help="comma-separated (default amaz,zsml; smoke zsml)")
    p.add_argument(
        "--eval-seeds", type=int, default=None, help="evaluation seeds, at least 2 (default 10; smoke 2)"
    )
    p.add_argument("--set", action="append", default=[], help="override for every recipe")
    p.add_argument("--no-doc", action="store_true", help="write nothing into the repository")
    add_smoke_flag(
        p, "zsml, the tiny preset, 2 episodes, 2 evaluation seeds, a small evaluation; implies --no-doc"
    )
    args = p.parse_args(argv)
    args.recipes = args.recipes or ("zsml" if args.smoke else "amaz,zsml")
    args.eval_seeds = args.eval_seeds or (2 if args.smoke else 10)
    if args.eval_seeds < 2:
        p.error(f"--eval-seeds: a spread needs at least 2, got {args.eval_seeds}")
    args.no_doc = args.no_doc or args.smoke
    # smoke sizes first, so that --set still overrides them
    overrides = [*SMOKE_EVALUATION, "trainer.episodes=2", *args.set] if args.smoke else args.set
    torch.set_num_threads(1)
    commit = commit_for(not args.no_doc)
    command = "python benchmarks/stability.py " + " ".join(argv if argv is not None else sys.argv[1:])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modgen-stability-") as tmp:
        results = measure(
            args.dataset,
            args.recipes.split(","),
            args.eval_seeds,
            get_registries(entry_points=False),
            Path(tmp),
            overrides,
            preset="tiny" if args.smoke else None,
        )
    machine = machine_info("cpu")
    body = (
        f"ZSL top-1 (%) of one trained checkpoint per recipe ({args.dataset}, seed 0), evaluated with "
        f"{args.eval_seeds} evaluation seeds one at a time; commit `{commit}`; `{command.strip()}`; {today()}, "
        f"{machine['cpu_model']}, 1 thread, {(time.perf_counter() - t0) / 60:.0f} min."
        + (
            " SMOKE settings (tiny preset, 2 episodes): a smoke test, not a measurement."
            if args.smoke
            else ""
        )
        + "\n\n"
        + table(results)
    )
    print(body)
    payload = {
        "benchmark": "stability",
        "date": today(),
        "commit": commit,
        "command": command.strip(),
        "machine": machine,
        "results": results,
        "markdown": body,
    }
    if not args.no_doc:
        key = f"stability:{args.dataset}"
        write_json(Path(__file__).resolve().parent / "results" / f"stability-{args.dataset}.json", payload)
        write_doc_block(DEFAULT_DOC_PAGE, key, body)
    return payload


if __name__ == "__main__":
    main()
